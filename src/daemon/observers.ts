/**
 * The daemon's observers, all opt-in: the HTTP listener (--http: /metrics, API, dashboard) and
 * the /proc/net/ip_vs* files (--procfs DIR). One entry point so daemon.ts wires them in a line.
 */
import type { Logger } from './log.ts';
import { HttpServer } from './http/server.ts';
import { apiRoute, type ApiDaemon } from './http/api.ts';
import { dashboardRoute } from './http/dashboard/route.ts';
import { loadTokens } from './http/tokens.ts';
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

export async function startObservers(d: ObservedDaemon, o: ObserverOptions): Promise<Observers> {
  const sources = d.observeSources();
  let http: HttpServer | null = null;
  let procfs: ProcfsWriter | null = null;
  const close = async (): Promise<void> => {
    await http?.close();
    await procfs?.stop();
  };
  try {
    if (o.procfsDir) {
      procfs = new ProcfsWriter(o.procfsDir, sources, d.log, o.procfsIntervalMs ?? OBSERVER_DEFAULTS.procfsIntervalMs);
      await procfs.start();
      d.log.info({ dir: o.procfsDir }, 'procfs files kept (net/ip_vs, net/ip_vs_stats, net/ip_vs_conn)');
    }
    if (o.http) {
      const tokens = o.httpTokenFile ? loadTokens(o.httpTokenFile) : null;
      http = new HttpServer({ sources, version: tsvsVersion(), log: d.log, routes: [apiRoute(d, tokens, tsvsVersion()), dashboardRoute()] });
      const at = await http.listen(o.http);
      d.log.info({ http: formatListenAddr(at), tokens: tokens?.counts ?? null }, 'http listening (/metrics, /api/v1, dashboard at /)');
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { close };
}
