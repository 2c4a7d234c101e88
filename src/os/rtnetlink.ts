/**
 * Addresses, routes and rules set through an rtnetlink socket (AF_NETLINK, NETLINK_ROUTE), the
 * way keepalived sets them; the messages are ./rtnl-codec.ts. Each call is one request and its
 * acknowledgement, synchronous: the kernel answers at once and a transition's changes must land
 * in order (addresses before the routes that use them, rules last).
 *
 * As keepalived: adding what is already there and deleting what is gone are not errors (a
 * restart after `kill -9`, or an operator who removed a route by hand).
 */
import { C, check, errno, ifIndex, setIntOpt, sys, SysError, watchReadable, type FdWatch } from './libc.ts';
import { NL, decodeAck, decodeDeleted, encodeAddr, encodeDelLink, encodeLinkSet, encodeNewMacvlan, encodeRoute, encodeRule, type AddrSpec, type Deleted, type MacvlanSpec, type RouteSpec, type RuleSpec } from './rtnl-codec.ts';

export type { AddrSpec, Deleted, RouteSpec, RuleSpec } from './rtnl-codec.ts';

export type RtOp = 'add' | 'del';

/** The narrow interface the VRRP layer uses; `netlinkRoutes()` is the real one, `RecordingRoutes` the fake. */
export interface RouteTable {
  address(op: RtOp, a: AddrSpec): void;
  route(op: RtOp, r: RouteSpec): void;
  rule(op: RtOp, r: RuleSpec): void;
}

const EEXIST = 17;
const ENOENT = 2;
const ESRCH = 3;
const EADDRNOTAVAIL = 99;
const ENODEV = 19;
/** What an add may meet (already set) and a delete (already gone) without failing. */
const TOLERATED: Record<RtOp, ReadonlySet<number>> = {
  add: new Set([EEXIST]),
  del: new Set([ENOENT, ESRCH, EADDRNOTAVAIL, ENODEV]),
};

/** The kernel refused a request; `errno` is its error. */
export class RtnetlinkError extends SysError {}

/** A netlink socket to the kernel's routing tables, opened on first use, closed by close(). */
export class NetlinkRoutes implements RouteTable {
  private fd = -1;
  private seq = Math.floor(Date.now() / 1000) >>> 0;
  private readonly rx = Buffer.alloc(8192);

  private open(): number {
    if (this.fd >= 0) return this.fd;
    const fd = check('socket(AF_NETLINK)', sys.socket(NL.AF_NETLINK, C.SOCK_RAW | C.SOCK_CLOEXEC, NL.NETLINK_ROUTE));
    // A request never waits long for its ack; a kernel that does not answer is an error, not a hang.
    const tv = Buffer.alloc(16);
    tv.writeBigInt64LE(2n, 0);
    check('setsockopt(SO_RCVTIMEO)', sys.setsockopt(fd, C.SOL_SOCKET, C.SO_RCVTIMEO, tv, 16));
    setIntOpt(fd, C.SOL_SOCKET, C.SO_RCVBUF, 1 << 16, 'SO_RCVBUF');
    const sa = Buffer.alloc(12);
    sa.writeUInt16LE(NL.AF_NETLINK, 0);
    check('bind(AF_NETLINK)', sys.bind(fd, sa, sa.length));
    this.fd = fd;
    return fd;
  }

  private talk(op: RtOp, what: string, msg: (seq: number) => Buffer, tolerated: ReadonlySet<number> = TOLERATED[op]): void {
    const fd = this.open();
    const seq = (this.seq = (this.seq + 1) >>> 0);
    const b = msg(seq);
    const kernel = Buffer.alloc(12);
    kernel.writeUInt16LE(NL.AF_NETLINK, 0);
    check(`sendto(netlink ${what})`, sys.sendto(fd, b, b.length, 0, kernel, kernel.length));
    for (;;) {
      const n = check(`recv(netlink ${what})`, sys.recvfrom(fd, this.rx, this.rx.length, 0, null, null));
      const ack = decodeAck(this.rx.subarray(0, n));
      if (!ack || ack.seq !== seq) continue; // a late answer to an earlier request
      if (ack.error === 0 || tolerated.has(-ack.error)) return;
      throw new RtnetlinkError(`netlink ${op} ${what}`, -ack.error, String(sys.strerror(-ack.error)));
    }
  }

  address(op: RtOp, a: AddrSpec): void {
    this.talk(op, `address ${a.addr}/${a.prefix} dev ${a.dev}`, (seq) => encodeAddr(op, a, seq, ifIndex));
  }

  route(op: RtOp, r: RouteSpec): void {
    this.talk(op, `route ${r.dst ?? 'default'}${r.dst ? `/${r.dstLen}` : ''}`, (seq) => encodeRoute(op, r, seq, ifIndex));
  }

  rule(op: RtOp, r: RuleSpec): void {
    this.talk(op, `rule priority ${r.priority}`, (seq) => encodeRule(op, r, seq));
  }

  /** Creates a macvlan (keepalived's VMAC); an interface of that name already there is an error (EEXIST). */
  addMacvlan(s: MacvlanSpec): void {
    this.talk('add', `macvlan ${s.name}`, (seq) => encodeNewMacvlan(s, seq), new Set());
  }

  /** Sets an interface up, and/or its IPv6 address generation to none. */
  setLink(dev: string, o: { up?: boolean; addrGenNone?: boolean }): void {
    this.talk('add', `link ${dev}`, (seq) => encodeLinkSet(ifIndex(dev), o, seq), new Set());
  }

  /** Deletes an interface (gone already: not an error). */
  deleteLink(dev: string): void {
    let index: number;
    try { index = ifIndex(dev); } catch { return; }
    this.talk('del', `link ${dev}`, (seq) => encodeDelLink(index, seq));
  }

  close(): void {
    if (this.fd >= 0) sys.close(this.fd);
    this.fd = -1;
  }
}

let shared: NetlinkRoutes | null = null;

/** The process's one netlink socket for routing changes. */
export function netlinkRoutes(): NetlinkRoutes {
  return (shared ??= new NetlinkRoutes());
}

/** The fake: records each call in order (unit tests of the VRRP layer). */
export class RecordingRoutes implements RouteTable {
  readonly calls: string[] = [];
  address(op: RtOp, a: AddrSpec): void { this.calls.push(`${op} address ${a.addr}/${a.prefix} dev ${a.dev}`); }
  route(op: RtOp, r: RouteSpec): void { this.calls.push(`${op} route ${r.dst ?? 'default'}${r.dst ? `/${r.dstLen}` : ''}${r.via ? ` via ${r.via}` : ''}${r.dev ? ` dev ${r.dev}` : ''} table ${r.table}`); }
  rule(op: RtOp, r: RuleSpec): void { this.calls.push(`${op} rule priority ${r.priority}${r.table !== undefined ? ` table ${r.table}` : ''}`); }
}

/** The multicast groups keepalived listens to for addresses, routes and rules (rtnetlink.h RTNLGRP_*). */
const GROUPS = { IPV4_IFADDR: 5, IPV4_ROUTE: 7, IPV4_RULE: 8, IPV6_IFADDR: 9, IPV6_ROUTE: 11, IPV6_RULE: 19 } as const;
const SOL_NETLINK = 270;
const NETLINK_ADD_MEMBERSHIP = 1;

/** Stops a watch. */
export interface DeletionWatch {
  close(): void;
}

/**
 * Calls `onDeleted` for each address, route or rule the kernel reports deleted (by anyone,
 * tsvs included), from this thread's event loop: keepalived's netlink reflector, which restores
 * static entries and takes a master out of MASTER when its tracked entries go.
 */
export function watchDeletions(onDeleted: (d: Deleted) => void): DeletionWatch {
  const fd = check('socket(AF_NETLINK)', sys.socket(NL.AF_NETLINK, C.SOCK_RAW | C.SOCK_CLOEXEC | C.SOCK_NONBLOCK, NL.NETLINK_ROUTE));
  let w: FdWatch | null = null;
  try {
    setIntOpt(fd, C.SOL_SOCKET, C.SO_RCVBUF, 1 << 20, 'SO_RCVBUF');
    const sa = Buffer.alloc(12);
    sa.writeUInt16LE(NL.AF_NETLINK, 0);
    check('bind(AF_NETLINK)', sys.bind(fd, sa, sa.length));
    for (const g of Object.values(GROUPS)) setIntOpt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, g, 'NETLINK_ADD_MEMBERSHIP');
  } catch (e) {
    sys.close(fd);
    throw e;
  }
  const buf = Buffer.alloc(1 << 16);
  w = watchReadable(fd, () => {
    for (;;) {
      const n = Number(sys.recvfrom(fd, buf, buf.length, C.MSG_DONTWAIT, null, null));
      if (n <= 0) {
        // EAGAIN: drained. ENOBUFS: events were lost (a burst); keep listening.
        if (n < 0 && errno() !== C.EAGAIN && errno() !== C.EINTR && errno() !== ENOBUFS) return;
        if (n < 0 && errno() === ENOBUFS) continue;
        return;
      }
      for (const d of decodeDeleted(buf.subarray(0, n))) onDeleted(d);
    }
  });
  return {
    close() {
      w?.close();
      w = null;
      sys.close(fd);
    },
  };
}

const ENOBUFS = 105;
