// SPDX-License-Identifier: GPL-2.0
/*
 * tsvs kernel fast path: forwards the packets of DR connections the engine has already decided,
 * without waking user space (docs/PACKET-FORWARDER.md, "Kernel fast path"). One step, two hooks:
 * tc ingress (`tsvs_tc`, the default) and XDP (`tsvs_xdp`).
 *
 * The engine stays the only one that decides. User space installs an entry in `flows` for a
 * direct-routing connection it forwarded (key: the client's 5-tuple toward the VIP; value: the
 * real server's MAC, ours, the egress interface and MTU). For a packet of such a flow this program
 * does what src/packet/forward.ts does for `route`: TTL decrement (checksum updated
 * incrementally) and the two MAC addresses, then sends it out. Everything else is left to the
 * kernel, where the AF_PACKET rings see it as before: packets of other flows, SYNs (the engine
 * may reschedule), IP options, fragments, TTL <= 1, frames over the MTU, VLAN tags.
 *
 * Packets that change the connection's state are forwarded too, and reported on the `events`
 * ring buffer so that the engine steps its state machine on them (FIN, RST, and the first ACK of
 * a connection installed in SYN_RECV): the same "forward now, tell the engine in order right
 * after" the ring workers' decision caches do. The other packets are only counted in the entry
 * (packets, bytes, last time), which user space reads and hands to the engine.
 *
 * Self-contained on purpose (no kernel or libbpf headers): only clang is needed to build it.
 */
typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;

#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name

enum { XDP_ABORTED = 0, XDP_DROP, XDP_PASS, XDP_TX, XDP_REDIRECT };
enum { TC_ACT_OK = 0, TC_ACT_SHOT = 2 };
enum { BPF_MAP_TYPE_HASH = 1, BPF_MAP_TYPE_RINGBUF = 27 };

struct xdp_md {
  __u32 data;
  __u32 data_end;
  __u32 data_meta;
  __u32 ingress_ifindex;
  __u32 rx_queue_index;
  __u32 egress_ifindex;
};

/* The first fields of the kernel's struct __sk_buff, up to data_end (offsets are ABI). */
struct __sk_buff {
  __u32 len;
  __u32 pkt_type;
  __u32 mark;
  __u32 queue_mapping;
  __u32 protocol;
  __u32 vlan_present;
  __u32 vlan_tci;
  __u32 vlan_proto;
  __u32 priority;
  __u32 ingress_ifindex;
  __u32 ifindex;
  __u32 tc_index;
  __u32 cb[5];
  __u32 hash;
  __u32 tc_classid;
  __u32 data;
  __u32 data_end;
};

static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_map_delete_elem)(void *map, const void *key) = (void *)3;
static __u64 (*bpf_ktime_get_ns)(void) = (void *)5;
static long (*bpf_redirect)(__u32 ifindex, __u64 flags) = (void *)23;
static long (*bpf_skb_pull_data)(void *skb, __u32 len) = (void *)39;
static long (*bpf_ringbuf_output)(void *ringbuf, void *data, __u64 size, __u64 flags) = (void *)130;
static __u64 (*bpf_ringbuf_query)(void *ringbuf, __u64 flags) = (void *)134;
#define BPF_RB_NO_WAKEUP 1
#define BPF_RB_FORCE_WAKEUP 2
#define BPF_RB_AVAIL_DATA 0
/* Wake user space only when the ring buffer is a quarter full; else it reads the events on its
 * own: before deciding each batch of ring packets, every 20 ms, and before every listing. */
#define WAKE_AT (1 << 18)

/* Network byte order throughout, as on the wire. 16 bytes. */
struct flow_key {
  __u32 saddr;
  __u32 daddr;
  __u16 sport;
  __u16 dport;
  __u32 proto;
};

/* 48 bytes; user space writes the first 24 and reads the counters. */
struct flow_val {
  __u8 dmac[6];
  __u8 smac[6];
  __u32 ifindex;
  __u16 mtu;
  __u8 need_ack; /* installed in SYN_RECV: report the first ACK */
  __u8 pad;
  __u32 pad2;
  __u64 pkts;
  __u64 bytes;
  __u64 last_ns;
};

/*
 * A packet the engine must step its state machine on (already forwarded). 32 bytes. For a FIN or
 * RST the program has removed the flow (user space would, on the engine's verdict) and `pkts`,
 * `bytes` carry its last counters, so that user space needs no system call to settle them.
 */
struct flow_event {
  __u32 saddr;
  __u32 daddr;
  __u16 sport;
  __u16 dport;
  __u8 proto;
  __u8 flags;
  __u16 len; /* IP total length, host order */
  __u64 pkts;
  __u64 bytes;
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, struct flow_key);
  __type(value, struct flow_val);
} flows SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 20);
} events SEC(".maps");

#define bswap16(x) __builtin_bswap16(x)
#define FWD 1
#define PASS 0

/*
 * The shared step: PASS, or FWD with the frame rewritten and *ifindex set to the egress device.
 * `linear_end` is where directly readable data ends.
 */
static __attribute__((always_inline)) int fast_step(void *data, void *end, __u32 *ifindex) {
  __u8 *eth = data;
  if ((void *)(eth + 14 + 20) > end) return PASS;
  if (*(__u16 *)(eth + 12) != bswap16(0x0800)) return PASS;
  __u8 *ip = eth + 14;
  if (ip[0] != 0x45) return PASS;                       /* IPv4 without options */
  if (*(__u16 *)(ip + 6) & bswap16(0x3fff)) return PASS; /* a fragment */
  if (ip[8] <= 1) return PASS;                           /* time exceeded: user space answers */
  __u16 tot = bswap16(*(__u16 *)(ip + 2));
  if (tot < 28) return PASS;                             /* malformed: counted there */
  __u8 proto = ip[9];
  __u8 *l4 = ip + 20;
  __u8 flags = 0;
  if (proto == 6) {
    if ((void *)(l4 + 20) > end) return PASS;
    flags = l4[13];
    if (flags & 0x02) return PASS; /* SYN: the engine may reschedule */
  } else if (proto == 17) {
    if ((void *)(l4 + 8) > end) return PASS;
  } else {
    return PASS;
  }
  struct flow_key k;
  k.saddr = *(__u32 *)(ip + 12);
  k.daddr = *(__u32 *)(ip + 16);
  k.sport = *(__u16 *)l4;
  k.dport = *(__u16 *)(l4 + 2);
  k.proto = proto;
  struct flow_val *v = bpf_map_lookup_elem(&flows, &k);
  if (!v) return PASS;
  if (tot > v->mtu) return PASS; /* too big: user space sends fragmentation-needed */

  int first_ack = proto == 6 && v->need_ack && (flags & 0x10);
  int ends = (flags & 0x05) != 0; /* FIN, RST: the connection leaves ESTABLISHED */
  if (ends || first_ack) {
    struct flow_event ev = { k.saddr, k.daddr, k.sport, k.dport, proto, flags, tot, 0, 0 };
    if (ends) {
      ev.pkts = v->pkts;
      ev.bytes = v->bytes;
    }
    /* No room: user space sees the packet itself and decides it as usual. */
    __u64 wake = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= WAKE_AT ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
    if (bpf_ringbuf_output(&events, &ev, sizeof(ev), wake) != 0) return PASS;
    if (first_ack) v->need_ack = 0;
  } else {
    __sync_fetch_and_add(&v->pkts, 1);
    __sync_fetch_and_add(&v->bytes, tot);
    v->last_ns = bpf_ktime_get_ns();
  }

  /* TTL - 1 with the header checksum updated as ip_decrease_ttl does. */
  __u32 check = *(__u16 *)(ip + 10);
  check += bswap16(0x0100);
  *(__u16 *)(ip + 10) = (__u16)(check + (check >= 0xffff));
  ip[8]--;

  __builtin_memcpy(eth, v->dmac, 6);
  __builtin_memcpy(eth + 6, v->smac, 6);
  *ifindex = v->ifindex;
  /* Last use of v: a removed element may be reused at once by another CPU's update. */
  if (ends) bpf_map_delete_elem(&flows, &k);
  return FWD;
}

/* XDP (native): before any socket buffer exists. Bounces out of the same device or redirects. */
SEC("xdp")
int tsvs_xdp(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data;
  void *end = (void *)(long)ctx->data_end;
  __u32 ifindex = 0;
  if (fast_step(data, end, &ifindex) != FWD) return XDP_PASS;
  if (ifindex == ctx->ingress_ifindex) return XDP_TX;
  return bpf_redirect(ifindex, 0);
}

/*
 * tc ingress (clsact): after the socket buffer exists, before the AF_PACKET taps of one protocol
 * (the forwarder's rings) and netfilter. Sent out through the device's ordinary transmit path.
 */
SEC("tc")
int tsvs_tc(struct __sk_buff *skb) {
  void *data = (void *)(long)skb->data;
  void *end = (void *)(long)skb->data_end;
  if (data + 54 > end) {
    /* Headers not in the linear part: pull them (fails on shorter packets, which then pass). */
    bpf_skb_pull_data(skb, 54);
    data = (void *)(long)skb->data;
    end = (void *)(long)skb->data_end;
  }
  __u32 ifindex = 0;
  if (fast_step(data, end, &ifindex) != FWD) return TC_ACT_OK;
  return bpf_redirect(ifindex, 0);
}

char _license[] SEC("license") = "GPL";
