/**
 * runIpvsadm(): everything the ipvsadm binary does, against an IpvsBackend instead of the kernel.
 * Output, exit codes and -R semantics follow ipvsadm 1.31 (spec §5.7–5.9).
 */
import type { Af, IpvsBackend, Protocol, ServiceSnapshot } from '../core/types.ts';
import { parseIpvsadm } from './parse.ts';
import { renderConnectionLines, renderConnections, renderConnectionsHead, renderDaemons, renderList, renderListHead, renderSave, renderServiceEntries, renderTimeouts, sortServices } from './render.ts';
import { commandErrorMessage, ipvsStrerror, tryHelpText } from './texts.ts';
import type { Invocation, ListFormat, ParseResult, Resolver, SyncResolver } from './types.ts';
import { isFailure, numericResolver } from './types.ts';

export interface RunIo {
  readonly stdin?: string;
  readonly resolver?: Resolver;
  /** argv[0] as printed in usage/try-help texts. */
  readonly program?: string;
  /**
   * Called between the lines of a -R (restore) and between the parts of a long -L (with a
   * backend that has servicesPage/connectionsPage): the daemon lets its event loop run there,
   * so 100,000 lines do not hold forwarding for a second.
   */
  readonly between?: () => Promise<void> | undefined;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

/**
 * A SyncResolver over a cache, filled from an async Resolver by replaying a pure computation:
 * the computation runs with the cache, every miss is recorded (and answered null), the misses are
 * resolved, and the computation runs again until nothing new is asked.
 */
export class CachingResolver implements SyncResolver {
  private readonly cache = new Map<string, string | number | null>();
  private readonly misses = new Map<string, () => Promise<string | number | null>>();

  constructor(private readonly resolver: Resolver) {}

  private get<T extends string | number>(key: string, fetch: () => T | null | Promise<T | null>): T | null {
    if (this.cache.has(key)) return this.cache.get(key) as T | null;
    if (!this.misses.has(key)) this.misses.set(key, async () => fetch());
    return null;
  }

  addrToHost(af: Af, addr: string): string | null {
    return this.get(`a|${af}|${addr}`, () => this.resolver.addrToHost(af, addr));
  }
  portToService(port: number, proto: Protocol): string | null {
    return this.get(`p|${port}|${proto}`, () => this.resolver.portToService(port, proto));
  }
  hostToAddr(name: string): string | null {
    return this.get(`h|${name}`, () => this.resolver.hostToAddr(name));
  }
  serviceToPort(name: string, proto: Protocol): number | null {
    return this.get(`s|${name}|${proto}`, () => this.resolver.serviceToPort(name, proto));
  }

  /** Runs `fn` until it asks for no name the cache does not know (at most 4 rounds). */
  async settle<T>(fn: (names: SyncResolver) => T): Promise<T> {
    for (let round = 0; ; round++) {
      this.misses.clear();
      const r = fn(this);
      if (this.misses.size === 0 || round >= 3) return r;
      const entries = [...this.misses.entries()];
      const values = await Promise.all(entries.map(async ([, f]) => {
        try {
          return await f();
        } catch {
          return null;
        }
      }));
      entries.forEach(([k], i) => this.cache.set(k, values[i] ?? null));
    }
  }
}

/** Splits one -R line the way config_stream_read() does: spaces/tabs/CR, `ipvsadm` words dropped. */
export function splitRuleLine(line: string): string[] {
  return line.split(/[ \t\r]+/).filter((t) => t !== '' && t !== 'ipvsadm');
}

/** -S / -R rules text → one parse result per non-empty line (1-based line numbers). */
export function parseRulesText(text: string, names: SyncResolver = numericResolver): { line: number; result: ParseResult }[] {
  const out: { line: number; result: ParseResult }[] = [];
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  lines.forEach((l, i) => {
    const argv = splitRuleLine(l);
    if (argv.length > 0) out.push({ line: i + 1, result: parseIpvsadm(argv, names) });
  });
  return out;
}

/** Thrown to end the whole program (ipvsadm's exit()). */
class ProgramExit {
  constructor(readonly code: number) {}
}

interface Ctx {
  backend: IpvsBackend;
  names: CachingResolver | null;
  out: RunResult;
  stdin: string;
  program: string;
  between: (() => Promise<void> | undefined) | null;
}

async function parseWithNames(argv: readonly string[], ctx: Ctx): Promise<ParseResult> {
  if (!ctx.names) return parseIpvsadm(argv, numericResolver, ctx.program);
  return ctx.names.settle((n) => parseIpvsadm(argv, n, ctx.program));
}

async function render(ctx: Ctx, numeric: boolean, fn: (names: SyncResolver) => string): Promise<string> {
  if (numeric || !ctx.names) return fn(numericResolver);
  return ctx.names.settle(fn);
}

/** process_options() for one parsed line; returns its result (0 or -1) or throws ProgramExit. */
async function execute(inv: Invocation, ctx: Ctx, readingStdin: boolean): Promise<number> {
  const { backend, out } = ctx;
  switch (inv.kind) {
    case 'help':
      out.stdout += inv.text;
      throw new ProgramExit(0);
    case 'version':
      out.stdout += inv.text;
      throw new ProgramExit(0);
    case 'restore': {
      if (readingStdin) {
        out.stderr += tryHelpText(ctx.program);
        throw new ProgramExit(255);
      }
      return restore(ctx);
    }
    case 'save': {
      const services = backend.services();
      out.stdout += await render(ctx, inv.numeric, (n) => renderSave(services, inv.numeric, n));
      return 0;
    }
    case 'list': {
      const f = inv.format;
      const t = inv.target;
      if (t.what === 'connections' && ctx.between && backend.connectionsPage) {
        await listConnectionsInParts(ctx, backend.connectionsPage.bind(backend), f);
      } else if (t.what === 'all' && ctx.between && backend.servicesPage) {
        await listServicesInParts(ctx, backend.servicesPage.bind(backend), f);
      } else if (t.what === 'connections') {
        const conns = backend.connections();
        out.stdout += await render(ctx, f.numeric, (n) => renderConnections(conns, { numeric: f.numeric, persistentConn: f.persistentConn, names: n }));
      } else if (t.what === 'service') {
        const s = backend.service(t.key);
        if (!s) {
          out.stderr += `${ipvsStrerror('get_service', 'ESRCH')}\n`;
          throw new ProgramExit(1);
        }
        out.stdout += await render(ctx, f.numeric, (n) => renderList([s], { ...f, names: n }));
      } else if (t.what === 'timeout') {
        out.stdout += renderTimeouts(backend.timeouts());
      } else if (t.what === 'daemon') {
        out.stdout += renderDaemons(backend.daemons());
      } else {
        const info = backend.info();
        const services = backend.services();
        out.stdout += await render(ctx, f.numeric, (n) => renderList(services, { ...f, names: n }, info));
      }
      return 0;
    }
    case 'apply': {
      const err = backend.apply(inv.command);
      if (err === null) return 0;
      out.stderr += `${commandErrorMessage(inv.command, err)}\n`;
      return -1;
    }
  }
}

/** Services (or connections) taken and rendered per part: between parts, ctx.between runs. */
const LIST_PART = 500;

async function pause(ctx: Ctx): Promise<void> {
  const p = ctx.between?.();
  if (p) await p;
}

/**
 * `-L` in parts, the same text as in one go: the services are taken a page at a time, sorted
 * (the sort itself is one step: 10,000 services with 100,000 real servers in tens of ms), and
 * rendered LIST_PART at a time.
 */
async function listServicesInParts(ctx: Ctx, page: NonNullable<IpvsBackend['servicesPage']>, f: ListFormat): Promise<void> {
  const all: ServiceSnapshot[] = [];
  for (let from = 0; ; from += LIST_PART) {
    await pause(ctx);
    const p = page(from, LIST_PART);
    for (const s of p) all.push(s);
    if (p.length < LIST_PART) break;
  }
  await pause(ctx);
  const list = f.nosort ? all : sortServices(all);
  let out = renderListHead(f, ctx.backend.info());
  for (let i = 0; i < list.length; i += LIST_PART) {
    await pause(ctx);
    const part = list.slice(i, i + LIST_PART);
    out += await render(ctx, f.numeric, (n) => renderServiceEntries(part, { ...f, names: n }));
  }
  ctx.out.stdout += out;
}

/** `-L -c` in parts: LIST_PART connections taken and rendered at a time, in table order. */
async function listConnectionsInParts(ctx: Ctx, page: NonNullable<IpvsBackend['connectionsPage']>, f: ListFormat): Promise<void> {
  let out = renderConnectionsHead(f);
  for (let cursor = 0; cursor >= 0;) {
    await pause(ctx);
    const p = page(cursor, LIST_PART);
    out += await render(ctx, f.numeric, (n) => renderConnectionLines(p.conns, { numeric: f.numeric, persistentConn: f.persistentConn, names: n }));
    cursor = p.next;
  }
  ctx.out.stdout += out;
}

/** restore_table(): one command per stdin line; see §5.7. */
async function restore(ctx: Ctx): Promise<number> {
  let result = 0;
  const lines = ctx.stdin.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  for (const line of lines) {
    const pause = ctx.between?.();
    if (pause) await pause;
    const argv = splitRuleLine(line);
    if (argv.length === 0) continue;
    const parsed = await parseWithNames(argv, ctx);
    if (isFailure(parsed)) {
      ctx.out.stderr += parsed.stderr;
      if (parsed.exits) throw new ProgramExit(parsed.code);
      result = -1;
      continue;
    }
    result = await execute(parsed, ctx, true);
  }
  return result;
}

/**
 * Runs one ipvsadm command line (argv without argv[0]) against `backend`. Never throws on bad
 * input; exit codes: 0 ok, 1 listing failure, 2 fail(), 255 kernel error / popt / try-help.
 */
export async function runIpvsadm(argv: readonly string[], backend: IpvsBackend, io: RunIo = {}): Promise<RunResult> {
  const out: RunResult = { stdout: '', stderr: '', code: 0 };
  const ctx: Ctx = {
    backend,
    names: io.resolver ? new CachingResolver(io.resolver) : null,
    out,
    stdin: io.stdin ?? '',
    program: io.program ?? 'ipvsadm',
    between: io.between ?? null,
  };
  try {
    const parsed = await parseWithNames(argv, ctx);
    if (isFailure(parsed)) {
      out.stderr += parsed.stderr;
      out.code = parsed.code;
      return out;
    }
    const r = await execute(parsed, ctx, false);
    out.code = r & 255;
  } catch (e) {
    if (e instanceof ProgramExit) out.code = e.code;
    else {
      out.stderr += `ipvsadm: internal error: ${e instanceof Error ? e.message : String(e)}\n`;
      out.code = 2;
    }
  }
  return out;
}
