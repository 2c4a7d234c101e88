/**
 * One epoll instance per thread, driven from the thread's libuv loop: koffi.node.poll watches the
 * epoll fd (a single uv_poll_t), and on readiness epoll_wait(…, 0) hands over every ready socket
 * at once. Sockets registered here never become libuv handles: no per-connection uv_tcp_t, no
 * per-connection epoll_ctl by libuv, no JS objects per read or write beyond the relay itself.
 *
 * Registrations carry a generation number in the high half of epoll_data (fd in the low half), so
 * an event still queued for a closed descriptor is never delivered to a new socket that reuses
 * its number. Closing a descriptor removes it from epoll (we never dup() them).
 *
 * Also here: the libc helpers the epoll relay needs (socket addresses, listening sockets, errno
 * names).
 */
import koffi from 'koffi';
import { constants as osConstants } from 'node:os';
import { formatIp, ipFromBytes, parseIp } from '../core/addr.ts';
import type { ServiceKey } from '../core/types.ts';
import { C, CT, errno, sys, sysTcp } from './libc.ts';

/** Something with descriptors in the loop: gets (fd, epoll event bits). */
export interface EpollOwner {
  onEvent(fd: number, events: number): void;
}

/** epoll_event on x86_64: packed { uint32 events; uint64 data } = 12 bytes. */
const EV_SIZE = 12;
const MAX_EVENTS = 256;

/** errno -> name ('ECONNREFUSED'), for logs and error codes. */
const errnoNames = new Map<number, string>(Object.entries(osConstants.errno).map(([k, v]) => [v, k]));
export function errnoName(e: number): string {
  return errnoNames.get(e) ?? `errno ${e}`;
}
export function sysError(where: string, e: number): NodeJS.ErrnoException {
  const err = new Error(`${where}: ${errnoName(e)}`) as NodeJS.ErrnoException;
  err.code = errnoName(e);
  err.errno = e;
  return err;
}

export class EpollLoop {
  readonly epfd: number;
  private readonly events = Buffer.alloc(EV_SIZE * MAX_EVENTS);
  private readonly ev1 = Buffer.alloc(EV_SIZE);
  private readonly owners: (EpollOwner | undefined)[] = [];
  private readonly gens: number[] = [];
  private gen = 1;
  private count = 0;
  private readonly handle: ReturnType<typeof koffi.node.poll>;
  private refd = false;
  /** Set while events are dispatched: a registration made meanwhile may already be ready. */
  private added = false;
  /** Called when an owner throws (the loop goes on). */
  onError: (e: unknown) => void = () => {};

  constructor() {
    const fd = sysTcp.epoll_create1(CT.EPOLL_CLOEXEC) as number;
    if (fd < 0) throw sysError('epoll_create1', errno());
    this.epfd = fd;
    this.handle = koffi.node.poll(fd, { readable: true }, this.dispatch);
    this.handle.unref();
    // A poll callback while the thread's environment is torn down would be fatal (koffi cannot
    // call into JS then): stop watching before that.
    process.once('exit', this.shutdown);
  }

  /** Descriptors still watched. */
  get size(): number {
    return this.count;
  }

  private stopped = false;
  /** Stops the loop (descriptors still in it are left alone). */
  readonly shutdown = (): void => {
    if (this.stopped) return;
    this.stopped = true;
    process.off('exit', this.shutdown);
    this.handle.close();
    sys.close(this.epfd);
    if (loop === this) loop = undefined;
  };

  /** Watches fd for `events` (EPOLL* bits, usually with EPOLLET). Returns false (errno set) on failure. */
  add(fd: number, events: number, owner: EpollOwner): boolean {
    const g = this.gen = (this.gen + 1) >>> 0 || 1;
    const b = this.ev1;
    b.writeUInt32LE(events >>> 0, 0);
    b.writeUInt32LE(fd, 4);
    b.writeUInt32LE(g, 8);
    if ((sysTcp.epoll_ctl(this.epfd, CT.EPOLL_CTL_ADD, fd, b) as number) < 0) return false;
    this.owners[fd] = owner;
    this.gens[fd] = g;
    this.added = true;
    if (this.count++ === 0 && !this.refd) {
      this.refd = true;
      this.handle.ref();
    }
    return true;
  }

  /** Forgets fd (call before or instead of closing it; close() itself removes it from epoll). */
  forget(fd: number, del = false): void {
    if (this.owners[fd] === undefined) return;
    if (del) sysTcp.epoll_ctl(this.epfd, CT.EPOLL_CTL_DEL, fd, null);
    this.owners[fd] = undefined;
    this.gens[fd] = 0;
    if (--this.count === 0 && this.refd) {
      this.refd = false;
      this.handle.unref();
    }
  }

  /** Closes fd and forgets it. */
  close(fd: number): void {
    this.forget(fd);
    sys.close(fd);
  }

  private readonly dispatch = (): void => {
    if (this.stopped) return;
    const evs = this.events;
    for (let round = 0; round < 4; round++) {
      this.added = false;
      const n = sysTcp.epoll_wait(this.epfd, evs, MAX_EVENTS, 0) as number;
      for (let i = 0; i < n; i++) {
        const o = i * EV_SIZE;
        const fd = evs.readUInt32LE(o + 4);
        const owner = this.owners[fd];
        if (owner === undefined || this.gens[fd] !== evs.readUInt32LE(o + 8)) continue;
        try {
          owner.onEvent(fd, evs.readUInt32LE(o));
        } catch (e) {
          this.onError(e);
        }
      }
      // Sockets registered during this batch (e.g. a client socket once its real server answered)
      // are often ready already: take them in this turn rather than the next.
      if (n < MAX_EVENTS && !this.added) break;
    }
  };
}

let loop: EpollLoop | null | undefined;
/** This thread's loop if one is running (never starts one). */
export function currentEpollLoop(): EpollLoop | null {
  return loop ?? null;
}
/** This thread's loop, or null when epoll through koffi is unavailable. */
export function epollLoop(): EpollLoop | null {
  if (loop !== undefined) return loop;
  try {
    loop = typeof koffi.node?.poll === 'function' ? new EpollLoop() : null;
  } catch {
    loop = null;
  }
  return loop;
}

/** struct sockaddr_in / sockaddr_in6 for an address text and port (cached per target). */
const saCache = new Map<string, Buffer>();
export function sockaddr(addr: string, port: number): Buffer | null {
  const key = `${addr} ${port}`;
  let sa = saCache.get(key);
  if (sa) return sa;
  const ip = parseIp(addr);
  if (!ip) return null;
  if (ip.af === 6) {
    sa = Buffer.alloc(28);
    sa.writeUInt16LE(C.AF_INET6, 0);
    sa.writeUInt16BE(port, 2);
    for (let i = 0; i < 4; i++) sa.writeUInt32BE(ip.words[i]! >>> 0, 8 + 4 * i);
  } else {
    sa = Buffer.alloc(16);
    sa.writeUInt16LE(C.AF_INET, 0);
    sa.writeUInt16BE(port, 2);
    sa.writeUInt32BE(ip.words[0]! >>> 0, 4);
  }
  if (saCache.size >= 4096) saCache.clear();
  saCache.set(key, sa);
  return sa;
}

/** IPv4 address text by address (one string per client, not one per connection). */
const v4Texts = new Map<number, string>();
function v4Text(a: number): string {
  let t = v4Texts.get(a);
  if (t === undefined) {
    t = `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
    if (v4Texts.size >= 65536) v4Texts.clear();
    v4Texts.set(a, t);
  }
  return t;
}
const v6Text = new Map<string, string>();
/**
 * Address and port in a sockaddr buffer (as accept4/getsockname fill it), canonical text;
 * v4-mapped IPv6 addresses come back as IPv4. Null for other families.
 */
export function sockaddrAddr(sa: Buffer): { address: string; port: number } | null {
  const address = sockaddrText(sa);
  return address === null ? null : { address, port: sa.readUInt16BE(2) };
}

/** The address alone of sockaddrAddr() (the port is at bytes 2-3 in both families). */
export function sockaddrText(sa: Buffer): string | null {
  const fam = sa.readUInt16LE(0);
  if (fam === C.AF_INET) return v4Text(sa.readUInt32BE(4));
  if (fam !== C.AF_INET6) return null;
  if (sa.readUInt32BE(8) === 0 && sa.readUInt32BE(12) === 0 && sa.readUInt32BE(16) === 0xffff) return v4Text(sa.readUInt32BE(20));
  const raw = sa.toString('hex', 8, 24);
  let address = v6Text.get(raw);
  if (address === undefined) {
    address = formatIp(ipFromBytes(sa.subarray(8, 24), 6));
    if (v6Text.size >= 4096) v6Text.clear();
    v6Text.set(raw, address);
  }
  return address;
}

/**
 * A non-blocking listening TCP socket for a service (SO_REUSEADDR like Node's listen; IPv6
 * services only IPv6). Throws an error whose code is the errno name (EADDRINUSE, …).
 */
export function listenSocket(s: ServiceKey, opts: { reusePort?: boolean; backlog?: number } = {}): number {
  const sa = sockaddr(s.addr, s.port);
  if (!sa) throw Object.assign(new Error(`bad address ${s.addr}`), { code: 'EINVAL' });
  const v6 = sa.length === 28;
  const fd = sys.socket(v6 ? C.AF_INET6 : C.AF_INET, CT.SOCK_STREAM | C.SOCK_NONBLOCK | C.SOCK_CLOEXEC, 0) as number;
  if (fd < 0) throw sysError('socket', errno());
  const one = Buffer.alloc(4);
  one.writeInt32LE(1);
  const fail = (call: string): never => {
    const e = sysError(`${call} ${s.addr}:${s.port}`, errno());
    sys.close(fd);
    throw e;
  };
  if ((sys.setsockopt(fd, C.SOL_SOCKET, CT.SO_REUSEADDR, one, 4) as number) < 0) fail('setsockopt');
  if (opts.reusePort && (sys.setsockopt(fd, C.SOL_SOCKET, CT.SO_REUSEPORT, one, 4) as number) < 0) fail('setsockopt');
  if (v6 && (sys.setsockopt(fd, CT.IPPROTO_IPV6, CT.IPV6_V6ONLY, one, 4) as number) < 0) fail('setsockopt');
  if ((sys.bind(fd, sa, sa.length) as number) < 0) fail('bind');
  if ((sysTcp.listen(fd, opts.backlog ?? 4096) as number) < 0) fail('listen');
  return fd;
}
