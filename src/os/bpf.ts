/**
 * Loads and attaches the kernel fast path (bpf/tsvs_fastpath.c) through libbpf.so.1 (koffi), and
 * gives user space its two ends: the flow map (a FlowMap, flow-map.ts) and the events ring
 * buffer (state-changing packets the program forwarded, read from its mmap'd pages).
 *
 * The object is built from the C source with clang on first use and cached under the system's
 * temporary directory by content hash.
 * - 'tc' (default): a filter on each interface's clsact ingress (handle/priority TC_HANDLE). tc
 *   filters outlive their process: a start removes ours first (what a crash left); close removes
 *   it, and the clsact qdisc when no other filter is left on it (tc filter show).
 * - 'xdp': BPF links, which end with the process. On veth, XDP_TX needs NAPI on the peer (GRO or
 *   an XDP program there), and this kernel's veth stalled under overload that way (PACKET-FORWARDER.md).
 */
import koffi from 'koffi';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageFile } from '../os/entries.ts';
import { C, MAP_FAILED, ifIndex, sys, view } from './libc.ts';
import { KEY6_BYTES, KEY_BYTES, VAL6_BYTES, VAL_BYTES, type FlowEnd, type FlowMap } from './flow-map.ts';
import { FastPathError } from '../core/errors.ts';

const SOURCE = packageFile('bpf/tsvs_fastpath.c');
const RINGBUF_BYTES = 1 << 20; // bpf/tsvs_fastpath.c `events` max_entries
/** Our tc filter's handle and priority on clsact ingress ("tsvs" in a keypad: 0x7157). */
export const TC_HANDLE = 0x7157;
const BPF_TC_INGRESS = 1;
const BPF_TC_EGRESS = 2;
const TC_HOOK_BYTES = 24;
const TC_OPTS_BYTES = 32;
/** struct bpf_test_run_opts (libbpf 1.x). */
const TEST_RUN_OPTS_BYTES = 80;
/** BPF_F_TEST_SKB_CHECKSUM_COMPLETE (include/uapi/linux/bpf.h, Linux 6.11). */
const TEST_SKB_CHECKSUM_COMPLETE = 1 << 2;
/** struct __sk_buff up to gso_size (uapi offsets), for a test run's context. */
const SKB_CTX_BYTES = 184;
const SKB_GSO_SEGS = 164;
const SKB_GSO_SIZE = 176;
const PAGE = 4096;
const EVENT_BYTES = 40;
/** struct flow_event6 (IPv6 flows), struct flow_end and flow_end6 (a NAT END): told from struct flow_event by their lengths. */
const EVENT6_BYTES = 64;
const END_BYTES = 72;
const END6_BYTES = 88;
/** bpf/tsvs_fastpath.c `ahead`: rings of decisions ahead (256 x struct ahead_ring). */
export const AHEAD_RINGS = 256;
export const AHEAD_SLOTS = 256; // bpf/tsvs_fastpath.c AHEAD_SLOTS
/** struct ahead_slot (its last 16 bytes: an IPv6 NAT decision's address); a ring is a 16-byte head (head, tail) and AHEAD_SLOTS slots. */
export const AHEAD_SLOT_BYTES = 56;
export const AHEAD_RING_BYTES = 16 + AHEAD_SLOTS * AHEAD_SLOT_BYTES;

export { FastPathError };

type Fn = (...a: unknown[]) => unknown;
let lib: Record<string, Fn> | null = null;
function libbpf(): Record<string, Fn> {
  if (lib) return lib;
  let l: ReturnType<typeof koffi.load>;
  try {
    l = koffi.load('libbpf.so.1');
  } catch (e) {
    throw new FastPathError(`the kernel fast path needs libbpf.so.1 (Debian package libbpf1): ${(e as Error).message}`);
  }
  lib = {
    open: l.func('void *bpf_object__open_file(const char *path, void *opts)'),
    load: l.func('int bpf_object__load(void *obj)'),
    close: l.func('void bpf_object__close(void *obj)'),
    prog: l.func('void *bpf_object__find_program_by_name(void *obj, const char *name)'),
    mapFd: l.func('int bpf_object__find_map_fd_by_name(void *obj, const char *name)'),
    attachXdp: l.func('void *bpf_program__attach_xdp(void *prog, int ifindex)'),
    destroyLink: l.func('int bpf_link__destroy(void *link)'),
    progFd: l.func('int bpf_program__fd(void *prog)'),
    tcHookCreate: l.func('int bpf_tc_hook_create(void *hook)'),
    tcHookDestroy: l.func('int bpf_tc_hook_destroy(void *hook)'),
    tcAttach: l.func('int bpf_tc_attach(void *hook, void *opts)'),
    tcDetach: l.func('int bpf_tc_detach(void *hook, void *opts)'),
    update: l.func('int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)'),
    lookup: l.func('int bpf_map_lookup_elem(int fd, const void *key, _Out_ void *value)'),
    lookupAndDelete: l.func('int bpf_map_lookup_and_delete_elem(int fd, const void *key, _Out_ void *value)'),
    del: l.func('int bpf_map_delete_elem(int fd, const void *key)'),
    testRun: l.func('int bpf_prog_test_run_opts(int fd, void *opts)'),
    tcQuery: l.func('int bpf_tc_query(void *hook, void *opts)'),
    progById: l.func('int bpf_prog_get_fd_by_id(uint32_t id)'),
    mapById: l.func('int bpf_map_get_fd_by_id(uint32_t id)'),
    objInfo: l.func('int bpf_obj_get_info_by_fd(int fd, void *info, void *len)'),
    nextKey: l.func('int bpf_map_get_next_key(int fd, const void *key, void *next)'),
  } as Record<string, Fn>;
  return lib;
}

/** The compiled object's path: built with clang when the cached one is missing. */
export function fastPathObject(): string {
  const src = readFileSync(SOURCE);
  const out = join(tmpdir(), `tsvs-fastpath-${createHash('sha256').update(src).digest('hex').slice(0, 16)}.o`);
  if (existsSync(out)) return out;
  const tmp = `${out}.${process.pid}`;
  try {
    // TSVS_CLANG: another compiler binary (a versioned clang-NN).
    execFileSync(process.env['TSVS_CLANG'] || 'clang', ['-O2', '-g', '-target', 'bpf', '-mcpu=v3', '-c', SOURCE, '-o', tmp], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    const err = e as { code?: string; stderr?: Buffer };
    if (err.code === 'ENOENT') throw new FastPathError('the kernel fast path is built with clang on first use: install clang (scripts/setup.sh does)');
    throw new FastPathError(`clang failed on ${SOURCE}: ${err.stderr?.toString().trim() ?? String(e)}`);
  }
  renameSync(tmp, out);
  return out;
}

/** The BPF hash map `flows`, as a FlowMap. */
class BpfFlowMap implements FlowMap {
  private readonly tmp: Buffer;
  /** `valBytes`: the map's value size (VAL_BYTES, or VAL6_BYTES for `flows6`); a put's value has it. */
  constructor(private readonly fd: number, valBytes = VAL_BYTES) {
    this.tmp = Buffer.alloc(valBytes);
  }
  put(key: Uint8Array, val: Uint8Array): boolean {
    if (val.length !== this.tmp.length) throw new RangeError(`flow value of ${val.length} bytes for a map of ${this.tmp.length}`);
    return (libbpf().update!(this.fd, key, val, 0n) as number) === 0;
  }
  get(key: Uint8Array, val: Uint8Array): boolean {
    if ((libbpf().lookup!(this.fd, key, this.tmp) as number) !== 0) return false;
    val.set(this.tmp.subarray(0, val.length));
    return true;
  }
  take(key: Uint8Array, val: Uint8Array): boolean {
    if ((libbpf().lookupAndDelete!(this.fd, key, this.tmp) as number) !== 0) return false;
    val.set(this.tmp.subarray(0, val.length));
    return true;
  }
}

/**
 * One state-changing packet the program forwarded (struct flow_event, or struct flow_event6 with
 * `af` 6: the addresses are then in `saddr6` / `daddr6`, host-order words). Addresses host order.
 */
export interface FlowEvent {
  af?: 4 | 6;
  saddr6?: Uint32Array;
  daddr6?: Uint32Array;
  saddr: number;
  daddr: number;
  sport: number;
  dport: number;
  proto: number;
  flags: number;
  len: number;
  /** FIN/RST (NAT: END): the program removed the flow; its last counters. */
  pkts: number;
  bytes: number;
  /**
   * FLOW_EV (flow-map.ts): 0 a state event; 1 a new connection sent to the decision ahead `token`;
   * 2 the same, NAT (its replies' entry installed too); 3 the same, a tunnel; 4-5 a NAT
   * connection's close carried in the kernel (a FIN that was also the first ACK, with the
   * entries kept; the last ACK or a RST ending both).
   */
  kind: number;
  token: number;
  /** A NAT END (struct flow_end, flow_end6): the other entry's counters and the FINs recorded; null otherwise. */
  end?: FlowEnd | null;
}

export type FastPathKind = 'tc' | 'xdp';

/**
 * How the program behaves when the daemon's heartbeat stops (bpf/tsvs_fastpath.c struct ctl):
 * after `staleMs` it takes no new decision, after `orphanMs` it no longer carries known flows.
 */
export interface HeartbeatBounds {
  readonly staleMs: number;
  readonly orphanMs: number;
}
/** The daemon writes its heartbeat this often. */
export const HEARTBEAT_MS = 100;
/** struct ctl's words. */
const CTL_BEAT = 0, CTL_STALE = 1, CTL_ORPHAN = 2, CTL_STALE_NEW = 3, CTL_ORPHAN_PASSED = 4;

/** struct bpf_tc_hook (libbpf 1.x) for clsact ingress of `ifindex`. */
function tcHook(ifindex: number): Buffer {
  const h = Buffer.alloc(TC_HOOK_BYTES);
  h.writeBigUInt64LE(BigInt(TC_HOOK_BYTES), 0);
  h.writeInt32LE(ifindex, 8);
  h.writeUInt32LE(BPF_TC_INGRESS, 12);
  return h;
}
/** struct bpf_tc_opts: our handle and priority (and the program for attach). */
function tcOpts(progFd: number): Buffer {
  const o = Buffer.alloc(TC_OPTS_BYTES);
  o.writeBigUInt64LE(BigInt(TC_OPTS_BYTES), 0);
  o.writeInt32LE(progFd, 8);
  o.writeUInt32LE(TC_HANDLE, 20);
  o.writeUInt32LE(TC_HANDLE, 24);
  return o;
}

/** A flow of the program a previous daemon left on an interface (struct flow_key, struct flow_val; IPv6: flow_key6, flow_val6). */
export interface AdoptedFlow {
  readonly key: Uint8Array;
  readonly val: Uint8Array;
}

/** struct bpf_prog_info: nr_map_ids and map_ids; struct bpf_map_info: key_size, value_size, name (uapi offsets). */
const PROG_INFO = { NR_MAP_IDS: 52, MAP_IDS: 56, BYTES: 256 } as const;
const MAP_INFO = { KEY_SIZE: 8, VALUE_SIZE: 12, NAME: 24, BYTES: 128 } as const;
/** At most this many flows are taken over (the map's size). */
const ADOPT_MAX = 1 << 20;

/**
 * The flows in the `flows` and `flows6` maps of our tc filter on `ifindex`, if one is there (a daemon that was
 * killed left it running: the kernel still carries its connections). Read before the filter is
 * replaced, so that the new program's map can carry them on. Best effort: [] when anything differs.
 */
export function leftFlows(ifindex: number): AdoptedFlow[] {
  const b = libbpf();
  const opts = tcOpts(0);
  if ((b.tcQuery!(tcHook(ifindex), opts) as number) !== 0) return [];
  const progId = opts.readUInt32LE(16);
  const progFd = progId ? (b.progById!(progId) as number) : -1;
  if (progFd < 0) return [];
  const ids = sys.calloc(16, 4) as bigint;
  const out: AdoptedFlow[] = [];
  try {
    const info = Buffer.alloc(PROG_INFO.BYTES);
    info.writeUInt32LE(16, PROG_INFO.NR_MAP_IDS);
    info.writeBigUInt64LE(ids, PROG_INFO.MAP_IDS);
    const len = Buffer.alloc(4);
    len.writeUInt32LE(info.length);
    if ((b.objInfo!(progFd, info, len) as number) !== 0) return [];
    const idv = new Uint32Array(view(ids, 64));
    for (let i = 0; i < Math.min(16, info.readUInt32LE(PROG_INFO.NR_MAP_IDS)); i++) {
      const fd = b.mapById!(idv[i]!) as number;
      if (fd < 0) continue;
      try {
        const m = Buffer.alloc(MAP_INFO.BYTES);
        len.writeUInt32LE(m.length);
        if ((b.objInfo!(fd, m, len) as number) !== 0) continue;
        const name = m.subarray(MAP_INFO.NAME, MAP_INFO.NAME + 16).toString('latin1').replace(/\0.*$/s, '');
        // `flows` and (IPv6) `flows6`, told apart by their key size afterwards.
        const [kb, vb] = name === 'flows' ? [KEY_BYTES, VAL_BYTES] : name === 'flows6' ? [KEY6_BYTES, VAL6_BYTES] : [0, 0];
        if (kb === 0 || m.readUInt32LE(MAP_INFO.KEY_SIZE) !== kb || m.readUInt32LE(MAP_INFO.VALUE_SIZE) !== vb) continue;
        const key = Buffer.alloc(kb), next = Buffer.alloc(kb), val = Buffer.alloc(vb);
        let prev: Buffer | null = null;
        while (out.length < ADOPT_MAX && (b.nextKey!(fd, prev, next) as number) === 0) {
          if ((b.lookup!(fd, next, val) as number) === 0) out.push({ key: Uint8Array.from(next), val: Uint8Array.from(val) });
          next.copy(key);
          prev = key;
        }
      } finally {
        sys.close(fd);
      }
    }
  } finally {
    sys.free(ids);
    sys.close(progFd);
  }
  return out;
}

/** Removes our tc filter from `ifname` if one is there (what a crashed daemon left). */
export function removeStaleTcFilter(ifindex: number): void {
  libbpf().tcDetach!(tcHook(ifindex), tcOpts(0));
}

export class KernelFastPath {
  readonly flows: FlowMap;
  /** IPv6 flows, DR and NAT (`flows6`: struct flow_key6 -> struct flow_val6). */
  readonly flows6: FlowMap;
  readonly ifindexes: ReadonlySet<number>;
  /** The ring buffer's descriptor: readable when events wait. */
  readonly eventFd: number;
  private readonly links: unknown[] = [];
  /** tc: interfaces with our filter. */
  private readonly tcAttached: { ifindex: number; name: string }[] = [];
  private readonly cons: BigUint64Array;
  private readonly prod: BigUint64Array;
  private readonly data: DataView;
  private readonly consPtr: bigint;
  private readonly prodPtr: bigint;
  private readonly aheadPtr: bigint;
  private readonly aheadLen: number;
  /** The `ahead` array map, mmap'd: written directly (fastpath-ahead.ts). */
  readonly aheadMem: ArrayBuffer;
  private readonly svcsFd: number;
  private readonly progFd: number;
  /** The `ctl` array map, mmap'd: the heartbeat and its bounds (u64 words, struct ctl). */
  private readonly ctlPtr: bigint;
  private readonly ctl: BigUint64Array;
  /** Flows taken over from the filter a previous daemon left (tc): host.ts binds them to the engine's connections. */
  readonly adopted: AdoptedFlow[] = [];
  private readonly svcKey = Buffer.alloc(8);
  private readonly svcKey6 = Buffer.alloc(20);
  private readonly svcs6Fd: number;
  private readonly svcVal = Buffer.alloc(4);
  private closed = false;

  private constructor(private readonly obj: unknown, readonly kind: FastPathKind, ifaces: readonly string[], readonly bounds: HeartbeatBounds) {
    const b = libbpf();
    const prog = b.prog!(obj, kind === 'tc' ? 'tsvs_tc' : 'tsvs_xdp');
    this.progFd = prog ? (b.progFd!(prog) as number) : -1;
    const flowsFd = b.mapFd!(obj, 'flows') as number;
    const flows6Fd = b.mapFd!(obj, 'flows6') as number;
    this.eventFd = b.mapFd!(obj, 'events') as number;
    if (!prog || flowsFd < 0 || flows6Fd < 0 || this.eventFd < 0) throw new FastPathError('bpf/tsvs_fastpath.c: program or maps missing from the object');
    this.flows = new BpfFlowMap(flowsFd);
    this.flows6 = new BpfFlowMap(flows6Fd, VAL6_BYTES);
    // Ring buffer: the consumer position page (ours to write), then the producer position page
    // and the data, mapped twice in a row so that a record never wraps (kernel ringbuf layout).
    this.consPtr = sys.mmap(null, PAGE, C.PROT_READ | C.PROT_WRITE, C.MAP_SHARED, this.eventFd, 0) as bigint;
    if (this.consPtr === MAP_FAILED) throw new FastPathError(`mmap(events consumer): errno ${koffi.errno()}`);
    this.prodPtr = sys.mmap(null, PAGE + 2 * RINGBUF_BYTES, C.PROT_READ, C.MAP_SHARED, this.eventFd, PAGE) as bigint;
    if (this.prodPtr === MAP_FAILED) throw new FastPathError(`mmap(events producer): errno ${koffi.errno()}`);
    this.cons = new BigUint64Array(view(this.consPtr, PAGE), 0, 1);
    this.prod = new BigUint64Array(view(this.prodPtr, PAGE), 0, 1);
    this.data = new DataView(view(this.prodPtr + BigInt(PAGE), 2 * RINGBUF_BYTES));
    const aheadFd = b.mapFd!(obj, 'ahead') as number;
    this.svcsFd = b.mapFd!(obj, 'svcs') as number;
    this.svcs6Fd = b.mapFd!(obj, 'svcs6') as number;
    if (aheadFd < 0 || this.svcsFd < 0 || this.svcs6Fd < 0) throw new FastPathError('bpf/tsvs_fastpath.c: maps ahead/svcs missing from the object');
    this.aheadLen = Math.ceil((AHEAD_RINGS * AHEAD_RING_BYTES) / PAGE) * PAGE;
    this.aheadPtr = sys.mmap(null, this.aheadLen, C.PROT_READ | C.PROT_WRITE, C.MAP_SHARED, aheadFd, 0) as bigint;
    if (this.aheadPtr === MAP_FAILED) throw new FastPathError(`mmap(ahead): errno ${koffi.errno()}`);
    this.aheadMem = view(this.aheadPtr, this.aheadLen);
    const ctlFd = b.mapFd!(obj, 'ctl') as number;
    if (ctlFd < 0) throw new FastPathError('bpf/tsvs_fastpath.c: map ctl missing from the object');
    this.ctlPtr = sys.mmap(null, PAGE, C.PROT_READ | C.PROT_WRITE, C.MAP_SHARED, ctlFd, 0) as bigint;
    if (this.ctlPtr === MAP_FAILED) throw new FastPathError(`mmap(ctl): errno ${koffi.errno()}`);
    this.ctl = new BigUint64Array(view(this.ctlPtr, PAGE), 0, 5);
    // The bounds and a first heartbeat before the program sees a packet.
    this.ctl[CTL_STALE] = BigInt(bounds.staleMs) * 1_000_000n;
    this.ctl[CTL_ORPHAN] = BigInt(bounds.orphanMs) * 1_000_000n;
    this.heartbeat();
    const idx = new Set<number>();
    try {
      for (const name of ifaces) {
        const i = ifIndex(name);
        if (kind === 'xdp') {
          const link = b.attachXdp!(prog, i);
          if (!link) throw new FastPathError(`cannot attach XDP to ${name}: errno ${koffi.errno()}`);
          this.links.push(link);
        } else {
          const hook = tcHook(i);
          const c = b.tcHookCreate!(hook) as number;
          if (c !== 0 && c !== -17) throw new FastPathError(`cannot add a clsact qdisc to ${name}: errno ${-c}`);
          // What a killed daemon's program still carries goes on in ours (the new daemon binds
          // the connections again: host.ts), then its filter goes.
          for (const f of leftFlows(i)) if ((f.key.length === KEY6_BYTES ? this.flows6 : this.flows).put(f.key, f.val)) this.adopted.push(f);
          removeStaleTcFilter(i);
          const r = b.tcAttach!(hook, tcOpts(b.progFd!(prog) as number)) as number;
          if (r !== 0) {
            throw new FastPathError(`cannot attach the tc filter to ${name}: errno ${-r}`);
          }
          this.tcAttached.push({ ifindex: i, name });
        }
        idx.add(i);
      }
    } catch (e) {
      this.detach();
      throw e;
    }
    this.ifindexes = idx;
  }

  /** Builds (if needed), loads and attaches the program on `ifaces`. Throws FastPathError. */
  static open(ifaces: readonly string[], kind: FastPathKind, bounds: HeartbeatBounds): KernelFastPath {
    const path = fastPathObject();
    const b = libbpf();
    const obj = b.open!(path, null);
    if (!obj) throw new FastPathError(`cannot open ${path}: errno ${koffi.errno()}`);
    const r = b.load!(obj) as number;
    if (r !== 0) {
      b.close!(obj);
      throw new FastPathError(`the kernel refused the fast path program (${path}): errno ${-r}`);
    }
    try {
      return new KernelFastPath(obj, kind, ifaces, bounds);
    } catch (e) {
      b.close!(obj);
      throw e;
    }
  }

  private detach(): void {
    const b = libbpf();
    for (const l of this.links.splice(0)) b.destroyLink!(l);
    for (const t of this.tcAttached.splice(0)) {
      b.tcDetach!(tcHook(t.ifindex), tcOpts(0));
      // The clsact qdisc goes too unless someone else's filters are on it.
      const others = ['ingress', 'egress'].some((dir) => {
        try {
          return execFileSync('tc', ['filter', 'show', 'dev', t.name, dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '';
        } catch {
          return true;
        }
      });
      if (!others) {
        const both = tcHook(t.ifindex);
        both.writeUInt32LE(BPF_TC_INGRESS | BPF_TC_EGRESS, 12);
        b.tcHookDestroy!(both);
      }
    }
  }

  /**
   * Runs the attached program once on `frame` in the kernel (BPF_PROG_TEST_RUN: nothing is sent;
   * a redirect only shows in the return code): tc TC_ACT_OK 0 / TC_ACT_REDIRECT 7, XDP
   * XDP_PASS 2 / XDP_TX 3 / XDP_REDIRECT 4, and the frame as the program left it. `gso`: run it
   * (tc) on a GSO super-packet of `segs` segments of `size` payload bytes. `checksumComplete` (tc,
   * Linux 6.11+: BPF_F_TEST_SKB_CHECKSUM_COMPLETE): the socket buffer arrives as from a NIC that
   * delivers CHECKSUM_COMPLETE (skb->csum: the sum from the network header on), and the run fails
   * (errno 74, EBADMSG) when the program left skb->csum unequal to the output packet's sum; an
   * older kernel refuses the flag (errno 22). For tests.
   */
  testRun(frame: Uint8Array, gso?: { segs: number; size: number }, opts?: { checksumComplete?: boolean }): { retval: number; out: Uint8Array } {
    // The kernel follows the pointers in the options: the frames live in malloc'd memory.
    const outLen = frame.length + 256;
    const mem = sys.calloc(1, frame.length + outLen + SKB_CTX_BYTES) as bigint;
    if (!mem) throw new FastPathError('calloc failed');
    try {
      new Uint8Array(view(mem, frame.length)).set(frame);
      const o = Buffer.alloc(TEST_RUN_OPTS_BYTES);
      o.writeBigUInt64LE(BigInt(TEST_RUN_OPTS_BYTES), 0);
      o.writeBigUInt64LE(mem, 8);
      o.writeBigUInt64LE(mem + BigInt(frame.length), 16);
      o.writeUInt32LE(frame.length, 24);
      o.writeUInt32LE(outLen, 28);
      if (gso) {
        // A struct __sk_buff context (tc): the socket buffer is a GSO super-packet.
        const ctx = mem + BigInt(frame.length + outLen);
        const c = new DataView(view(ctx, SKB_CTX_BYTES));
        c.setUint32(SKB_GSO_SEGS, gso.segs, true);
        c.setUint32(SKB_GSO_SIZE, gso.size, true);
        o.writeBigUInt64LE(ctx, 32); // ctx_in
        o.writeUInt32LE(SKB_CTX_BYTES, 48); // ctx_size_in
      }
      o.writeInt32LE(1, 60); // repeat
      if (opts?.checksumComplete) o.writeUInt32LE(TEST_SKB_CHECKSUM_COMPLETE, 68); // flags
      const r = libbpf().testRun!(this.progFd, o) as number;
      if (r === -74) throw new FastPathError('BPF_PROG_TEST_RUN: errno 74: skb->csum left inconsistent with the packet (CHECKSUM_COMPLETE)');
      if (r !== 0) throw new FastPathError(`BPF_PROG_TEST_RUN: errno ${-r}`);
      const n = o.readUInt32LE(28);
      return { retval: o.readUInt32LE(56), out: new Uint8Array(view(mem + BigInt(frame.length), n)).slice() };
    } finally {
      sys.free(mem);
    }
  }

  /** Services with decisions ahead: the program looks `vip:vport/proto` up for a new connection's ring. */
  setAheadService(vip: number, vport: number, proto: number, ring: number | null): void {
    const k = this.svcKey;
    k.writeUInt32BE(vip >>> 0, 0);
    k.writeUInt16BE(vport, 4);
    k[6] = proto;
    k[7] = 0;
    if (ring === null) {
      libbpf().del!(this.svcsFd, k);
      return;
    }
    this.svcVal.writeUInt32LE(ring, 0);
    libbpf().update!(this.svcsFd, k, this.svcVal, 0n);
  }

  /** IPv6 services with decisions ahead (`svcs6`: `[vip6]:vport/proto`, the address as 4 host-order words). */
  setAheadService6(vip: ArrayLike<number>, vport: number, proto: number, ring: number | null): void {
    const k = this.svcKey6;
    for (let i = 0; i < 4; i++) k.writeUInt32BE(vip[i]! >>> 0, 4 * i);
    k.writeUInt16BE(vport, 16);
    k[18] = proto;
    k[19] = 0;
    if (ring === null) {
      libbpf().del!(this.svcs6Fd, k);
      return;
    }
    this.svcVal.writeUInt32LE(ring, 0);
    libbpf().update!(this.svcs6Fd, k, this.svcVal, 0n);
  }

  /**
   * The daemon is alive: CLOCK_MONOTONIC now (the clock of bpf_ktime_get_ns; libuv's hrtime
   * reads it) into the program's `ctl` map. Called every HEARTBEAT_MS.
   */
  heartbeat(agoMs = 0): void {
    // `agoMs`: a heartbeat that old (tests of the bounds).
    Atomics.store(this.ctl, CTL_BEAT, process.hrtime.bigint() - BigInt(agoMs) * 1_000_000n);
  }

  /** What the program left to the kernel for want of a heartbeat (struct ctl's counters). */
  heartbeatCounters(): { staleNew: number; orphanPassed: number } {
    return { staleNew: Number(Atomics.load(this.ctl, CTL_STALE_NEW)), orphanPassed: Number(Atomics.load(this.ctl, CTL_ORPHAN_PASSED)) };
  }

  /** Whether events wait (one read of each position, no system call). */
  hasEvents(): boolean {
    return Atomics.load(this.prod, 0) !== this.cons[0];
  }

  /** Calls `on` for each waiting event, oldest first; returns how many. */
  readEvents(on: (e: FlowEvent) => void, ev: FlowEvent): number {
    // Positions as Numbers (exact to 2^53 bytes), counters read as two 32-bit halves: no BigInt
    // per report (a new NAT connection's five made BigInt conversions a tenth of this loop). The
    // consumer position is published every 64 reports and at the end.
    let cons = Number(this.cons[0]!);
    const prod = Number(Atomics.load(this.prod, 0));
    let n = 0;
    const d = this.data;
    while (cons < prod) {
      const off = cons % RINGBUF_BYTES;
      const hdr = d.getUint32(off, true);
      if (hdr & 0x80000000) break; // still being written
      const len = hdr & 0x3fffffff;
      if (!(hdr & 0x40000000) && len >= EVENT_BYTES) {
        // struct flow_event, flow_event6 or flow_end (told by length): the addresses, then the same fields.
        const p = off + 8;
        let q: number;
        if (len === EVENT6_BYTES || len === END6_BYTES) {
          const s6 = ev.saddr6 ??= new Uint32Array(4), d6 = ev.daddr6 ??= new Uint32Array(4);
          for (let i = 0; i < 4; i++) {
            s6[i] = d.getUint32(p + 4 * i, false);
            d6[i] = d.getUint32(p + 16 + 4 * i, false);
          }
          ev.af = 6;
          ev.saddr = ev.daddr = 0;
          q = p + 32;
        } else {
          ev.af = 4;
          ev.saddr = d.getUint32(p, false);
          ev.daddr = d.getUint32(p + 4, false);
          q = p + 8;
        }
        ev.sport = d.getUint16(q, false);
        ev.dport = d.getUint16(q + 2, false);
        ev.proto = d.getUint8(q + 4);
        ev.flags = d.getUint8(q + 5);
        ev.len = d.getUint16(q + 6, true);
        ev.pkts = d.getUint32(q + 8, true) + d.getUint32(q + 12, true) * 0x1_0000_0000;
        ev.bytes = d.getUint32(q + 16, true) + d.getUint32(q + 20, true) * 0x1_0000_0000;
        ev.kind = d.getUint32(q + 24, true);
        ev.token = d.getUint32(q + 28, true);
        // struct flow_end: one object per NAT connection's end (not reused: a reader may keep it).
        ev.end = len === END_BYTES || len === END6_BYTES ? {
          peerPkts: d.getUint32(q + 32, true) + d.getUint32(q + 36, true) * 0x1_0000_0000, peerBytes: d.getUint32(q + 40, true) + d.getUint32(q + 44, true) * 0x1_0000_0000,
          finLen: d.getUint16(q + 48, true), peerFinLen: d.getUint16(q + 50, true), fin: d.getUint8(q + 52), finFlags: d.getUint8(q + 53), peerFinFlags: d.getUint8(q + 54),
        } : null;
        try {
          on(ev);
        } catch (e) {
          Atomics.store(this.cons, 0, BigInt(cons)); // the reports before this one are consumed
          throw e;
        }
        n++;
      }
      cons += (len + 8 + 7) & ~7;
      if ((n & 63) === 0) Atomics.store(this.cons, 0, BigInt(cons));
    }
    Atomics.store(this.cons, 0, BigInt(cons));
    return n;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const b = libbpf();
    this.detach();
    sys.munmap(this.aheadPtr, this.aheadLen);
    sys.munmap(this.ctlPtr, PAGE);
    sys.munmap(this.consPtr, PAGE);
    sys.munmap(this.prodPtr, PAGE + 2 * RINGBUF_BYTES);
    b.close!(this.obj);
  }
}
