/**
 * AF_PACKET sockets: a TPACKET_V2 (default) or TPACKET_V3 RX ring (mmap'd, read from JS through
 * koffi.view), PACKET_FANOUT
 * (hash: a flow always lands on the same socket, so on the same worker), and batched transmit with
 * sendmmsg whose iovecs may point straight into the RX ring (zero copy) or into a malloc'd arena.
 *
 * Ring layout (linux/if_packet.h). V3: block descriptor: block_status +8, num_pkts +12,
 * offset_to_first_pkt +16; tpacket3_hdr: next_offset +0, snaplen +12, len +16, mac +24, net +26.
 * V2: fixed-size frames, tpacket2_hdr: status +0, len +4, snaplen +8, mac +12, net +14.
 *
 * Why V2 by default: a V3 block is handed to user space only when it fills or its retire timer
 * fires, and that timer counts jiffies (4 ms at HZ=250, whatever tp_retire_blk_tov says): at
 * request/response rates every forwarded packet waited up to 4 ms (curl's connect time through a
 * DR director was 4 ms). A V2 frame is ours, and poll() wakes, as soon as the kernel wrote it;
 * under load one wake-up still carries every frame that arrived meanwhile.
 *
 * Offloads (V2, `vnetHdr`, on by default): the socket is opened with PACKET_VNET_HDR, so the
 * kernel writes a virtio-net header (10 bytes) right before every frame's Ethernet header: it says
 * whether the frame's TCP/UDP checksum is partial (checksum offload: the default on veth) and
 * whether it is a GSO super-packet (TSO/GSO/GRO), which src/codec/offload.ts completes and cuts.
 * Super-packets (up to 64 KiB) do not fit a 2 KiB ring frame: with PACKET_COPY_THRESH the kernel
 * also queues such a frame whole on the socket (its ring frame then says TP_STATUS_COPY) and the
 * reader takes it with recvfrom (header included) into a buffer of its own. The receive buffer is
 * raised (SO_RCVBUFFORCE, 16 MiB) so that copies are not refused while the reader catches up; a
 * frame that was cut short all the same reaches the reader with `wireLen > len`.
 * A socket with PACKET_VNET_HDR also expects that header in front of every frame it sends:
 * transmit on `openPacketTxSocket()` instead.
 */
import { sys, C, check, htons, setIntOpt, view, MAP_FAILED, sockaddrLl, ifIndex, errno } from './libc.ts';

export interface PacketSocketOptions {
  /** Interface to bind to (required: the forwarder never listens on every interface). */
  readonly ifname: string;
  /** Ethertype to capture (default ETH_P_IP: own sent frames are not looped back). */
  readonly protocol?: number;
  /** Join this fanout group (hash mode, defragmenting) so sockets of several workers share the load. */
  readonly fanoutGroup?: number;
  readonly blockSize?: number;
  readonly blockCount?: number;
  /** Ring version (default 2: per-frame wake-ups; 3: per-block, see the file comment). */
  readonly version?: 2 | 3;
  /** V2 frame size (default 2048: an Ethernet frame of MTU 1500 and the headers fit). */
  readonly frameSize?: number;
  /** V3 block retire timeout in ms: at low rates packets wait for it (rounded up to a jiffy). */
  readonly blockTimeoutMs?: number;
  /** Send with PACKET_QDISC_BYPASS (default true). */
  readonly qdiscBypass?: boolean;
  /**
   * PACKET_IGNORE_OUTGOING (default true): the kernel does not copy frames this host transmits
   * on the interface into the ring (our own NAT/TUN sends through the raw socket would otherwise
   * come back to a worker, costing a clone, a ring slot and a parse each).
   */
  readonly ignoreOutgoing?: boolean;
  /**
   * PACKET_VNET_HDR (default true with V2; V3 rings do not carry it): every frame comes with its
   * virtio-net header (`RxFrame.vnet`), and frames longer than a ring frame are copied whole.
   */
  readonly vnetHdr?: boolean;
}

/** Bytes of a virtio-net header (struct virtio_net_hdr). */
export const VNET_HDR_BYTES = 10;
/** Free bytes before a copied long frame's header (room for tunnel headers built in place). */
const LONG_ROOM = 64;
/** A copied frame: the largest GSO super-packet (64 KiB of IP) plus Ethernet, a VLAN tag and slack. */
const LONG_MAX = 65536 + 64;

/** One received frame: `data` is a view into the ring valid until the block is released. */
export interface RxFrame {
  /** The ring memory (whole ring), or the buffer a long frame was copied to, and the frame's offset/length in it. */
  buf: Uint8Array;
  /** Offset of the Ethernet header in `buf`. */
  mac: number;
  /** Length captured. */
  len: number;
  /** Wire length (may exceed len if truncated). */
  wireLen: number;
  /** Free bytes available in the ring before `mac` (for prepending headers in place). */
  headroom: number;
  /** Offset of the frame's virtio-net header in `buf` (VNET_HDR_BYTES before `mac`), or -1. */
  vnet: number;
}

export class PacketSocket {
  readonly fd: number;
  readonly ifindex: number;
  readonly ifname: string;
  private readonly ringPtr: bigint;
  private readonly ringLen: number;
  private readonly blockSize: number;
  private readonly blockCount: number;
  private readonly ring: Uint8Array;
  private readonly dv: DataView;
  private block = 0;
  private readonly v2: boolean;
  private readonly frameSize: number;
  private readonly frameCount: number;
  /** V2: frames handed to `fn` in the current batch (released after `done`). */
  private readonly batch: number[] = [];
  private readonly pfd = Buffer.alloc(8);
  private closed = false;
  readonly vnetHdr: boolean;
  /** Buffers for frames copied whole (TP_STATUS_COPY), reused; `longUsed` of them hold frames of the current batch. */
  private readonly longBufs: Uint8Array[] = [];
  private longUsed = 0;
  /** Counters. */
  rxPackets = 0;
  rxBlocks = 0;
  /** Frames longer than a ring frame read whole from the socket queue. */
  rxLong = 0;

  constructor(opts: PacketSocketOptions) {
    const proto = opts.protocol ?? C.ETH_P_IP;
    this.ifname = opts.ifname;
    this.ifindex = ifIndex(opts.ifname);
    this.blockSize = opts.blockSize ?? 1 << 18;
    this.blockCount = opts.blockCount ?? 16;
    this.v2 = (opts.version ?? 2) === 2;
    this.frameSize = opts.frameSize ?? 2048;
    this.frameCount = (this.blockSize / this.frameSize) * this.blockCount;
    this.vnetHdr = this.v2 && (opts.vnetHdr ?? true);
    this.fd = check('socket(AF_PACKET)', sys.socket(C.AF_PACKET, C.SOCK_RAW | C.SOCK_CLOEXEC, htons(proto)));
    try {
      setIntOpt(this.fd, C.SOL_PACKET, C.PACKET_VERSION, this.v2 ? C.TPACKET_V2 : C.TPACKET_V3, 'PACKET_VERSION');
      if (this.vnetHdr) {
        // Before the ring: the kernel refuses PACKET_VNET_HDR on a socket that has one.
        setIntOpt(this.fd, C.SOL_PACKET, C.PACKET_VNET_HDR, 1, 'PACKET_VNET_HDR');
        setIntOpt(this.fd, C.SOL_PACKET, C.PACKET_COPY_THRESH, 1, 'PACKET_COPY_THRESH');
        try {
          setIntOpt(this.fd, C.SOL_SOCKET, C.SO_RCVBUFFORCE, 16 << 20, 'SO_RCVBUFFORCE');
        } catch {
          setIntOpt(this.fd, C.SOL_SOCKET, C.SO_RCVBUF, 16 << 20, 'SO_RCVBUF');
        }
      }
      const req = Buffer.alloc(28);
      req.writeUInt32LE(this.blockSize, 0); // tp_block_size
      req.writeUInt32LE(this.blockCount, 4); // tp_block_nr
      req.writeUInt32LE(this.v2 ? this.frameSize : 2048, 8); // tp_frame_size
      req.writeUInt32LE(this.v2 ? this.frameCount : (this.blockSize / 2048) * this.blockCount, 12); // tp_frame_nr
      req.writeUInt32LE(opts.blockTimeoutMs ?? 1, 16); // V3: tp_retire_blk_tov (ms)
      req.writeUInt32LE(0, 20); // V3: tp_sizeof_priv
      req.writeUInt32LE(0, 24); // V3: tp_feature_req_word
      const reqLen = this.v2 ? 16 : 28;
      check('setsockopt(PACKET_RX_RING)', sys.setsockopt(this.fd, C.SOL_PACKET, C.PACKET_RX_RING, req, reqLen));
      this.ringLen = this.blockSize * this.blockCount;
      const p = sys.mmap(null, this.ringLen, C.PROT_READ | C.PROT_WRITE, C.MAP_SHARED, this.fd, 0) as bigint;
      if (p === MAP_FAILED || p === 0n) throw new Error(`mmap(ring): errno ${errno()}`);
      this.ringPtr = p;
      this.ring = new Uint8Array(view(p, this.ringLen));
      this.dv = new DataView(this.ring.buffer);
      const sll = sockaddrLl(this.ifindex, proto);
      check('bind(AF_PACKET)', sys.bind(this.fd, sll, 20));
      if (opts.qdiscBypass ?? true) setIntOpt(this.fd, C.SOL_PACKET, C.PACKET_QDISC_BYPASS, 1, 'PACKET_QDISC_BYPASS');
      if (opts.ignoreOutgoing ?? true) setIntOpt(this.fd, C.SOL_PACKET, C.PACKET_IGNORE_OUTGOING, 1, 'PACKET_IGNORE_OUTGOING');
      if (opts.fanoutGroup !== undefined) {
        const v = (opts.fanoutGroup & 0xffff) | ((C.PACKET_FANOUT_HASH | C.PACKET_FANOUT_FLAG_DEFRAG) << 16);
        setIntOpt(this.fd, C.SOL_PACKET, C.PACKET_FANOUT, v, 'PACKET_FANOUT');
      }
      this.pfd.writeInt32LE(this.fd, 0);
      this.pfd.writeInt16LE(C.POLLIN, 4);
    } catch (e) {
      sys.close(this.fd);
      throw e;
    }
  }

  /** Base address of the ring (for iovecs pointing into it). */
  get ringAddress(): bigint {
    return this.ringPtr;
  }

  get ringBytes(): Uint8Array {
    return this.ring;
  }

  private blockReady(): boolean {
    if (this.v2) return (this.dv.getUint32(this.block * this.frameSize, true) & C.TP_STATUS_USER) !== 0;
    return (this.dv.getUint32(this.block * this.blockSize + 8, true) & C.TP_STATUS_USER) !== 0;
  }

  /** Waits up to timeoutMs for a ready block. */
  wait(timeoutMs: number): boolean {
    if (this.blockReady()) return true;
    this.pfd.writeInt16LE(0, 6);
    const r = sys.poll(this.pfd, 1, timeoutMs) as number;
    if (r < 0 && errno() !== C.EINTR) check('poll', r);
    return this.blockReady();
  }

  /**
   * Hands every frame of the current block (if ready) to `fn`, then calls `done` (flush sends
   * whose iovecs point into the block) and releases the block. Returns the number of frames.
   */
  readBlock(fn: (f: RxFrame) => void, done?: () => void): number {
    if (this.v2) return this.readFrames(fn, done);
    if (!this.blockReady()) return 0;
    const base = this.block * this.blockSize;
    const n = this.dv.getUint32(base + 12, true);
    let off = base + this.dv.getUint32(base + 16, true);
    const frame: RxFrame = { buf: this.ring, mac: 0, len: 0, wireLen: 0, headroom: 0, vnet: -1 };
    for (let i = 0; i < n; i++) {
      const next = this.dv.getUint32(off, true);
      frame.len = this.dv.getUint32(off + 12, true);
      frame.wireLen = this.dv.getUint32(off + 16, true);
      const macOff = this.dv.getUint16(off + 24, true);
      frame.mac = off + macOff;
      // tpacket3_hdr (48 bytes) must stay intact until we move on; sockaddr_ll after it may be clobbered.
      frame.headroom = macOff - 48;
      fn(frame);
      if (next === 0) break;
      off += next;
    }
    if (done) done();
    this.dv.setUint32(base + 8, C.TP_STATUS_KERNEL, true);
    this.block = (this.block + 1) % this.blockCount;
    this.rxPackets += n;
    this.rxBlocks++;
    return n;
  }

  /**
   * V2: hands the ready frames (at most 256, the size of a send batch) to `fn`, then calls `done`
   * and gives the frames back to the kernel.
   */
  private readFrames(fn: (f: RxFrame) => void, done?: () => void): number {
    const dv = this.dv, fs = this.frameSize, batch = this.batch;
    const vh = this.vnetHdr ? VNET_HDR_BYTES : 0;
    const frame: RxFrame = { buf: this.ring, mac: 0, len: 0, wireLen: 0, headroom: 0, vnet: -1 };
    let i = this.block;
    while (batch.length < 256) {
      const base = i * fs;
      const status = dv.getUint32(base, true);
      if ((status & C.TP_STATUS_USER) === 0) break;
      batch.push(base);
      frame.buf = this.ring;
      frame.wireLen = dv.getUint32(base + 4, true);
      frame.len = dv.getUint32(base + 8, true);
      const macOff = dv.getUint16(base + 12, true);
      frame.mac = base + macOff;
      // tpacket2_hdr (32 bytes) must stay intact; the sockaddr_ll after it may be clobbered
      // (and, with PACKET_VNET_HDR, its last 10 bytes are the virtio-net header).
      frame.headroom = macOff - 32 - vh;
      frame.vnet = vh ? frame.mac - vh : -1;
      if ((status & C.TP_STATUS_COPY) !== 0) this.takeLong(frame);
      fn(frame);
      i = i + 1 === this.frameCount ? 0 : i + 1;
    }
    const n = batch.length;
    if (n === 0) return 0;
    if (done) done();
    for (let k = 0; k < n; k++) dv.setUint32(batch[k]!, C.TP_STATUS_KERNEL, true);
    batch.length = 0;
    this.longUsed = 0;
    this.block = i;
    this.rxPackets += n;
    this.rxBlocks++;
    return n;
  }

  /**
   * A ring frame marked TP_STATUS_COPY holds only the first bytes of a long frame; the kernel
   * queued the whole one on the socket (before it marked the ring frame), in ring order. Points
   * `f` at it (virtio-net header first, LONG_ROOM free bytes before it). If the copy cannot be
   * read, `f` stays the cut ring frame (wireLen > len).
   */
  private takeLong(f: RxFrame): void {
    let b = this.longBufs[this.longUsed];
    if (!b) this.longBufs.push(b = new Uint8Array(LONG_ROOM + VNET_HDR_BYTES + LONG_MAX));
    const r = Number(sys.recvfrom(this.fd, b.subarray(LONG_ROOM), VNET_HDR_BYTES + LONG_MAX, C.MSG_DONTWAIT | C.MSG_TRUNC, null, null));
    if (r < VNET_HDR_BYTES) return;
    this.longUsed++;
    this.rxLong++;
    f.buf = b;
    f.vnet = LONG_ROOM;
    f.mac = LONG_ROOM + VNET_HDR_BYTES;
    f.wireLen = r - VNET_HDR_BYTES;
    f.len = Math.min(f.wireLen, LONG_MAX);
    f.headroom = LONG_ROOM;
  }

  /** Sends one frame (copy) out of `ifindex` (default: the bound interface); a zero virtio-net header goes first on a vnet socket. */
  sendFrame(frame: Uint8Array, ifindex = this.ifindex): void {
    const sll = sockaddrLl(ifindex, C.ETH_P_IP);
    let f = frame;
    if (this.vnetHdr) {
      f = new Uint8Array(VNET_HDR_BYTES + frame.length);
      f.set(frame, VNET_HDR_BYTES);
    }
    check('sendto(AF_PACKET)', sys.sendto(this.fd, f, f.length, 0, sll, 20));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    sys.munmap(this.ringPtr, this.ringLen);
    sys.close(this.fd);
  }
}

/**
 * A batch of datagrams for sendmmsg, in calloc'd memory: mmsghdr[cap] (64 B), iovec[cap] (16 B),
 * names[cap] (32 B each: sockaddr_ll or sockaddr_in) and a copy arena of cap x 2048 B for frames
 * that are not sent from the ring.
 */
export class TxBatch {
  readonly cap: number;
  private readonly ptr: bigint;
  private readonly mem: Uint8Array;
  private readonly dv: DataView;
  private readonly iovOff: number;
  private readonly nameOff: number;
  private readonly arenaOff: number;
  count = 0;
  sent = 0;
  errors = 0;
  lastErrno = 0;

  constructor(readonly fd: number, cap = 256) {
    this.cap = cap;
    this.iovOff = cap * 64;
    this.nameOff = this.iovOff + cap * 16;
    this.arenaOff = this.nameOff + cap * 32;
    const size = this.arenaOff + cap * 2048;
    this.ptr = sys.calloc(1, size) as bigint;
    if (this.ptr === 0n) throw new Error('calloc failed');
    this.mem = new Uint8Array(view(this.ptr, size));
    this.dv = new DataView(this.mem.buffer);
    for (let i = 0; i < cap; i++) {
      const m = i * 64;
      this.dv.setBigUint64(m, this.ptr + BigInt(this.nameOff + i * 32), true); // msg_name
      this.dv.setBigUint64(m + 16, this.ptr + BigInt(this.iovOff + i * 16), true); // msg_iov
      this.dv.setBigUint64(m + 24, 1n, true); // msg_iovlen
    }
  }

  private slot(base: bigint, len: number, name: Uint8Array): void {
    if (this.count === this.cap) this.flush();
    const i = this.count++;
    const m = i * 64;
    const iov = this.iovOff + i * 16;
    this.mem.set(name, this.nameOff + i * 32);
    // msg_name, msg_iov and msg_iovlen of slot i never change (set in the constructor).
    this.dv.setUint32(m + 8, name.length, true); // msg_namelen
    this.dv.setBigUint64(iov, base, true); // iov_base
    this.dv.setUint32(iov + 8, len, true); // iov_len (upper half stays 0)
  }

  /** Queues `len` bytes living at foreign address `addr` (e.g. inside the RX ring). */
  addRef(addr: bigint, len: number, name: Uint8Array): void {
    this.slot(addr, len, name);
  }

  /** Queues a copy of `data` (at most 2048 bytes). */
  addCopy(data: Uint8Array, name: Uint8Array): void {
    if (this.count === this.cap) this.flush();
    const off = this.arenaOff + this.count * 2048;
    this.mem.set(data.subarray(0, 2048), off);
    this.slot(this.ptr + BigInt(off), Math.min(2048, data.length), name);
  }

  /** Sends everything queued; returns how many went out. Failed datagrams are counted and skipped. */
  flush(): number {
    let done = 0;
    while (done < this.count) {
      const r = sys.sendmmsg(this.fd, this.ptr + BigInt(done * 64), this.count - done, 0) as number;
      if (r < 0) {
        const e = errno();
        if (e === C.EINTR) continue;
        this.lastErrno = e;
        this.errors++;
        done++; // skip the failing datagram
        continue;
      }
      done += r;
      this.sent += r;
    }
    this.count = 0;
    return done;
  }

  close(): void {
    sys.free(this.ptr);
  }
}

/**
 * An AF_PACKET socket for sending only (protocol 0: it receives nothing), with PACKET_QDISC_BYPASS:
 * the ring sockets carry virtio-net headers, which every frame sent on them would need too.
 */
export function openPacketTxSocket(): number {
  const fd = check('socket(AF_PACKET, SOCK_RAW, 0)', sys.socket(C.AF_PACKET, C.SOCK_RAW | C.SOCK_CLOEXEC, 0));
  try {
    setIntOpt(fd, C.SOL_PACKET, C.PACKET_QDISC_BYPASS, 1, 'PACKET_QDISC_BYPASS');
    setIntOpt(fd, C.SOL_SOCKET, C.SO_SNDBUF, 4 << 20, 'SO_SNDBUF');
  } catch (e) {
    sys.close(fd);
    throw e;
  }
  return fd;
}

/**
 * AF_INET6 SOCK_RAW IPPROTO_RAW (header included, as IPPROTO_RAW implies): the kernel routes and
 * resolves neighbours for the IPv6 packets we hand it; the destination is the sockaddr_in6's.
 */
export function openRawIp6Socket(): number {
  const fd = check('socket(AF_INET6, SOCK_RAW, IPPROTO_RAW)', sys.socket(C.AF_INET6, C.SOCK_RAW | C.SOCK_CLOEXEC, C.IPPROTO_RAW));
  setIntOpt(fd, C.SOL_SOCKET, C.SO_SNDBUF, 4 << 20, 'SO_SNDBUF');
  return fd;
}

/** AF_INET SOCK_RAW IPPROTO_RAW (IP_HDRINCL): the kernel routes and ARPs what we hand it. */
export function openRawIpSocket(): number {
  const fd = check('socket(AF_INET, SOCK_RAW, IPPROTO_RAW)', sys.socket(C.AF_INET, C.SOCK_RAW | C.SOCK_CLOEXEC, C.IPPROTO_RAW));
  setIntOpt(fd, C.SOL_SOCKET, C.SO_SNDBUF, 4 << 20, 'SO_SNDBUF');
  return fd;
}
