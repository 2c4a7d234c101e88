/**
 * keepalived UDP_CHECK: send `payload` (hex) on a connected UDP socket. With require_reply a
 * reply must arrive within connect_timeout (and start with the require_reply bytes when given,
 * and respect min/max_reply_length); without it the check passes unless an ICMP error
 * (port unreachable -> ECONNREFUSED) arrives within connect_timeout.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import type { Checker } from '../checker.ts';
import type { CheckResult, UdpCheckDef } from '../types.ts';
import { errorCode, fail, ok, probeAddress, timeoutMs } from './util.ts';

export function hexBytes(s: string | undefined): Buffer {
  if (!s) return Buffer.alloc(0);
  const clean = s.replace(/^0x/i, '').replace(/[\s:]/g, '');
  return /^([0-9a-fA-F]{2})*$/.test(clean) ? Buffer.from(clean, 'hex') : Buffer.from(s, 'latin1');
}

export interface UdpProbe {
  host: string; port: number; bindto?: string; bindPort?: number;
  payload: Buffer; wantReply: boolean; deadlineMs: number;
  accept?: (reply: Buffer) => string | null;
}

/** Sends one datagram; resolves with the outcome. Shared by UDP_CHECK, ldirectord connect (udp) and DNS_CHECK. */
export function udpProbe(p: UdpProbe, t0: number): Promise<CheckResult> {
  return new Promise((resolve) => {
    const type = net.isIPv6(p.host) ? 'udp6' : 'udp4';
    const sock = dgram.createSocket(type);
    let done = false;
    const finish = (r: CheckResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      try { sock.close(); } catch { /* closed */ }
      resolve(r);
    };
    const timer = setTimeout(() => finish(p.wantReply ? fail(t0, 'timeout', `no reply within ${p.deadlineMs} ms`) : ok(t0, { detail: 'no ICMP error' })), p.deadlineMs);
    sock.on('error', (e) => {
      const c = errorCode(e);
      finish(fail(t0, c.code === 'refused' ? 'icmp unreachable' : c.code, c.detail));
    });
    sock.on('message', (msg) => {
      const bad = p.accept ? p.accept(msg) : null;
      finish(bad === null ? ok(t0) : fail(t0, bad.split(':')[0]!, bad.includes(':') ? bad.slice(bad.indexOf(':') + 2) : undefined));
    });
    const go = () => sock.connect(p.port, p.host, () => sock.send(p.payload));
    if (p.bindto !== undefined || p.bindPort !== undefined) sock.bind({ address: p.bindto, port: p.bindPort ?? 0 }, go);
    else go();
  });
}

export const udpChecker: Checker<UdpCheckDef> = {
  kinds: ['UDP_CHECK'],
  run(def, ctx) {
    const t0 = performance.now();
    const { host, port } = probeAddress(def, ctx.target);
    const want = def.require_reply !== undefined;
    const prefix = def.require_reply === true ? Buffer.alloc(0) : hexBytes(def.require_reply);
    return udpProbe({
      host, port, bindto: def.bindto, bindPort: def.bind_port, payload: hexBytes(def.payload), wantReply: want,
      deadlineMs: timeoutMs(def),
      accept: (m) => {
        if (def.min_reply_length !== undefined && m.length < def.min_reply_length) return `udp reply mismatch: ${m.length} bytes < ${def.min_reply_length}`;
        if (def.max_reply_length !== undefined && m.length > def.max_reply_length) return `udp reply mismatch: ${m.length} bytes > ${def.max_reply_length}`;
        if (prefix.length > 0 && !m.subarray(0, prefix.length).equals(prefix)) return 'udp reply mismatch: unexpected bytes';
        return null;
      },
    }, t0);
  },
};
