/**
 * The packet forwarder's decision record (pure, no I/O): what to do with one packet, in the
 * numbers of the decision vocabulary (src/core/types.ts), and the mapping of the engine's verdict
 * to it. The drivers (forwarder.ts on the rings, nfq-forwarder.ts on the queue, fastpath.ts for
 * the kernel) carry these records; channel.ts packs them into shared memory.
 */
import type { Ip } from '../../core/addr.ts';
import type { Verdict } from '../../core/engine.ts';
import { ACTION_CODE, FWD_CODE, TUN_CODE, TUN_CSUM_CODE, type TunCsum, type TunType } from '../../core/types.ts';
import type { PacketMeta } from './classify.ts';

/**
 * What to do with one packet (a reusable record): `kind` an ACTION_CODE, `method` a FWD_CODE,
 * `tun` a TUN_CODE, `tunCsum` a TUN_CSUM_CODE. Addresses are host-order IPv4 u32.
 * forward: send with `method`; `rip:rport` the real server, `vip:vport` the virtual service
 * (for 'out' replies the VIP:vport the engine restores). IPv6: `rip6` / `vip6` hold the
 * addresses and `rip`/`vip` are 0; a mixed-family tunnel has one of each (`rip6` with `vip`, or
 * `rip` with `vip6`).
 */
export interface Action {
  kind: number;
  method: number;
  dir: 'in' | 'out';
  rip: number;
  rport: number;
  vip: number;
  vport: number;
  rip6: Ip | null;
  vip6: Ip | null;
  /** The engine's connection handle, -1 when none (one-packet scheduling): only a forward with a connection may be cached. */
  conn: number;
  /** FWD_CODE.tunnel: the destination's encapsulation (TUN_CODE), GUE port, checksum option (TUN_CSUM_CODE); 0 otherwise. */
  tun: number;
  tunPort: number;
  tunCsum: number;
  /** Whether the kernel fast path may carry the connection on (FAST; 0: no). */
  fast: number;
}

/**
 * Action.fast: whether the engine's decision may be carried out by the kernel (fastpath.ts).
 * CLOSING: a NAT connection past its first FIN, whose entries the kernel keeps once it carried
 * that FIN itself (it reports the FINs and ends both entries at the last ACK); never installed anew.
 */
export const FAST = { NO: 0, YES: 1, NEED_ACK: 2, CLOSING: 3 } as const;

/** The TCP states after a FIN in which the kernel carries a NAT connection's close on (FAST.CLOSING). */
const CLOSING_STATES: ReadonlySet<string> = new Set(['FIN_WAIT', 'TIME_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'CLOSE']);

export function newAction(): Action {
  return { kind: ACTION_CODE.drop, method: 0, dir: 'in', rip: 0, rport: 0, vip: 0, vport: 0, rip6: null, vip6: null, conn: -1, tun: 0, tunPort: 0, tunCsum: 0, fast: 0 };
}

/** Decides a batch: fills `out[i]` (pre-allocated records) for `metas[i]`. */
export type DecideBatch = (metas: readonly PacketMeta[], out: Action[]) => void;

/** What the engine's destination record (Verdict.dest, core/engine.ts Dest) carries for tunnels. */
type TunDest = { readonly tunType?: TunType; readonly tunPort?: number; readonly tunCsum?: TunCsum };

/**
 * Maps one engine verdict to an action. 'in': the destination and port the engine chose, with
 * the method bound to the connection; 'out' (NAT replies): the VIP:vport the engine restores.
 * 'local' destinations and 'pass' leave the packet to the kernel.
 */
export function verdictToAction(m: PacketMeta, v: Verdict, a: Action): void {
  a.dir = m.dir;
  a.conn = -1;
  a.tun = 0;
  a.tunPort = 0;
  a.tunCsum = 0;
  a.rip6 = null;
  a.vip6 = null;
  a.fast = FAST.NO;
  switch (v.action) {
    case 'pass': a.kind = ACTION_CODE.pass; return;
    case 'drop': a.kind = ACTION_CODE.drop; return;
    case 'reject': a.kind = ACTION_CODE.reject; return;
  }
  // Another family than the packet's: only a tunnel (IPVS allows mixed families for TUN alone).
  if (!v.fwd || v.fwd === 'local' || !v.dest || (v.dest.af !== m.af && v.fwd !== 'tunnel')) { a.kind = ACTION_CODE.pass; return; }
  const method = FWD_CODE[v.fwd];
  a.kind = ACTION_CODE.forward;
  a.method = method;
  a.conn = v.conn;
  if (method === FWD_CODE.tunnel) {
    // The tunnel type is the destination's at transmit time (ip_vs_tunnel_xmit reads cp->dest).
    const t = v.dest as TunDest;
    a.tun = TUN_CODE[t.tunType ?? 'ipip'] ?? TUN_CODE.ipip;
    a.tunPort = (t.tunPort ?? 0) & 0xffff;
    a.tunCsum = TUN_CSUM_CODE[t.tunCsum ?? 'nocsum'] ?? TUN_CSUM_CODE.nocsum;
  }
  if (v.dest.af !== m.af) {
    // Mixed-family tunnel (an 'in' packet: tunnels carry the client's direction only): the
    // outer header is the real server's family, the inner keeps the packet's.
    a.rip = a.vip = 0;
    if (v.dest.af === 6) a.rip6 = v.dest.ip;
    else a.rip = v.dest.ip.words[0]! >>> 0;
    if (m.af === 6) a.vip6 = m.daddr;
    else a.vip = m.daddr.words[0]! >>> 0;
    a.rport = v.dport || m.dport;
    a.vport = m.dport;
    return;
  }
  if (m.af === 6) {
    // IPv6: the records are referenced until the batch is applied.
    a.rip = a.vip = 0;
    if (m.dir === 'in') {
      // The kernel fast path carries IPv6 direct routing and NAT (fastpath6.ts), as IPv4's below
      // (no decisions ahead: a NAT connection from ESTABLISHED on).
      if (method === FWD_CODE.route && v.conn >= 0) {
        if (v.state === 'ESTABLISHED' || v.state === 'UDP') a.fast = FAST.YES;
        else if (v.state === 'SYN_RECV') a.fast = FAST.NEED_ACK;
      }
      if (method === FWD_CODE.masq && v.conn >= 0) {
        fastNat6(v.state, a);
        // (A NAT connection the kernel took on a decision ahead stays there through its handshake: adoptTaken.)
        if (v.state === 'SYN_RECV') a.fast = FAST.NEED_ACK;
      }
      a.rip6 = v.dest.ip;
      a.rport = v.dport || m.dport;
      a.vip6 = m.daddr;
      a.vport = m.dport;
    } else {
      if (method === FWD_CODE.masq && v.conn >= 0) fastNat6(v.state, a);
      a.rip6 = m.saddr;
      a.rport = m.sport;
      a.vip6 = v.vaddr ?? m.daddr;
      a.vport = v.vport;
    }
    return;
  }
  // What the kernel fast path may carry on: DR connections in states that only a FIN, a RST or
  // (SYN_RECV) the handshake's ACK leaves, which it reports; NAT ones (both directions) once
  // established, or in SYN_RECV when the kernel took the SYN on a decision ahead (fastpath.ts
  // adoptTaken: offer() installs NAT flows at FAST.YES only).
  // Tunnel connections as DR's (the client's direction only; fastpath.ts carries IPIP and GRE
  // without checksum, IPv4 in IPv4).
  const oneWay = method === FWD_CODE.route || method === FWD_CODE.tunnel;
  if (v.conn >= 0 && (v.state === 'ESTABLISHED' || v.state === 'UDP') && (method === FWD_CODE.masq || (oneWay && m.dir === 'in'))) a.fast = FAST.YES;
  else if (v.conn >= 0 && method === FWD_CODE.masq && CLOSING_STATES.has(v.state)) a.fast = FAST.CLOSING;
  if (m.dir === 'in') {
    if ((oneWay || method === FWD_CODE.masq) && v.conn >= 0 && v.state === 'SYN_RECV') a.fast = FAST.NEED_ACK;
    a.rip = v.dest.ip.words[0]! >>> 0;
    a.rport = v.dport || m.dport;
    a.vip = m.daddr.words[0]! >>> 0;
    a.vport = m.dport;
  } else {
    a.rip = m.saddr.words[0]! >>> 0;
    a.rport = m.sport;
    a.vip = (v.vaddr?.words[0] ?? 0) >>> 0;
    a.vport = v.vport;
  }
}

/** An IPv6 NAT connection, either way: carried by the kernel once established, its close too. */
function fastNat6(state: string, a: Action): void {
  if (state === 'ESTABLISHED' || state === 'UDP') a.fast = FAST.YES;
  else if (CLOSING_STATES.has(state)) a.fast = FAST.CLOSING;
}
