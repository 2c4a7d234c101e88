/**
 * The daemon's observers, all opt-in: the HTTP listener (--http: /metrics, API, dashboard) and
 * the /proc/net/ip_vs* files (--procfs DIR). One entry point so daemon.ts wires them in a line.
 */
import type { Logger } from './log.ts';
import { HttpServer } from './http/server.ts';
import { apiRoute, type ApiDaemon } from './http/api.ts';
import { dashboardRoute } from './http/dashboard/route.ts';
import { loadTokens, type TokenSet } from './http/tokens.ts';
import { formatListenAddr, parseListenAddr, type ListenAddr } from './http/listen-addr.ts';
import { dirname, resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { ProcfsWriter } from './procfs-writer.ts';

/** Defaults in one place (docs/OBSERVABILITY.md). */
export const OBSERVER_DEFAULTS = {
  /** How often the --procfs files are rewritten. */
  procfsIntervalMs: 1000,
} as const;

export interface ObserverOptions {
  /** --http [ADDR:]PORT; null = no HTTP listener. */
  readonly http: ListenAddr | null;
  /** --http-token FILE: API tokens (src/daemon/http/tokens.ts); null = reads open, writes refused. */
  readonly httpTokenFile?: string | null;
  /** --procfs DIR; null = no files. */
  readonly procfsDir: string | null;
  readonly procfsIntervalMs?: number;
}

/** What the observers need of the daemon: the HTTP API's needs (observing, applying, reloading, drains). */
export type ObservedDaemon = ApiDaemon;

export interface Observers {
  /**
   * On every reload (SIGHUP, the reload op, POST /api/v1/reload): re-reads the token file and
   * follows the listener address and procfs directory `next` names (null: none). Never throws:
   * what cannot be taken (a bad token file, an address in use) is logged as an error and the
   * running listener, tokens and files stay as they were.
   */
  reload(next: ObserverOptions | null): Promise<void>;
  close(): Promise<void>;
}

/**
 * The observers to start: the command line's options, and for what it leaves unset the
 * configuration file's `tsvs_http`, `tsvs_http_token`, `tsvs_procfs` (keepalived.conf global_defs,
 * ldirectord.cf globals; paths relative to the file). Throws with the file and key on a bad value.
 */
export function observeOptions(cli: ObserverOptions | undefined, cfg: { http?: string; httpToken?: string; procfs?: string }, configFile: string | null): ObserverOptions | null {
  let http = cli?.http ?? null;
  let httpTokenFile = cli?.httpTokenFile ?? null;
  let procfsDir = cli?.procfsDir ?? null;
  const where = (k: string) => `${configFile ?? 'configuration'}: ${k}`;
  if (!http && cfg.http !== undefined) {
    const h = parseListenAddr(cfg.http);
    if ('error' in h) throw new Error(`${where('tsvs_http')}: ${h.error}`);
    http = h;
  }
  const rel = (p: string) => (configFile ? resolve(dirname(configFile), p) : resolve(p));
  if (!httpTokenFile && cfg.httpToken !== undefined) {
    if (!http) throw new Error(`${where('tsvs_http_token')} needs tsvs_http (or --http)`);
    httpTokenFile = rel(cfg.httpToken);
  }
  if (!procfsDir && cfg.procfs !== undefined) {
    if (cfg.procfs.trim() === '') throw new Error(`${where('tsvs_procfs')} needs a directory`);
    procfsDir = rel(cfg.procfs);
  }
  if (!http && !procfsDir) return null;
  return { ...(cli ?? {}), http, procfsDir, httpTokenFile };
}

let cachedVersion: string | null = null;
export function tsvsVersion(): string {
  if (cachedVersion === null) {
    cachedVersion = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  }
  return cachedVersion;
}

const sameAddr = (a: ListenAddr | null, b: ListenAddr | null): boolean => (a && b ? formatListenAddr(a) === formatListenAddr(b) : a === b);

/** Starts the observers `o` asks for (none for null: a reload may add them). Throws when one cannot start. */
export async function startObservers(d: ObservedDaemon, o: ObserverOptions | null): Promise<Observers> {
  const sources = d.observeSources();
  let http: HttpServer | null = null;
  let httpAddr: ListenAddr | null = null;
  let tokenFile: string | null = null;
  /** The tokens in force; the API reads them per request, so a reload swaps them in one place. */
  let tokens: TokenSet | null = null;
  let procfs: ProcfsWriter | null = null;

  const startHttp = async (addr: ListenAddr): Promise<HttpServer> => {
    const h = new HttpServer({ sources, version: tsvsVersion(), log: d.log, routes: [apiRoute(d, () => tokens, tsvsVersion()), dashboardRoute()] });
    try {
      const at = await h.listen(addr);
      d.log.info({ http: formatListenAddr(at), tokens: tokens?.counts ?? null }, 'http listening (/metrics, /api/v1, dashboard at /)');
      return h;
    } catch (e) {
      await h.close();
      throw e;
    }
  };
  const startProcfs = async (dir: string): Promise<ProcfsWriter> => {
    const w = new ProcfsWriter(dir, sources, d.log, o?.procfsIntervalMs ?? OBSERVER_DEFAULTS.procfsIntervalMs);
    await w.start();
    d.log.info({ dir }, 'procfs files kept (net/ip_vs, net/ip_vs_stats, net/ip_vs_conn)');
    return w;
  };
  const close = async (): Promise<void> => {
    await http?.close();
    await procfs?.stop();
    http = null;
    procfs = null;
  };
  try {
    if (o?.procfsDir) procfs = await startProcfs(o.procfsDir);
    if (o?.http) {
      tokenFile = o.httpTokenFile ?? null;
      tokens = tokenFile ? loadTokens(tokenFile) : null;
      httpAddr = o.http;
      http = await startHttp(o.http);
    }
  } catch (e) {
    await close();
    throw e;
  }

  const reload = async (next: ObserverOptions | null): Promise<void> => {
    // Tokens first: a new listener starts with the new ones.
    const nextFile = next?.http ? next.httpTokenFile ?? null : null;
    let tokensOk = true;
    if (next?.http) {
      try {
        const t = nextFile ? loadTokens(nextFile) : null;
        if (nextFile) d.log.info({ file: nextFile, tokens: t?.counts ?? null }, 'http tokens re-read');
        tokens = t;
        tokenFile = nextFile;
      } catch (e) {
        tokensOk = false;
        d.log.error({ file: nextFile, err: (e as Error).message }, `reload: http token file refused; ${http ? 'the previous tokens stay in force' : 'no http listener started'}`);
      }
    }
    const want = next?.http ?? null;
    if (!sameAddr(want, httpAddr)) {
      // A new listener without the tokens it was meant to have would open what they guard.
      if (want && !http && !tokensOk) {
        // (logged above)
      } else if (want) {
        try {
          const h = await startHttp(want);
          await http?.close();
          http = h;
          httpAddr = want;
        } catch (e) {
          d.log.error({ http: formatListenAddr(want), err: (e as Error).message }, `reload: cannot move the http listener; ${httpAddr ? `it stays on ${formatListenAddr(httpAddr)}` : 'none started'}`);
        }
      } else {
        await http?.close();
        d.log.info({ http: httpAddr ? formatListenAddr(httpAddr) : null }, 'http listener closed (no longer configured)');
        http = null;
        httpAddr = null;
        tokens = null;
        tokenFile = null;
      }
    }
    const dir = next?.procfsDir ?? null;
    if (dir !== (procfs?.dir ?? null)) {
      try {
        const w = dir ? await startProcfs(dir) : null;
        await procfs?.stop();
        procfs = w;
      } catch (e) {
        d.log.error({ dir, err: (e as Error).message }, `reload: cannot keep procfs files there; ${procfs ? `they stay in ${procfs.dir}` : 'none kept'}`);
      }
    }
  };
  return { reload, close };
}

/** A reload's new observer settings (the command line's, then the reloaded file's), applied; a bad setting is logged and changes nothing. */
export async function reloadObservers(obs: Observers, cli: ObserverOptions | undefined, cfg: { http?: string; httpToken?: string; procfs?: string }, configFile: string | null, log: Logger): Promise<void> {
  let next: ObserverOptions | null;
  try {
    next = observeOptions(cli, cfg, configFile);
  } catch (e) {
    log.error({ err: (e as Error).message }, 'reload: observer settings refused; http listener, tokens and procfs files unchanged');
    return;
  }
  await obs.reload(next);
}
