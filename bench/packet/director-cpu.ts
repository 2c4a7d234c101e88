/**
 * bench/packet's direct reading of the CPU a director itself spends (issue 13 item 3: "the CPU
 * the balancer adds is the figure that shows it"), beside the machine-wide difference to the
 * no-balancer run. director-cpu.bpf.c, attached for the whole bench to four tracepoints
 * (sched_switch, softirq_entry/exit, netif_receive_skb), adds up per CPU, in nanoseconds:
 *
 * - rx: the kernel's receive processing of every frame arriving on an interface of the
 *   director's network namespace (the lab's `dir`), from the start of its __netif_receive_skb_core
 *   to the start of the next frame's or the end of the softirq. For our director that is the taps
 *   (the AF_PACKET rings' filters), tc ingress with our program, its redirect and the transmit into
 *   the next veth; for kernel nftables DNAT the IP stack: conntrack, NAT, routing, forward,
 *   netfilter hooks, neighbour output and the same transmit; for HAProxy the IP and TCP receive
 *   into its sockets (and the ACKs TCP sends from there).
 * - proc: on-CPU time of every task in the director's namespace (our daemon with all its threads
 *   and the `ip` processes it forks, HAProxy), softirqs run in their context excluded. On this
 *   kernel (no IRQ_TIME_ACCOUNTING) /proc/PID/stat gives a process the softirqs that ran on its
 *   stack: a proxy's send on veth runs the real server's receive and nginx's wake-up inside the
 *   proxy's syscall. The transmit a process's syscall does (HAProxy's send down to the veth, our
 *   sendmmsg of ring frames) is counted here, as the transmit inside rx is for the kernel paths.
 *
 * The same rules for every director: what runs in the director's namespace is counted, wherever
 * and on whatever stack it runs; what the frames cost before they reach the director (the
 * sender's transmit, the bridge) and after they leave it (the next hop's receive) is not. Not
 * counted either: work deferred out of the packet path to kernel threads or timers (conntrack's
 * garbage collector and the destruction of DNAT's entries, which here happen after the run;
 * TCP timers of a proxy's sockets: delayed ACKs; RCU callbacks), and extra work a director
 * causes elsewhere (a proxy's two connections mean more frames for the client and real servers
 * to receive): the machine-wide difference (run.ts) counts those.
 *
 * The probes cost CPU themselves (each frame anywhere on the machine runs one; director-cpu-
 * check.ts measures it): one probe's run falls inside each director stretch, the same per frame
 * for every director.
 */
import koffi from 'koffi';
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const SOURCE = fileURLToPath(new URL('./director-cpu.bpf.c', import.meta.url));
/** struct cpu_state's size (director-cpu.bpf.c), and where its counters start. */
const STATE_BYTES = 56;
const COUNTERS = 24;
/** struct bpf_prog_info: its size up to and with run_cnt, and the offsets of run_time_ns and run_cnt (uapi). */
const PROG_INFO_BYTES = 208, PROG_RUN_TIME_NS = 192, PROG_RUN_CNT = 200;

export interface DirectorCpu {
  /** On-CPU ns of the director namespace's tasks (softirqs excluded). */
  readonly procNs: number;
  /** Receive-processing ns of frames that arrived on the director namespace's interfaces. */
  readonly rxNs: number;
  readonly rxFrames: number;
  /** The director's frames received outside a softirq (not attributed; 0 expected on veth). */
  readonly rxTask: number;
}

type Fn = (...a: unknown[]) => unknown;

function possibleCpus(): number {
  const s = readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim();
  return s.split(',').reduce((n, r) => { const [a, b] = r.split('-').map(Number); return n + (b === undefined ? 1 : b - a! + 1); }, 0);
}

export class DirectorCpuTracer {
  private constructor(private readonly lib: Record<string, Fn>, private readonly obj: unknown, private readonly progs: unknown[], private readonly links: unknown[], private readonly cpuFd: number, private readonly cfgFd: number, private readonly ncpu: number) {}

  /** Builds (clang) and loads the program and attaches its four tracepoints; no namespace yet (counts nothing). */
  static open(): DirectorCpuTracer {
    const out = `/run/tsvs/director-cpu-${process.pid}.o`;
    execFileSync(process.env['TSVS_CLANG'] || 'clang', ['-O2', '-g', '-target', 'bpf', '-mcpu=v3', '-c', SOURCE, '-o', out], { stdio: ['ignore', 'ignore', 'inherit'] });
    const l = koffi.load('libbpf.so.1');
    const lib: Record<string, Fn> = {
      progName: l.func('const char *bpf_program__name(void *prog)'),
      progFd: l.func('int bpf_program__fd(void *prog)'),
      info: l.func('int bpf_obj_get_info_by_fd(int fd, void *info, _Inout_ uint32_t *len)'),
      enableStats: l.func('int bpf_enable_stats(int type)'),
      open: l.func('void *bpf_object__open_file(const char *path, void *opts)'),
      load: l.func('int bpf_object__load(void *obj)'),
      close: l.func('void bpf_object__close(void *obj)'),
      next: l.func('void *bpf_object__next_program(void *obj, void *prev)'),
      attach: l.func('void *bpf_program__attach(void *prog)'),
      destroy: l.func('int bpf_link__destroy(void *link)'),
      mapFd: l.func('int bpf_object__find_map_fd_by_name(void *obj, const char *name)'),
      update: l.func('int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)'),
      lookup: l.func('int bpf_map_lookup_elem(int fd, const void *key, _Out_ void *value)'),
    };
    const obj = lib['open']!(out, null);
    rmSync(out, { force: true });
    if (!obj) throw new Error('director-cpu: bpf_object__open_file failed');
    if ((lib['load']!(obj) as number) !== 0) { lib['close']!(obj); throw new Error('director-cpu: bpf_object__load failed (libbpf printed why)'); }
    const links: unknown[] = [], progs: unknown[] = [];
    for (let p = lib['next']!(obj, null); p; p = lib['next']!(obj, p)) {
      const link = lib['attach']!(p);
      if (!link) { for (const k of links) lib['destroy']!(k); lib['close']!(obj); throw new Error(`director-cpu: attach failed (errno ${koffi.errno()})`); }
      links.push(link);
      progs.push(p);
    }
    return new DirectorCpuTracer(lib, obj, progs, links, lib['mapFd']!(obj, 'cpu') as number, lib['mapFd']!(obj, 'cfg') as number, possibleCpus());
  }

  /** Counts for the tasks and interfaces of network namespace `name` (ip netns), or nothing (null). */
  namespace(name: string | null): void {
    const v = Buffer.alloc(4);
    v.writeUInt32LE(name ? statSync(`/run/netns/${name}`).ino : 0);
    this.lib['update']!(this.cfgFd, Buffer.alloc(4), v, 0n);
  }

  /** The counters since the program was loaded, summed over the CPUs (differences give a window). */
  read(): DirectorCpu {
    const b = Buffer.alloc(STATE_BYTES * this.ncpu);
    if ((this.lib['lookup']!(this.cpuFd, Buffer.alloc(4), b) as number) !== 0) throw new Error('director-cpu: map lookup failed');
    const sum = (i: number) => { let s = 0; for (let c = 0; c < this.ncpu; c++) s += Number(b.readBigUInt64LE(c * STATE_BYTES + COUNTERS + i * 8)); return s; };
    return { procNs: sum(0), rxNs: sum(1), rxFrames: sum(2), rxTask: sum(3) };
  }

  /**
   * Turns the kernel's BPF run-time statistics on (kernel.bpf_stats_enabled, for every program:
   * two clock reads per run) until the returned function is called: for director-cpu-check.ts.
   */
  enableStats(): () => void {
    const fd = this.lib['enableStats']!(0) as number; // BPF_STATS_RUN_TIME
    if (fd < 0) throw new Error(`director-cpu: bpf_enable_stats: ${fd}`);
    return () => { koffi.load('libc.so.6').func('int close(int fd)')(fd); };
  }

  /** Each of the tracer's programs: runs and ns spent in them (while the statistics were on). */
  programStats(): { name: string; runNs: number; runs: number }[] {
    return this.progs.map((p) => {
      const info = Buffer.alloc(PROG_INFO_BYTES), len = [PROG_INFO_BYTES];
      this.lib['info']!(this.lib['progFd']!(p), info, len);
      return { name: this.lib['progName']!(p) as string, runNs: Number(info.readBigUInt64LE(PROG_RUN_TIME_NS)), runs: Number(info.readBigUInt64LE(PROG_RUN_CNT)) };
    });
  }

  close(): void {
    for (const k of this.links) this.lib['destroy']!(k);
    this.lib['close']!(this.obj);
  }
}

/** b - a. */
export function cpuDelta(a: DirectorCpu, b: DirectorCpu): DirectorCpu {
  return { procNs: b.procNs - a.procNs, rxNs: b.rxNs - a.rxNs, rxFrames: b.rxFrames - a.rxFrames, rxTask: b.rxTask - a.rxTask };
}
