/**
 * Thin koffi bindings to the libc calls the packet forwarder needs, plus the Linux constants
 * (x86_64 / generic values). Pointers are BigInt (koffi 3). A Node Buffer passed as `void *` is
 * valid only during that call: anything the kernel keeps (rings, msghdr chains) lives in mmap or
 * malloc memory and is reached from JS through `koffi.view()`.
 */
import koffi from 'koffi';
import { SysError } from '../core/errors.ts';

const libc = koffi.load('libc.so.6');

export const sys = {
  socket: libc.func('int socket(int domain, int type, int protocol)'),
  bind: libc.func('int bind(int fd, void *addr, uint32_t len)'),
  setsockopt: libc.func('int setsockopt(int fd, int level, int name, void *val, uint32_t len)'),
  getsockopt: libc.func('int getsockopt(int fd, int level, int name, void *val, _Inout_ uint32_t *len)'),
  mmap: libc.func('void *mmap(void *addr, size_t len, int prot, int flags, int fd, long off)'),
  munmap: libc.func('int munmap(void *addr, size_t len)'),
  poll: libc.func('int poll(void *fds, unsigned long nfds, int timeout)'),
  recvfrom: libc.func('long recvfrom(int fd, void *buf, size_t len, int flags, void *addr, void *alen)'),
  recvmsg: libc.func('long recvmsg(int fd, void *msg, int flags)'),
  sendto: libc.func('long sendto(int fd, void *buf, size_t len, int flags, void *addr, uint32_t alen)'),
  send: libc.func('long send(int fd, void *buf, size_t len, int flags)'),
  sendmmsg: libc.func('int sendmmsg(int fd, void *msgvec, unsigned int vlen, int flags)'),
  ioctl: libc.func('int ioctl(int fd, unsigned long req, ...)'),
  fcntl: libc.func('int fcntl(int fd, int cmd, ...)'),
  open: libc.func('int open(const char *path, int flags, ...)'),
  read: libc.func('long read(int fd, void *buf, size_t len)'),
  write: libc.func('long write(int fd, void *buf, size_t len)'),
  close: libc.func('int close(int fd)'),
  dup: libc.func('int dup(int fd)'),
  getrlimit: libc.func('int getrlimit(int resource, void *rlim)'),
  setrlimit: libc.func('int setrlimit(int resource, void *rlim)'),
  if_nametoindex: libc.func('unsigned int if_nametoindex(const char *name)'),
  calloc: libc.func('void *calloc(size_t n, size_t size)'),
  free: libc.func('void free(void *p)'),
  malloc_trim: libc.func('int malloc_trim(size_t pad)'),
  strerror: libc.func('const char *strerror(int errnum)'),
};

export const C = {
  AF_INET: 2,
  AF_INET6: 10,
  AF_PACKET: 17,
  SOCK_DGRAM: 2,
  SOCK_RAW: 3,
  SOCK_NONBLOCK: 0x800,
  SOCK_CLOEXEC: 0x80000,
  SOL_SOCKET: 1,
  SO_SNDBUF: 7,
  SO_RCVBUF: 8,
  SO_RCVBUFFORCE: 33,
  SO_RCVTIMEO: 20,
  SO_BINDTODEVICE: 25,
  SOL_IP: 0,
  IP_HDRINCL: 3,
  IPPROTO_ICMP: 1,
  IPPROTO_IPIP: 4,
  IPPROTO_TCP: 6,
  IPPROTO_UDP: 17,
  IPPROTO_ICMPV6: 58,
  IPPROTO_RAW: 255,
  ETH_P_ALL: 0x0003,
  ETH_P_IP: 0x0800,
  ETH_P_ARP: 0x0806,
  ETH_P_IPV6: 0x86dd,
  SOL_PACKET: 263,
  PACKET_ADD_MEMBERSHIP: 1,
  PACKET_RX_RING: 5,
  PACKET_COPY_THRESH: 7,
  PACKET_VERSION: 10,
  PACKET_TX_RING: 13,
  PACKET_VNET_HDR: 15,
  PACKET_FANOUT: 18,
  PACKET_QDISC_BYPASS: 20,
  PACKET_IGNORE_OUTGOING: 23,
  PACKET_FANOUT_HASH: 0,
  PACKET_FANOUT_FLAG_DEFRAG: 0x8000,
  TPACKET_V2: 1,
  TPACKET_V3: 2,
  TP_STATUS_KERNEL: 0,
  TP_STATUS_USER: 1,
  TP_STATUS_COPY: 2,
  TP_STATUS_SEND_REQUEST: 1,
  PROT_READ: 1,
  PROT_WRITE: 2,
  MAP_SHARED: 1,
  POLLIN: 1,
  POLLOUT: 4,
  MSG_DONTWAIT: 0x40,
  MSG_TRUNC: 0x20,
  F_GETFL: 3,
  F_SETFL: 4,
  O_RDWR: 2,
  O_NONBLOCK: 0x800,
  O_CLOEXEC: 0x80000,
  TUNSETIFF: 0x400454ca,
  IFF_TUN: 0x0001,
  IFF_NO_PI: 0x1000,
  EAGAIN: 11,
  EINTR: 4,
} as const;

export const MAP_FAILED = 0xffffffffffffffffn;

export function errno(): number {
  return koffi.errno();
}

export { SysError };

function sysError(call: string, e: number): SysError {
  return new SysError(call, e, String(sys.strerror(e)));
}

/** Throws a SysError carrying errno when `r` is negative. */
export function check(call: string, r: number | bigint): number {
  const n = Number(r);
  if (n < 0) throw sysError(call, koffi.errno());
  return n;
}

export function htons(v: number): number {
  return ((v & 0xff) << 8) | ((v >> 8) & 0xff);
}

export function setIntOpt(fd: number, level: number, name: number, value: number, what: string): void {
  const b = Buffer.alloc(4);
  b.writeInt32LE(value);
  check(`setsockopt(${what})`, sys.setsockopt(fd, level, name, b, 4));
}

/** An ArrayBuffer over foreign memory at `ptr` (no copy). */
export function view(ptr: bigint, len: number): ArrayBuffer {
  return koffi.view(ptr, len);
}

/** A descriptor watched from this thread's libuv loop (uv_poll); close() stops watching. */
export interface FdWatch {
  close(): void;
}

/** Calls `fn` each time `fd` is readable, from this thread's event loop. */
export function watchReadable(fd: number, fn: () => void): FdWatch {
  return koffi.node.poll(fd, { readable: true }, fn);
}

export function ifIndex(name: string): number {
  const i = sys.if_nametoindex(name) as number;
  if (i === 0) throw sysError(`if_nametoindex(${name})`, koffi.errno());
  return i;
}

/** struct sockaddr_ll (20 bytes). */
export function sockaddrLl(ifindex: number, protocol: number, mac?: Uint8Array): Buffer {
  const b = Buffer.alloc(20);
  b.writeUInt16LE(C.AF_PACKET, 0);
  b.writeUInt16BE(protocol, 2);
  b.writeInt32LE(ifindex, 4);
  if (mac) {
    b.writeUInt8(6, 11);
    b.set(mac.subarray(0, 6), 12);
  }
  return b;
}

/** struct sockaddr_in (16 bytes); addr is a host-order u32. */
export function sockaddrIn(addr: number, port = 0): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt16LE(C.AF_INET, 0);
  b.writeUInt16BE(port, 2);
  b.writeUInt32BE(addr >>> 0, 4);
  return b;
}

/**
 * Stream-socket and epoll calls for the proxy forwarder's epoll relay
 * (os/epoll.ts). Buffers passed as `void *` are read/written in place.
 */
export const sysTcp = {
  epoll_create1: libc.func('int epoll_create1(int flags)'),
  epoll_ctl: libc.func('int epoll_ctl(int epfd, int op, int fd, void *event)'),
  epoll_wait: libc.func('int epoll_wait(int epfd, void *events, int maxevents, int timeout)'),
  accept4: libc.func('int accept4(int fd, void *addr, void *alen, int flags)'),
  connect: libc.func('int connect(int fd, void *addr, uint32_t len)'),
  listen: libc.func('int listen(int fd, int backlog)'),
  shutdown: libc.func('int shutdown(int fd, int how)'),
  getsockname: libc.func('int getsockname(int fd, void *addr, void *alen)'),
  getsockoptInt: libc.func('int getsockopt(int fd, int level, int name, void *val, void *len)'),
};

export const CT = {
  SOCK_STREAM: 1,
  SO_REUSEADDR: 2,
  SO_ERROR: 4,
  SO_LINGER: 13,
  SO_REUSEPORT: 15,
  IPPROTO_IPV6: 41,
  IPV6_V6ONLY: 26,
  TCP_NODELAY: 1,
  SHUT_WR: 1,
  MSG_NOSIGNAL: 0x4000,
  EPOLL_CLOEXEC: 0x80000,
  EPOLL_CTL_ADD: 1,
  EPOLL_CTL_DEL: 2,
  EPOLL_CTL_MOD: 3,
  EPOLLIN: 0x1,
  EPOLLOUT: 0x4,
  EPOLLERR: 0x8,
  EPOLLHUP: 0x10,
  EPOLLRDHUP: 0x2000,
  EPOLLET: 0x80000000,
  EPOLLEXCLUSIVE: 0x10000000,
  EINPROGRESS: 115,
  ECONNREFUSED: 111,
} as const;
