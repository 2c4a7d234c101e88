/**
 * Golden packet tables for the pure forwarding step: JSON-able data (hex frames), exported so
 * tests and bench/packet/codec.ts share them. The expected frames were built from scratch by
 * src/codec/build.ts with full checksums (see ./generate.ts), not by the rewrite code, and are
 * cross-checked by tcpdump in test/packet/golden.test.ts.
 */
import { parseIp, type Ip } from '../../../src/core/addr.ts';
import { parseMac } from '../../../src/codec/ethernet.ts';
import type { ForwardDecision } from '../../../src/codec/forward.ts';
import type { FwdMethod, TunCsum, TunType } from '../../../src/core/types.ts';

export interface GoldenDecision {
  method: FwdMethod;
  dir: 'in' | 'out';
  rip: string;
  rport: number;
  vip: string;
  vport: number;
  srcMac: string;
  dstMac: string;
  tunnelSrc: string | null;
  mtu: number;
  ttlExpired?: 'icmp' | 'drop';
  /** Tunnel type (absent: ipip), GUE port, checksum option (ipvsadm --tun-*). */
  tunType?: TunType;
  tunPort?: number;
  tunCsum?: TunCsum;
}

export interface GoldenCase {
  name: string;
  /** The input Ethernet frame, hex. */
  input: string;
  decision: GoldenDecision;
  /** An action name (core/types.ts ACTION_NAMES): 'forward' | 'reject' (an ICMP error back) | 'drop' | 'pass' (method local). */
  verdict: string;
  /** Drop reason name ('' when forwarded), e.g. 'truncated-ip'. */
  reason: string;
  /** The output frame, hex ('' for drops; the input for 'pass'). */
  expected: string;
  /** Bytes of free space placed before the frame in the input buffer (tunnel in place). */
  headroom?: number;
}

function ip(s: string): Ip {
  const v = parseIp(s);
  if (!v) throw new Error(`bad address ${s}`);
  return v;
}

export function toDecision(g: GoldenDecision): ForwardDecision {
  return {
    method: g.method, dir: g.dir, rip: ip(g.rip), rport: g.rport, vip: ip(g.vip), vport: g.vport,
    srcMac: parseMac(g.srcMac)!, dstMac: parseMac(g.dstMac)!, tunnelSrc: g.tunnelSrc ? ip(g.tunnelSrc) : null,
    mtu: g.mtu, ttlExpired: g.ttlExpired, tunType: g.tunType, tunPort: g.tunPort, tunCsum: g.tunCsum,
  };
}
