/**
 * keepalived PING_CHECK / ldirectord checktype=ping: one ICMP (v6) echo request, up when the
 * matching echo reply arrives within connect_timeout (checktimeout). Uses the system `ping`
 * binary when one is installed, else a raw ICMP socket through the libc bindings of src/os (needs root / CAP_NET_RAW).
 */
import { existsSync } from 'node:fs';
import net from 'node:net';
import { randomInt } from 'node:crypto';
import type { Checker } from '../checker.ts';
import type { CheckResult, LdPingDef, PingCheckDef } from '../types.ts';
import { fail, ok, probeAddress, timeoutMs } from './util.ts';

const PING_BINARIES = ['/usr/bin/ping', '/bin/ping', '/usr/sbin/ping'];

export function icmpChecksum(b: Buffer): number {
  let sum = 0;
  for (let i = 0; i + 1 < b.length; i += 2) sum += b.readUInt16BE(i);
  if (b.length % 2) sum += b[b.length - 1]! << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return ~sum & 0xffff;
}

export function echoRequest(v6: boolean, id: number, seq: number, payload: Buffer): Buffer {
  const b = Buffer.alloc(8 + payload.length);
  b[0] = v6 ? 128 : 8;
  b.writeUInt16BE(id, 4);
  b.writeUInt16BE(seq, 6);
  payload.copy(b, 8);
  if (!v6) b.writeUInt16BE(icmpChecksum(b), 2); // the kernel fills ICMPv6 checksums
  return b;
}

/** Is `pkt` (as a raw socket delivers it: IPv4 with header, ICMPv6 without) our echo reply? */
export function isEchoReply(v6: boolean, pkt: Buffer, id: number, seq: number): boolean {
  let off = 0;
  if (!v6) {
    if (pkt.length < 20 || pkt[0]! >> 4 !== 4) return false;
    off = (pkt[0]! & 0xf) * 4;
  }
  if (pkt.length < off + 8) return false;
  return pkt[off] === (v6 ? 129 : 0) && pkt.readUInt16BE(off + 4) === id && pkt.readUInt16BE(off + 6) === seq;
}

type Libc = typeof import('../../os/libc.ts');
let libc: Libc | null | undefined;
/** The libc bindings, loaded on first use: without koffi the checker still runs `ping`. */
async function loadLibc(): Promise<Libc | null> {
  if (libc !== undefined) return libc;
  try {
    libc = await import('../../os/libc.ts');
  } catch {
    libc = null;
  }
  return libc;
}

function sockaddr(host: string): Buffer {
  if (net.isIPv6(host)) {
    const b = Buffer.alloc(28);
    b.writeUInt16LE(10, 0);
    const full = expand6(host);
    for (let i = 0; i < 8; i++) b.writeUInt16BE(full[i]!, 8 + 2 * i);
    return b;
  }
  const b = Buffer.alloc(16);
  b.writeUInt16LE(2, 0);
  host.split('.').forEach((o, i) => { b[4 + i] = Number(o); });
  return b;
}

function expand6(s: string): number[] {
  const [l, r] = s.split('::') as [string, string | undefined];
  const a = l ? l.split(':').map((x) => parseInt(x, 16)) : [];
  const c = r !== undefined && r !== '' ? r.split(':').map((x) => parseInt(x, 16)) : [];
  return r === undefined ? a : [...a, ...new Array<number>(8 - a.length - c.length).fill(0), ...c];
}

/** One echo over a raw socket, polled without blocking the event loop. */
export async function rawPing(host: string, deadlineMs: number, bindto?: string): Promise<CheckResult> {
  const t0 = performance.now();
  const c = await loadLibc();
  if (!c) return fail(t0, 'unsupported', 'no ping binary and koffi unavailable');
  const v6 = net.isIPv6(host);
  if (!v6 && !net.isIPv4(host)) return fail(t0, 'error', `not an address: ${host}`);
  const { sys, C, errno } = c;
  const fd = sys.socket(v6 ? C.AF_INET6 : C.AF_INET, C.SOCK_RAW | C.SOCK_NONBLOCK, v6 ? C.IPPROTO_ICMPV6 : C.IPPROTO_ICMP) as number;
  if (fd < 0) return fail(t0, 'unsupported', `raw ICMP socket: errno ${errno()} (needs root)`);
  try {
    if (bindto) { const a = sockaddr(bindto); sys.bind(fd, a, a.length); }
    const id = randomInt(1, 0xffff), seq = randomInt(1, 0xffff);
    const pkt = echoRequest(v6, id, seq, Buffer.from('tsvs-health'));
    const to = sockaddr(host);
    if (Number(sys.sendto(fd, pkt, pkt.length, 0, to, to.length)) < 0) {
      const e = errno();
      return fail(t0, e === 101 || e === 113 ? 'unreachable' : 'error', `sendto errno ${e}`);
    }
    const buf = Buffer.alloc(1500);
    const end = t0 + deadlineMs;
    let wait = 1;
    while (performance.now() < end) {
      for (;;) {
        const n = Number(sys.recvfrom(fd, buf, buf.length, C.MSG_DONTWAIT, null, null));
        if (n <= 0) break;
        if (isEchoReply(v6, buf.subarray(0, n), id, seq)) return ok(t0);
      }
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(20, wait * 2);
    }
    return fail(t0, 'timeout', `no echo reply within ${deadlineMs} ms`);
  } finally {
    sys.close(fd);
  }
}

export const pingChecker: Checker<PingCheckDef | LdPingDef> = {
  kinds: ['PING_CHECK', 'ping'],
  async run(def, ctx) {
    const t0 = performance.now();
    const { host } = probeAddress(def, ctx.target);
    const ms = timeoutMs(def);
    const bin = PING_BINARIES.find((p) => existsSync(p));
    if (!bin) return rawPing(host, ms, def.bindto);
    const argv = [bin, '-n', '-q', '-c', '1', '-W', String(Math.max(1, Math.ceil(ms / 1000))), ...(def.bindto ? ['-I', def.bindto] : []), host];
    const r = await ctx.scripts.run(argv, ms + 1000);
    if (r.spawnError) return rawPing(host, ms, def.bindto);
    if (r.timedOut) return fail(t0, 'timeout', `no echo reply within ${ms} ms`);
    return r.code === 0 ? ok(t0) : fail(t0, 'ping failed', `ping exit ${r.code}`);
  },
};
