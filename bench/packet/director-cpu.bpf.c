// SPDX-License-Identifier: GPL-2.0
/*
 * bench/packet's direct reading of a director's CPU (director-cpu.ts loads it; the method is in
 * its header and in bench/RESULTS.md). Every nanosecond a CPU spends in one of two kinds of work
 * of the director's network namespace (`cfg[0]`, its inode number) is added up per CPU:
 *
 * - rx: the kernel's receive processing of a frame that arrived on an interface of that
 *   namespace, from the netif_receive_skb tracepoint (the start of __netif_receive_skb_core) to
 *   the next one or the end of the softirq: taps, tc ingress (our program, its redirect and the
 *   transmit into the next veth), or the IP stack (netfilter, conntrack, NAT, routing, forward,
 *   transmit; TCP delivery to a proxy's sockets). On veth a transmit only queues the frame for the
 *   peer's backlog, so these stretches do not nest: each frame's processing ends where the next
 *   frame's (another namespace's, say) begins.
 * - proc: on-CPU time of tasks whose network namespace is the director's (the daemon with all its
 *   threads and children, HAProxy), from sched_switch to sched_switch, minus the softirqs run
 *   meanwhile in their context (this kernel has no IRQ_TIME_ACCOUNTING: /proc/PID/stat counts
 *   those softirqs, e.g. the real server's receive of what a proxy just sent, to the process).
 *
 * Self-contained (no kernel or libbpf headers): CO-RE relocations by field name against the
 * running kernel's BTF (preserve_access_index).
 */
typedef unsigned int __u32;
typedef unsigned long long __u64;

#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
#define CORE __attribute__((preserve_access_index))

enum { BPF_MAP_TYPE_ARRAY = 2, BPF_MAP_TYPE_PERCPU_ARRAY = 6 };
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static __u64 (*bpf_ktime_get_ns)(void) = (void *)5;
static struct task_struct *(*bpf_get_current_task_btf)(void) = (void *)158;

struct ns_common { unsigned int inum; } CORE;
struct net { struct ns_common ns; } CORE;
struct nsproxy { struct net *net_ns; } CORE;
struct task_struct { struct nsproxy *nsproxy; } CORE;
struct net_device { struct { struct net *net; } nd_net; } CORE;
struct sk_buff { struct net_device *dev; } CORE;

struct cpu_state {
  __u64 t0;         /* start of the open director stretch */
  __u32 known;      /* task_dir computed for this CPU */
  __u32 softirq;    /* inside a softirq */
  __u32 task_dir;   /* the current task is in the director's namespace */
  __u32 rx_dir;     /* inside the receive of a director's frame */
  __u64 proc_ns;    /* director tasks on CPU, softirqs excluded */
  __u64 rx_ns;      /* receive processing of the director's frames */
  __u64 rx_frames;  /* frames received on the director's interfaces */
  __u64 rx_task;    /* the director's frames received outside a softirq (not attributed; expected 0) */
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct cpu_state);
} cpu SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u32);
} cfg SEC(".maps");

static __u32 dir_inum(void) {
  __u32 k = 0;
  __u32 *v = bpf_map_lookup_elem(&cfg, &k);
  return v ? *v : 0;
}

static __u32 task_in_dir(struct task_struct *t, __u32 want) {
  if (!t || !want) return 0;
  struct nsproxy *p = t->nsproxy;
  if (!p) return 0; /* an exiting task */
  struct net *n = p->net_ns;
  return n && n->ns.inum == want;
}

static struct cpu_state *state(void) {
  __u32 k = 0;
  return bpf_map_lookup_elem(&cpu, &k);
}

SEC("tp_btf/sched_switch")
int on_switch(__u64 *ctx) {
  struct cpu_state *s = state();
  if (!s) return 0;
  struct task_struct *next = (struct task_struct *)ctx[2];
  __u32 want = dir_inum();
  __u32 nd = task_in_dir(next, want);
  if (!s->task_dir && !nd) { s->known = 1; return 0; }
  __u64 now = bpf_ktime_get_ns();
  if (s->known && s->task_dir && !s->softirq) s->proc_ns += now - s->t0;
  s->known = 1;
  s->task_dir = nd;
  if (nd) s->t0 = now;
  return 0;
}

SEC("tp_btf/softirq_entry")
int on_softirq_entry(__u64 *ctx) {
  struct cpu_state *s = state();
  if (!s) return 0;
  if (!s->known) { s->task_dir = task_in_dir(bpf_get_current_task_btf(), dir_inum()); s->known = 1; s->t0 = bpf_ktime_get_ns(); }
  if (s->task_dir && !s->softirq) s->proc_ns += bpf_ktime_get_ns() - s->t0;
  s->softirq = 1;
  s->rx_dir = 0;
  return 0;
}

SEC("tp_btf/softirq_exit")
int on_softirq_exit(__u64 *ctx) {
  struct cpu_state *s = state();
  if (!s) return 0;
  if (!s->rx_dir && !s->task_dir) { s->softirq = 0; return 0; }
  __u64 now = bpf_ktime_get_ns();
  if (s->rx_dir) s->rx_ns += now - s->t0;
  s->rx_dir = 0;
  s->softirq = 0;
  s->t0 = now; /* the interrupted task's stretch goes on (counted when task_dir) */
  return 0;
}

SEC("tp_btf/netif_receive_skb")
int on_rx(__u64 *ctx) {
  struct cpu_state *s = state();
  if (!s) return 0;
  struct sk_buff *skb = (struct sk_buff *)ctx[0];
  struct net_device *dev = skb->dev;
  __u32 want = dir_inum();
  __u32 d = 0;
  if (dev && want) {
    struct net *n = dev->nd_net.net;
    d = n && n->ns.inum == want;
  }
  /* In a task's context (a tun device's write: the TUN lab's decapsulation agent on the real
   * servers): no end to the stretch to be seen; a director's frame there is only counted. */
  if (!s->softirq) { if (d) s->rx_task++; return 0; }
  if (!s->rx_dir && !d) return 0;
  __u64 now = bpf_ktime_get_ns();
  if (s->rx_dir) s->rx_ns += now - s->t0;
  s->rx_dir = d;
  if (d) { s->t0 = now; s->rx_frames++; }
  return 0;
}

char _license[] SEC("license") = "GPL";
