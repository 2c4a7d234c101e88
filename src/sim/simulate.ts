/**
 * `tsvs simulate` core: replays a trace through the engine. Pure: text in, JSON lines out (via a
 * callback), no I/O; the CLI reads the files and prints.
 *
 * RULES: ipvsadm -S / -R lines (`-A -t 10.0.0.1:80 -s wrr`, `-a ... -r ... -m -w 4`), `--set tcp
 * tcpfin udp`, and (a tsvs extension) `sysctl NAME=VALUE` lines (expire_nodest_conn, ...). Blank
 * lines and lines starting with `#` are skipped (as ipvsadm-restore does).
 *
 * TRACE: JSON lines with non-decreasing `t` (seconds): a packet, `{"t","cmd"}` (an ipvsadm
 * command) or `{"t","list"}` (an ipvsadm listing: -L/-l options, or -S/--save for the rules as
 * ipvsadm -S prints them). Output: one JSON line per trace line, then an optional summary line.
 * Bad input stops the replay with a SimError naming the line.
 */
import { parseIp, type Ip } from '../core/addr.ts';
import { Engine, newVerdict, type PacketIn } from '../core/engine.ts';
import type { IpvsBackend, Protocol } from '../core/types.ts';
import { TCP_FLAG } from '../core/proto.ts';
import { SimError } from '../core/errors.ts';

export interface IpvsadmResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number;
}

/** The ipvsadm runner (src/ipvsadm runIpvsadm). */
export type RunIpvsadm = (argv: string[], backend: IpvsBackend, opts: { stdin?: string }) => Promise<IpvsadmResult>;

export interface SimOptions {
  readonly rules: string;
  readonly trace: string;
  readonly summary?: boolean;
  /** Seed for twos' random choices (and the table's hash seed). Unset: Math.random. */
  readonly seed?: number;
  readonly runIpvsadm: RunIpvsadm;
  /** Called with each output line (JSON text, no newline). */
  readonly emit: (line: string) => void;
  /** Engine connection-table maximum (default engine's). */
  readonly connMax?: number;
}

export { SimError };

import { seededRandom } from '../core/random.ts';
export { seededRandom };

/** Splits a command line on spaces/tabs (as ipvsadm -R does), dropping a leading `ipvsadm`. */
export function splitArgs(line: string): string[] {
  return line.split(/[ \t]+/).filter((x) => x.length > 0 && x !== 'ipvsadm');
}

const TCP_FLAG_LETTERS: Record<string, number> = { F: TCP_FLAG.FIN, S: TCP_FLAG.SYN, R: TCP_FLAG.RST, P: TCP_FLAG.PSH, A: TCP_FLAG.ACK };

/** "a.b.c.d:port" or "[v6]:port" -> address + port, or an error text. */
export function parseEndpoint(s: unknown): { ip: Ip; port: number } | string {
  if (typeof s !== 'string') return 'must be a string "address:port"';
  let host: string, port: string;
  const m6 = /^\[([^\]]+)\]:(\d+)$/.exec(s);
  if (m6) {
    host = m6[1]!;
    port = m6[2]!;
  } else {
    const m4 = /^([^:\[\]]+):(\d+)$/.exec(s);
    if (!m4) return `"${s}" is not address:port (IPv6 as [addr]:port)`;
    host = m4[1]!;
    port = m4[2]!;
  }
  const ip = parseIp(host);
  if (!ip) return `"${host}" is not an IP address`;
  const p = Number(port);
  if (!Number.isInteger(p) || p < 0 || p > 65535 || port.length > 5) return `port ${port} out of range 0..65535`;
  return { ip, port: p };
}

const PACKET_KEYS = new Set(['t', 'proto', 'src', 'dst', 'flags', 'dir', 'bytes', 'mark']);
const LIST_COMMANDS = new Set(['-L', '-l', '--list']);
/** Read-only commands that print the rules: a "list" line may use them, a "cmd" line may not. */
const SAVE_COMMANDS = new Set(['-S', '--save']);
const MUTATING = new Set([
  '-A', '--add-service', '-E', '--edit-service', '-D', '--delete-service', '-C', '--clear', '-R', '--restore', '-a',
  '--add-server', '-e', '--edit-server', '-d', '--delete-server', '-Z', '--zero', '--set', '--start-daemon',
  '--stop-daemon', '-h', '--help', '-v', '--version',
]);

function fmtDest(addr: string, port: number, af: number): string {
  return af === 6 ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/** Runs the simulation. Throws SimError on bad input (lines emitted before it stay emitted). */
export async function simulate(o: SimOptions): Promise<void> {
  const random = o.seed !== undefined ? seededRandom(o.seed) : Math.random;
  const engine = new Engine({ now: 0, random, ...(o.connMax ? { connMax: o.connMax } : {}) });

  // ---- rules
  const rl = o.rules.split('\n');
  for (let i = 0; i < rl.length; i++) {
    const line = rl[i]!.replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#')) continue;
    const sm = /^sysctl\s+([a-z_]+)\s*=\s*(\S+)$/.exec(line);
    if (sm) {
      const e = engine.setSysctl(sm[1]!, Number(sm[2]));
      if (e) throw new SimError('rules', i + 1, e === 'ENOENT' ? `unknown sysctl "${sm[1]}"` : `bad value "${sm[2]}" for sysctl ${sm[1]}`);
      continue;
    }
    const argv = splitArgs(line);
    if (argv.length === 0) continue;
    if (LIST_COMMANDS.has(argv[0]!) || argv[0] === '-S' || argv[0] === '--save' || argv[0] === '-R' || argv[0] === '--restore') {
      throw new SimError('rules', i + 1, `"${argv[0]}" is not a rule (expected -A/-E/-D/-C/-a/-e/-d/-Z/--set lines as ipvsadm -S writes)`);
    }
    const r = await o.runIpvsadm(argv, engine, {});
    if (r.code !== 0) throw new SimError('rules', i + 1, (r.stderr.trim() || `ipvsadm exited with ${r.code}`).split('\n')[0]!);
  }

  // ---- trace
  const conns = new Map<string, number>();
  let totalNew = 0;
  let lastT = 0;
  const verdict = newVerdict();
  const tl = o.trace.split('\n');
  for (let i = 0; i < tl.length; i++) {
    const n = i + 1;
    const text = tl[i]!.trim();
    if (text === '') continue;
    const bad = (what: string): never => {
      throw new SimError('trace', n, what);
    };
    let obj: unknown;
    try {
      obj = JSON.parse(text);
    } catch (e) {
      bad(`not valid JSON (${e instanceof Error ? e.message : String(e)})`);
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) bad('expected a JSON object');
    const rec = obj as Record<string, unknown>;
    const t = rec.t;
    if (typeof t !== 'number' || !Number.isFinite(t) || t < 0) bad('"t" must be a non-negative number of seconds');
    if ((t as number) < lastT) bad(`time goes backwards (t=${t as number} after t=${lastT})`);
    lastT = t as number;
    engine.setTime(lastT);
    const kinds = ['cmd', 'list', 'proto'].filter((k) => k in rec);
    if (kinds.length !== 1) bad('expected exactly one of "proto" (a packet), "cmd" or "list"');
    if ('cmd' in rec) {
      for (const k of Object.keys(rec)) if (k !== 't' && k !== 'cmd') bad(`unknown field "${k}" in a cmd line`);
      if (typeof rec.cmd !== 'string' || rec.cmd.trim() === '') bad('"cmd" must be a non-empty string');
      const argv = splitArgs(rec.cmd as string);
      if (LIST_COMMANDS.has(argv[0]!) || SAVE_COMMANDS.has(argv[0]!)) bad(`"cmd" must change rules; use a "list" line for ${argv[0]}`);
      if (['-R', '--restore', '-h', '--help', '-v', '--version'].includes(argv[0]!)) bad(`"cmd" must change rules; ${argv[0]} does not`);
      const r = await o.runIpvsadm(argv, engine, {});
      const out: Record<string, unknown> = { t, ok: r.code === 0 };
      if (r.code !== 0) {
        out.error = r.stderr.replace(/\n+$/, '');
        out.code = r.code;
      }
      o.emit(JSON.stringify(out));
      continue;
    }
    if ('list' in rec) {
      for (const k of Object.keys(rec)) if (k !== 't' && k !== 'list') bad(`unknown field "${k}" in a list line`);
      if (typeof rec.list !== 'string') bad('"list" must be a string of ipvsadm list options');
      let argv = splitArgs(rec.list as string);
      // -S (and -Sn, as ipvsadm's popt accepts) prints the rules like -L does: a listing, not a change.
      const cmdTok = argv.find((a) => MUTATING.has(a) || (/^-[A-Za-z]{2,}$/.test(a) && [...a.slice(1)].some((c) => 'AEDCRaedZhv'.includes(c))));
      if (cmdTok) bad(`"list" must be a listing (-L/-l/--list or -S/--save); "${cmdTok}" is a command (use a "cmd" line)`);
      const isListing = (a: string): boolean => LIST_COMMANDS.has(a) || SAVE_COMMANDS.has(a) || /^-[lLS]/.test(a);
      if (argv.length === 0 || !argv.some(isListing)) argv = ['-L', ...argv];
      const r = await o.runIpvsadm(argv, engine, {});
      const out: Record<string, unknown> = { t, listing: r.stdout };
      if (r.code !== 0) {
        out.error = r.stderr.replace(/\n+$/, '');
        out.code = r.code;
      }
      o.emit(JSON.stringify(out));
      continue;
    }
    // ---- packet
    for (const k of Object.keys(rec)) if (!PACKET_KEYS.has(k)) bad(`unknown field "${k}" in a packet line`);
    const proto = rec.proto;
    if (proto !== 'tcp' && proto !== 'udp' && proto !== 'sctp') bad('"proto" must be "tcp", "udp" or "sctp"');
    const src = parseEndpoint(rec.src);
    if (typeof src === 'string') bad(`"src": ${src}`);
    const dst = parseEndpoint(rec.dst);
    if (typeof dst === 'string') bad(`"dst": ${dst}`);
    const s = src as { ip: Ip; port: number }, d = dst as { ip: Ip; port: number };
    if (s.ip.af !== d.ip.af) bad('"src" and "dst" must be the same address family');
    let flags = 0;
    if (rec.flags !== undefined) {
      if (typeof rec.flags !== 'string') bad('"flags" must be a string of S A F R P');
      if (proto === 'udp' && rec.flags !== '') bad('"flags" is for TCP/SCTP packets only');
      for (const c of rec.flags as string) {
        const f = TCP_FLAG_LETTERS[c.toUpperCase()];
        if (f === undefined) bad(`unknown TCP flag "${c}" (use S A F R P)`);
        flags |= f!;
      }
    } else if (proto !== 'udp') bad('"flags" is required for TCP/SCTP packets (e.g. "S", "A", "FA")');
    const dir = rec.dir ?? 'in';
    if (dir !== 'in' && dir !== 'out') bad('"dir" must be "in" or "out"');
    const bytes = rec.bytes ?? 60;
    if (typeof bytes !== 'number' || !Number.isInteger(bytes) || bytes < 0 || bytes > 1e12) bad('"bytes" must be a non-negative integer');
    const mark = rec.mark ?? 0;
    if (typeof mark !== 'number' || !Number.isInteger(mark) || mark < 0 || mark > 0xffffffff) bad('"mark" must be an integer 0..4294967295');
    const p: PacketIn = {
      dir: dir as 'in' | 'out', af: s.ip.af, protocol: proto as Protocol, saddr: s.ip, sport: s.port, daddr: d.ip,
      dport: d.port, tcpFlags: flags, bytes: bytes as number, mark: mark as number,
    };
    const v = engine.processPacket(p, verdict);
    const out: Record<string, unknown> = { t };
    if (v.action === 'forward' && v.dest) {
      out.dest = fmtDest(v.dest.addr, p.dir === 'in' ? v.dport : p.sport, v.dest.af);
      out.new = v.isNew;
      out.state = v.state;
      if (v.template >= 0) out.template = engine.describeConn(v.template);
      if (v.isNew) {
        totalNew++;
        conns.set(out.dest as string, (conns.get(out.dest as string) ?? 0) + 1);
      }
    } else {
      out.dest = null;
      out.new = false;
      out.state = v.state || null;
      out.verdict = v.action;
      if (v.reason) out.reason = v.reason;
    }
    o.emit(JSON.stringify(out));
  }
  if (o.summary) {
    const dests = [...conns.entries()]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map(([dest, c]) => ({ dest, conns: c, share: totalNew ? Math.round((c / totalNew) * 10000) / 10000 : 0 }));
    o.emit(JSON.stringify({ summary: { connections: totalNew, dests } }));
  }
}
