// SPDX-License-Identifier: GPL-2.0
/*
 * tsvs kernel fast path: forwards the packets of DR connections the engine has already decided,
 * without waking user space (docs/PACKET-FORWARDER.md, "Kernel fast path"). One step, two hooks:
 * tc ingress (`tsvs_tc`, the default) and XDP (`tsvs_xdp`). NAT connections (both directions:
 * destination rewritten on the client's packets, source on the replies) only on tc, new ones
 * included (a NAT decision ahead: the SYN rewritten here, the server's SYN-ACK carried back), and
 * tunnel connections (IPIP, GRE without checksum: IPv4 in IPv4) likewise encapsulated on tc.
 * IPv6 DR and NAT connections (decisions ahead included) in a map of their own (fast_step6 below).
 *
 * The engine stays the only one that decides. User space installs an entry in `flows` for a
 * direct-routing connection it forwarded (key: the client's 5-tuple toward the VIP; value: the
 * real server's MAC, ours, the egress interface and MTU). For a packet of such a flow this program
 * does what src/codec/forward.ts does for `route`: TTL decrement (checksum updated
 * incrementally) and the two MAC addresses, then sends it out. Everything else is left to the
 * kernel, where the AF_PACKET rings see it as before: packets of other flows, SYNs (the engine
 * may reschedule), IP options, fragments, TTL <= 1, frames over the MTU, VLAN tags. A GSO
 * super-packet (TSO/GSO on the sender: the default on veth) is checked by its segments' size and
 * sent on whole, as the kernel's own forwarding does: the egress device segments it, or passes it
 * on as it is.
 *
 * Packets that change the connection's state are forwarded too, and reported on the `events`
 * ring buffer so that the engine steps its state machine on them (FIN, RST; the first ACK of a
 * connection installed in SYN_RECV is recorded in its entry, see ACK_SEEN): the same "forward now, tell the engine in order right
 * after" the ring workers' decision caches do. The other packets are only counted in the entry
 * (packets, bytes, last time), which user space reads and hands to the engine. A NAT connection's
 * close stays here too: its FINs are recorded in both entries (not reported, as the first ACK),
 * and the last ACK (or a RST) ends both with one report that carries the FINs (EV_END below), so
 * that no packet of it crosses user space.
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
enum { BPF_MAP_TYPE_HASH = 1, BPF_MAP_TYPE_ARRAY = 2, BPF_MAP_TYPE_LRU_HASH = 9, BPF_MAP_TYPE_RINGBUF = 27 };

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
  __u32 napi_id;
  __u32 family;
  __u32 remote_ip4;
  __u32 local_ip4;
  __u32 remote_ip6[4];
  __u32 local_ip6[4];
  __u32 remote_port;
  __u32 local_port;
  __u32 data_meta;
  __u64 flow_keys;
  __u64 tstamp;
  __u32 wire_len;
  __u32 gso_segs;
  __u64 sk;
  __u32 gso_size; /* GSO super-packet: payload bytes per segment (0: a plain packet) */
};

static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_map_update_elem)(void *map, const void *key, const void *value, __u64 flags) = (void *)2;
static long (*bpf_map_delete_elem)(void *map, const void *key) = (void *)3;
static void *(*bpf_ringbuf_reserve)(void *ringbuf, __u64 size, __u64 flags) = (void *)131;
static void (*bpf_ringbuf_submit)(void *data, __u64 flags) = (void *)132;
static void (*bpf_ringbuf_discard)(void *data, __u64 flags) = (void *)133;
#define BPF_NOEXIST 1
static __u64 (*bpf_ktime_get_ns)(void) = (void *)5;
static long (*bpf_redirect)(__u32 ifindex, __u64 flags) = (void *)23;
static long (*bpf_skb_pull_data)(void *skb, __u32 len) = (void *)39;
static long (*bpf_skb_store_bytes)(void *skb, __u32 offset, const void *from, __u32 len, __u64 flags) = (void *)9;
static long (*bpf_l4_csum_replace)(void *skb, __u32 offset, __u64 from, __u64 to, __u64 flags) = (void *)11;
#define BPF_F_PSEUDO_HDR (1ULL << 4)
#define BPF_F_MARK_MANGLED_0 (1ULL << 5)
static long (*bpf_ringbuf_output)(void *ringbuf, void *data, __u64 size, __u64 flags) = (void *)130;
static __u64 (*bpf_ringbuf_query)(void *ringbuf, __u64 flags) = (void *)134;
typedef long long __s64;
static __s64 (*bpf_csum_update)(void *skb, __u32 csum) = (void *)40;
#define BPF_F_RECOMPUTE_CSUM (1ULL << 0)
static __s64 (*bpf_csum_diff)(__u32 *from, __u32 from_size, __u32 *to, __u32 to_size, __u32 seed) = (void *)28;
static long (*bpf_check_mtu)(void *ctx, __u32 ifindex, __u32 *mtu_len, int len_diff, __u64 flags) = (void *)163;
static long (*bpf_skb_adjust_room)(void *skb, int len_diff, __u32 mode, __u64 flags) = (void *)50;
#define BPF_ADJ_ROOM_MAC 1
#define BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 (1ULL << 1)
#define BPF_F_ADJ_ROOM_ENCAP_L4_GRE (1ULL << 3)
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

/* 64 bytes; user space writes the first 32 and reads the counters and the first ACK's record. */
struct flow_val {
  __u8 dmac[6];
  __u8 smac[6];
  __u32 ifindex;
  __u16 mtu;
  __u8 need_ack; /* ACK_WANTED: installed in SYN_RECV, the first ACK to record; ACK_SEEN: recorded (ack_len) */
  __u8 nat;      /* NAT_NONE (DR), NAT_DST (a NAT client's packet), NAT_SRC (a NAT reply), TUN_IPIP / TUN_GRE */
  __u32 naddr;   /* NAT: the address written (destination or source); TUN: the outer destination (the real server); network order */
  __u16 nport;   /* NAT: the port written, network order */
  __u8 fin;      /* NAT: FIN_SELF (this direction sent a FIN), FIN_PEER (the other did), FIN_FIRST: the close carried here */
  __u8 fin_flags; /* NAT, FIN_SELF: the TCP flags of this direction's FIN (recorded, not reported) */
  __u32 tsrc;    /* TUN: the outer source (the director's address toward the real server), network order */
  __u64 pkts;
  __u64 bytes;
  __u64 last_ns;
  __u32 ack_len; /* ACK_SEEN: the first ACK's IP length (not in pkts/bytes: the engine counts it) */
  __u16 fin_len; /* NAT, FIN_SELF: this direction's FIN's IP length (not in pkts/bytes: the engine counts it) */
  __u16 pad2;
};
/*
 * The handshake's ACK (SYN_RECV -> ESTABLISHED) is forwarded and recorded in the entry, not
 * reported on its own: user space decides it lazily, when it next reads the entry (the periodic
 * sweep, a listing) or from the next report of the connection, whose `token` carries the ACK's
 * length in its high half (ACK_IN_TOKEN) so that the engine steps the ACK before that packet.
 * IPv6 entries (fast_step6) report it at once.
 */
#define ACK_WANTED 1
#define ACK_SEEN 2
#define ACK_IN_TOKEN(len) ((__u32)(len) << 16)
#define NAT_NONE 0
#define NAT_DST 1
#define NAT_SRC 2
/*
 * A NAT connection's FINs (fast_step): each direction's first FIN is forwarded and recorded, not
 * reported: FIN_SELF, its flags and length in its own entry (FIN_FIRST too when the other
 * direction had sent none: the order the engine must step them in), FIN_PEER in the other's.
 * User space steps the engine on them when it next reads the entries (the sweep, a listing, a
 * removal) or from the report of the packet that ends both (struct flow_end), whichever is first.
 */
#define FIN_SELF 1
#define FIN_PEER 2
#define FIN_FIRST 4
#define FIN_BOTH (FIN_SELF | FIN_PEER)
/* Tunnel (-i), IPv4 in IPv4 (tc only): IPIP, or GRE without checksum (4-byte header); the other
 * encapsulations (GUE, GRE with checksum, IPv6) stay in user space. */
#define TUN_IPIP 3
#define TUN_GRE 4
#define is_tun(n) ((n) == TUN_IPIP || (n) == TUN_GRE)
#define tun_overhead(n) ((n) == TUN_GRE ? 24 : 20)

/* A NAT rewrite or a tunnel encapsulation fast_step leaves to the tc hook (checksum helpers and
 * room for headers need the socket buffer). TUN: `naddr` the outer destination, `old_addr` the outer source. */
struct nat_op {
  __u32 kind;
  __u32 old_addr;
  __u32 naddr;
  __u16 old_port;
  __u16 nport;
  __u32 udp;
};

static __attribute__((always_inline)) void csum_replace4(__u16 *sum, __u32 from, __u32 to);

/*
 * The NAT rewrite's address and port, and the IPv4 header checksum, written in place where the
 * packet is forwarded (`ip`: its IPv4 header, options-free, 24 bytes seen): no helper call
 * (bpf_l3_csum_replace and two bpf_skb_store_bytes were three per NAT packet; the program's
 * direct writes already made the socket buffer writable). The TCP/UDP checksum is left to the tc
 * hook's helpers: only they know whether it is partial, and they take the old and new values,
 * not the packet's. Nothing for DR or a tunnel (`kind`), nor in XDP (`nat` NULL).
 */
static __attribute__((always_inline)) void nat_write(__u8 *ip, const struct nat_op *nat) {
  if (!nat || (nat->kind != NAT_DST && nat->kind != NAT_SRC)) return;
  csum_replace4((__u16 *)(ip + 10), nat->old_addr, nat->naddr);
  if (nat->kind == NAT_DST) {
    *(__u32 *)(ip + 16) = nat->naddr;
    *(__u16 *)(ip + 22) = nat->nport;
  } else {
    *(__u32 *)(ip + 12) = nat->naddr;
    *(__u16 *)(ip + 20) = nat->nport;
  }
}

/*
 * A packet the engine must step its state machine on (already forwarded). 40 bytes. For a FIN or
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
  __u32 kind;  /* EV_STATE, or EV_TAKEN(_NAT): a new connection sent to the decision `token` */
  /* (EV_STATE, EV_CLOSING, EV_END: the high half a first ACK recorded and not yet decided, ACK_IN_TOKEN) */
  __u32 token;
};
#define EV_STATE 0
#define EV_TAKEN 1
#define EV_TAKEN_NAT 2 /* EV_TAKEN of a NAT decision: the replies' entry was installed too */
#define EV_TAKEN_TUN 3 /* EV_TAKEN of a tunnel decision */
/*
 * A NAT connection's close, carried here (fast_step): its FINs are recorded (FIN_SELF above); a
 * FIN that is also the handshake's first ACK is reported instead (EV_CLOSING, no counters, both
 * entries kept). The last ACK (a plain ACK once both directions sent their FIN), or a RST, is
 * forwarded and ends both entries with one report, struct flow_end (EV_END; IPv6: flow_end6): the
 * packet to decide, both entries' counters and their recorded FINs. (Before, each FIN was
 * reported, and the other entry's counters came in a report of their own.)
 */
#define EV_CLOSING 4
#define EV_END 5

/* EV_END (IPv4 NAT), 72 bytes: user space tells it by its length (struct flow_event: 40, an IPv6 one: 64). */
struct flow_end {
  struct flow_event e; /* the packet; its entry's counters; token: 1 when the other entry was there, ACK_IN_TOKEN */
  __u64 ppkts;         /* the other direction's entry's counters */
  __u64 pbytes;
  __u16 fin_len;       /* the FINs recorded: this entry's (FIN_SELF) and the other's, as struct flow_val's */
  __u16 pfin_len;
  __u8 fin;            /* this entry's `fin`: which FINs, in which order */
  __u8 fin_flags;
  __u8 pfin_flags;
  __u8 pad;
  __u64 pad2;
};

/*
 * Decisions ahead (rr/wrr services whose destinations are all direct routing or, on tc, NAT): user space keeps
 * a ring of destinations per service that the engine chose in its scheduling order
 * (Engine.scheduleAhead). A SYN (or a UDP datagram) of an unknown flow to such a service takes the
 * next one: the flow is installed, the packet forwarded, and the taking reported (EV_TAKEN) so
 * that the engine creates the connection bound to that destination. The ring lives in a
 * mmap'able array that user space writes directly: it fills slot `tail` only while fewer than
 * AHEAD_SLOTS wait (never one being read) and publishes it by moving `tail`; the program claims
 * slot `head` by compare-and-exchange.
 */
/* 256: at 10,000 new connections a second, what arrives between two of user space's reads of the
 * events (every 20 ms: 200), so that the timer's reads refill the ring and the wake-up below is
 * rare (with 64, ~1% of NAT connections found the ring dry and crossed user space, and the
 * wake-ups came every 5 ms). */
#define AHEAD_SLOTS 256
/* Wake user space at once when a taking leaves this few decisions waiting: it refills the ring. */
#define AHEAD_LOW (AHEAD_SLOTS / 4)
/* 56 bytes (fastpath-ahead.ts writes them). NAT (tc only): the client's packets get `naddr`:`nport`
 * (the real server, network order) as destination; the replies' entry is made from the SYN itself.
 * TUN (tc only): encapsulated from `tsrc` to `naddr`. */
struct ahead_slot {
  __u8 dmac[6];
  __u8 smac[6];
  __u32 ifindex;
  __u16 mtu;
  __u8 nat; /* NAT_NONE (DR), NAT_DST, TUN_IPIP or TUN_GRE */
  __u8 pad;
  __u32 token;
  __u32 naddr;
  __u16 nport;
  __u16 pad2;
  __u32 tsrc;
  __u32 pad3;
  __u32 naddr6[4]; /* IPv6 NAT: the real server's address (network order); `nport` its port */
};
struct ahead_ring {
  __u32 head;
  __u32 tail;
  __u32 pad[2];
  struct ahead_slot slots[AHEAD_SLOTS];
};
struct svc_key {
  __u32 vip;
  __u16 vport;
  __u8 proto;
  __u8 pad;
};

/*
 * LRU (as Katran's): when full, an install evicts the least recently used flow instead of being
 * refused, so a SYN flood (whose flows are installed once, at the decision ahead, and never used
 * again) cannot push out the established flows that carry traffic. An evicted flow's packets go
 * to user space, which still has its connection and offers it again.
 */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, struct flow_key);
  __type(value, struct flow_val);
} flows SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 20);
} events SEC(".maps");

/* Services with decisions ahead -> their ring's index in `ahead`. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 256);
  __type(key, struct svc_key);
  __type(value, __u32);
} svcs SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 256);
  __uint(map_flags, 1024); /* BPF_F_MMAPABLE */
  __type(key, __u32);
  __type(value, struct ahead_ring);
} ahead SEC(".maps");

/*
 * The daemon's heartbeat (docs/PACKET-FORWARDER.md "When the daemon dies"): user space writes
 * `beat_ns` (CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns) every 100 ms through the mmap'd map.
 * A heartbeat older than `stale_ns` and the program takes no new decision (no decision ahead is
 * taken: a new connection goes to the kernel's stack); older than `orphan_ns` and it stops
 * carrying the connections it knows too. A daemon killed without detaching the tc filter thus
 * leaves nothing deciding on its behalf, and its established flows continue for a bounded time.
 */
struct ctl {
  __u64 beat_ns;
  __u64 stale_ns;
  __u64 orphan_ns;
  __u64 stale_new;     /* new connections not taken ahead because the heartbeat was stale */
  __u64 orphan_passed; /* packets of known flows left to the kernel: heartbeat older than orphan_ns */
};

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __uint(map_flags, 1024); /* BPF_F_MMAPABLE */
  __type(key, __u32);
  __type(value, struct ctl);
} ctl SEC(".maps");

#define bswap16(x) __builtin_bswap16(x)
#define FWD 1
#define PASS 0

/* TTL - 1 with the header checksum updated as ip_decrease_ttl does. */
static __attribute__((always_inline)) void dec_ttl(__u8 *ip) {
  __u32 check = *(__u16 *)(ip + 10);
  check += bswap16(0x0100);
  *(__u16 *)(ip + 10) = (__u16)(check + (check >= 0xffff));
  ip[8]--;
}

/*
 * A 32-bit field of a header covered by the 16-bit ones' complement checksum at `sum` changed from
 * `from` to `to` (both as stored): the checksum updated incrementally (RFC 1624, eqn. 3), as the
 * kernel's csum_replace4 does. For the IPv4 header checksum, which no offload leaves partial: done
 * here instead of through bpf_l3_csum_replace, a helper call per NAT packet.
 */
static __attribute__((always_inline)) void csum_replace4(__u16 *sum, __u32 from, __u32 to) {
  __u32 s = (__u16)~*sum;
  s += (__u16)~(from & 0xffff);
  s += (__u16)~(from >> 16);
  s += (to & 0xffff) + (to >> 16);
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  *sum = (__u16)~s;
}

/*
 * CHECKSUM_COMPLETE (docs/PACKET-FORWARDER.md "Offloads"): a NIC such as mlx5 hands the socket
 * buffer over with skb->csum, the ones' complement sum of the packet from the network header on,
 * and the stack checks the TCP/UDP checksum against it. Every write here to those bytes must move
 * skb->csum by as much, or the stack behind a redirect (a veth's peer) finds it stale: "hw csum
 * failure" and every packet verified again in software. Sums below are as the kernel's csum_add
 * takes them: 32-bit, of the 16-bit words as stored (native loads), end-around carry.
 */
static __attribute__((always_inline)) __u32 csum_add32(__u32 a, __u32 b) {
  a += b;
  return a + (a < b);
}

/* The sum's change when the 16-bit word `from` becomes `to` (a port). */
#define csum_diff2(from, to) ((__u32)(__u16)~(from) + (__u16)(to))
/* The sum's change of an IPv6 hop limit - 1 (byte 7: the low byte of the word 6-7 on the wire). */
#define HOP_DEC_CSUM ((__u32)(__u16)~bswap16(0x0001))

static __attribute__((always_inline)) __u64 wake_flag(void) {
  return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= WAKE_AT ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

/* The other direction's entry of a NAT connection: the replies' for a client's entry, and back. */
static __attribute__((always_inline)) void peer_key(const struct flow_key *k, const struct flow_val *v, struct flow_key *p) {
  if (v->nat == NAT_DST) {
    p->saddr = v->naddr;
    p->daddr = k->saddr;
    p->sport = v->nport;
    p->dport = k->sport;
  } else {
    p->saddr = k->daddr;
    p->daddr = v->naddr;
    p->sport = k->dport;
    p->dport = v->nport;
  }
  p->proto = k->proto;
}

/*
 * A new connection to a service with decisions ahead: take the next one (see `ahead`). A NAT
 * decision (tc only: `skb` set) also installs the replies' entry (real server -> client, source
 * rewritten to the virtual service), sent back where the SYN came from: out of the device it
 * arrived on (its MTU, bpf_check_mtu), to the MAC it came from. That needs no route or neighbour
 * lookup for the client (bpf_fib_lookup refuses a device without ip_forward, as a director has),
 * and it is the client's next hop whenever routing is symmetric; user space resolves the client
 * through the routing table only for the connections it decides itself.
 */
static __attribute__((always_inline)) int take_ahead(struct __sk_buff *skb, __u8 *eth, __u8 *ip, struct flow_key *k, __u8 proto, __u8 flags, __u16 tot, __u32 seg, __u32 *ifindex, struct nat_op *nat) {
  struct svc_key sk = { k->daddr, k->dport, proto, 0 };
  __u32 *idx = bpf_map_lookup_elem(&svcs, &sk);
  if (!idx) return PASS;
  struct ahead_ring *r = bpf_map_lookup_elem(&ahead, idx);
  if (!r) return PASS;
  __u32 h = *(volatile __u32 *)&r->head;
  if (h == *(volatile __u32 *)&r->tail) return PASS; /* none waiting: the engine decides */
  struct ahead_slot s = r->slots[h & (AHEAD_SLOTS - 1)];
  if (seg > s.mtu) return PASS;
  if (is_tun(s.nat) && (!nat || seg + tun_overhead(s.nat) > s.mtu)) return PASS; /* XDP; or too big once encapsulated */
  struct flow_key rk = {};
  struct flow_val rv = {};
  if (s.nat == NAT_DST) {
    if (!skb || !nat) return PASS; /* XDP: NAT is tc's */
    rk.saddr = s.naddr;
    rk.daddr = k->saddr;
    rk.sport = s.nport;
    rk.dport = k->sport;
    rk.proto = proto;
    /* A replies' entry of another connection on this tuple: user space sorts it out. */
    if (bpf_map_lookup_elem(&flows, &rk)) return PASS;
    __u32 mtu = 0;
    if (bpf_check_mtu(skb, 0, &mtu, 0, 0) < 0 || mtu == 0) return PASS;
    __builtin_memcpy(rv.dmac, eth + 6, 6);
    __builtin_memcpy(rv.smac, eth, 6);
    rv.ifindex = skb->ifindex;
    rv.mtu = mtu > 0xffff ? 0xffff : mtu;
    rv.nat = NAT_SRC;
    rv.naddr = k->daddr;
    rv.nport = k->dport;
  }
  /* Room for the report first: a connection the engine is not told of must not be forwarded. */
  struct flow_event *ev = bpf_ringbuf_reserve(&events, sizeof(struct flow_event), 0);
  if (!ev) return PASS;
  if (__sync_val_compare_and_swap(&r->head, h, h + 1) != h) {
    bpf_ringbuf_discard(ev, BPF_RB_NO_WAKEUP);
    return PASS; /* another CPU took it: user space decides this one */
  }
  struct flow_val nv = {};
  __builtin_memcpy(nv.dmac, s.dmac, 6);
  __builtin_memcpy(nv.smac, s.smac, 6);
  nv.ifindex = s.ifindex;
  nv.mtu = s.mtu;
  nv.need_ack = proto == 6;
  /* (LRU: room is made by evicting the least recently used flow; that one's packets go to user space.) */
  if (is_tun(s.nat)) {
    nv.nat = s.nat;
    nv.naddr = s.naddr;
    nv.tsrc = s.tsrc;
    nat->kind = s.nat;
    nat->naddr = s.naddr;
    nat->old_addr = s.tsrc;
  } else if (s.nat == NAT_DST) {
    nv.nat = NAT_DST;
    nv.naddr = s.naddr;
    nv.nport = s.nport;
    /* The replies' entry first: the SYN's answer may come back before this returns. */
    bpf_map_update_elem(&flows, &rk, &rv, 0);
    nat->kind = NAT_DST;
    nat->old_addr = k->daddr;
    nat->old_port = k->dport;
    nat->naddr = s.naddr;
    nat->nport = s.nport;
    nat->udp = proto == 17;
  }
  bpf_map_update_elem(&flows, k, &nv, BPF_NOEXIST);
  ev->saddr = k->saddr;
  ev->daddr = k->daddr;
  ev->sport = k->sport;
  ev->dport = k->dport;
  ev->proto = proto;
  ev->flags = flags;
  ev->len = tot;
  ev->pkts = 0;
  ev->bytes = 0;
  ev->kind = s.nat == NAT_DST ? EV_TAKEN_NAT : is_tun(s.nat) ? EV_TAKEN_TUN : EV_TAKEN;
  ev->token = s.token;
  __u32 left = *(volatile __u32 *)&r->tail - (h + 1);
  bpf_ringbuf_submit(ev, left <= AHEAD_LOW ? BPF_RB_FORCE_WAKEUP : wake_flag());
  dec_ttl(ip);
  nat_write(ip, nat);
  __builtin_memcpy(eth, s.dmac, 6);
  __builtin_memcpy(eth + 6, s.smac, 6);
  *ifindex = s.ifindex;
  return FWD;
}

/*
 * The shared step: PASS, or FWD with the frame rewritten and *ifindex set to the egress device.
 * `gso_size`: the socket buffer's GSO segment size (tc), 0 for a plain packet (and in XDP).
 * `nat`: NULL where NAT cannot be done (XDP: NAT flows pass); else filled with the address and
 * port rewrite the caller must still do (the TTL and MACs are done here).
 */
static __attribute__((always_inline)) int fast_step(struct __sk_buff *skb, void *data, void *end, __u32 pkt_len, __u32 gso_size, __u32 *ifindex, struct nat_op *nat) {
  __u8 *eth = data;
  if ((void *)(eth + 14 + 20) > end) return PASS;
  if (*(__u16 *)(eth + 12) != bswap16(0x0800)) return PASS;
  __u8 *ip = eth + 14;
  if (ip[0] != 0x45) return PASS;                       /* IPv4 without options */
  if (*(__u16 *)(ip + 6) & bswap16(0x3fff)) return PASS; /* a fragment */
  if (ip[8] <= 1) return PASS;                           /* time exceeded: user space answers */
  __u16 tot = bswap16(*(__u16 *)(ip + 2));
  /* Malformed packets go to user space, which drops and counts them by reason. */
  if (tot < 28 || (__u32)tot + 14 > pkt_len) return PASS;
  __u32 sum = 0;
  for (int i = 0; i < 20; i += 2) sum += *(__u16 *)(ip + i);
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  if (sum != 0xffff) return PASS;                        /* bad header checksum */
  __u8 proto = ip[9];
  __u8 *l4 = ip + 20;
  __u8 flags = 0;
  int syn = 0, synack = 0;
  __u32 l4len = 8;
  if (proto == 6) {
    if ((void *)(l4 + 20) > end) return PASS;
    if ((l4[12] >> 4) < 5 || (__u32)(l4[12] >> 4) * 4 > (__u32)tot - 20) return PASS; /* bad data offset */
    flags = l4[13];
    l4len = (__u32)(l4[12] >> 4) * 4;
    if (!(flags & 0x17)) return PASS; /* none of SYN, FIN, RST, ACK: the engine's (it moves to CLOSE) */
    if (flags & 0x02) {
      if (flags & 0x05) return PASS; /* SYN with FIN or RST */
      /* A SYN-ACK is carried only as a NAT reply (a server answering a connection taken ahead). */
      if (flags & 0x10) synack = 1;
      else syn = 1;
    }
  } else if (proto == 17) {
    if ((void *)(l4 + 8) > end) return PASS;
    __u16 ulen = bswap16(*(__u16 *)(l4 + 4));
    if (ulen < 8 || ulen > tot - 20) return PASS; /* bad UDP length */
  } else {
    return PASS;
  }
  /* What must fit the egress MTU: the packet, or each segment of a super-packet. */
  __u32 seg = gso_size ? 20 + l4len + gso_size : tot;
  struct flow_key k;
  k.saddr = *(__u32 *)(ip + 12);
  k.daddr = *(__u32 *)(ip + 16);
  k.sport = *(__u16 *)l4;
  k.dport = *(__u16 *)(l4 + 2);
  k.proto = proto;
  __u32 zero = 0;
  struct ctl *c = bpf_map_lookup_elem(&ctl, &zero);
  if (!c) return PASS;
  /* One clock read per packet: the heartbeat's age and the entry's last use (a clock read is a
   * sixth of this program's cost on a VM's clocksource). */
  __u64 now = bpf_ktime_get_ns();
  __u64 age = now - *(volatile __u64 *)&c->beat_ns;
  struct flow_val *v = bpf_map_lookup_elem(&flows, &k);
  if (!v) {
    /* A new connection: a decision taken ahead, if its service has one waiting. */
    if (proto == 6 && !syn) return PASS;
    if (age > c->stale_ns) {
      /* Nobody behind the decisions any more (no heartbeat): the program does not decide alone. */
      __sync_fetch_and_add(&c->stale_new, 1);
      return PASS;
    }
    return take_ahead(skb, eth, ip, &k, proto, flags, tot, seg, ifindex, nat);
  }
  if (age > c->orphan_ns) {
    __sync_fetch_and_add(&c->orphan_passed, 1);
    return PASS;
  }
  if (syn) return PASS; /* a SYN on a known flow: the engine may reschedule */
  /* A SYN-ACK changes no state of a connection the director saw the SYN of (OUTPUT syn in
   * SYN_RECV stays SYN_RECV): only counted. Elsewhere (a DR flow, a client sending one) the engine's. */
  if (synack && v->nat != NAT_SRC) return PASS;
  if (is_tun(v->nat)) {
    /* XDP cannot encapsulate; a super-packet is left to user space, which cuts it into segments
     * (a decapsulating agent reading raw sockets would get it whole). */
    if (!nat || gso_size || seg + tun_overhead(v->nat) > v->mtu) return PASS;
    nat->kind = v->nat;
    nat->naddr = v->naddr;
    nat->old_addr = v->tsrc;
  } else if (v->nat != NAT_NONE) {
    if (!nat) return PASS;
    nat->kind = v->nat;
    nat->naddr = v->naddr;
    nat->nport = v->nport;
    nat->udp = proto == 17;
    if (v->nat == NAT_DST) { nat->old_addr = k.daddr; nat->old_port = k.dport; }
    else { nat->old_addr = k.saddr; nat->old_port = k.sport; }
  }
  if (seg > v->mtu) return PASS; /* too big: user space sends fragmentation-needed */

  int first_ack = proto == 6 && v->need_ack == ACK_WANTED && (flags & 0x10);
  /*
   * The close. DR and tunnels (one direction seen): a FIN or RST ends the entry. NAT (both
   * directions, two entries): a direction's first FIN is recorded in both (FIN_SELF), not
   * reported, so that the rest of the close crosses here too (a FIN that is also the first ACK is
   * reported: EV_CLOSING); the plain ACK that follows both FINs is the last packet, and a RST
   * ends the connection: either ends both entries with one report (struct flow_end). A FIN sent
   * again is only counted (the engine's state would not move on it).
   */
  int two = proto == 6 && (v->nat == NAT_DST || v->nat == NAT_SRC);
  int ends = !two && (flags & 0x05) != 0;
  int fin = two && (flags & 0x05) == 0x01 && !(v->fin & FIN_SELF);
  int closing = fin && first_ack;
  int last = two && ((flags & 0x04) || ((flags & 0x17) == 0x10 && (v->fin & FIN_BOTH) == FIN_BOTH));
  /* A plain first ACK: recorded, forwarded (see ACK_SEEN). */
  if (first_ack && !ends && !fin && !last) {
    v->ack_len = tot;
    v->need_ack = ACK_SEEN;
    dec_ttl(ip);
    nat_write(ip, nat);
    __builtin_memcpy(eth, v->dmac, 6);
    __builtin_memcpy(eth + 6, v->smac, 6);
    *ifindex = v->ifindex;
    return FWD;
  }
  /* The other direction's entry (NAT, on a FIN or the end), and a first ACK recorded but not yet decided. */
  struct flow_key pk;
  struct flow_val *pv = 0;
  if (fin || last) {
    peer_key(&k, v, &pk);
    pv = bpf_map_lookup_elem(&flows, &pk);
  }
  __u32 pend = 0;
  if (v->need_ack == ACK_SEEN) pend = v->ack_len;
  else if (pv && pv->need_ack == ACK_SEEN) pend = pv->ack_len;
  if (last) {
    /* No room: the packet goes to user space, which decides it (and the FINs recorded) itself. */
    struct flow_end *e = bpf_ringbuf_reserve(&events, sizeof(struct flow_end), 0);
    if (!e) return PASS;
    e->e.saddr = k.saddr;
    e->e.daddr = k.daddr;
    e->e.sport = k.sport;
    e->e.dport = k.dport;
    e->e.proto = proto;
    e->e.flags = flags;
    e->e.len = tot;
    e->e.pkts = v->pkts;
    e->e.bytes = v->bytes;
    e->e.kind = EV_END;
    e->e.token = (pv ? 1 : 0) | ACK_IN_TOKEN(pend);
    e->ppkts = pv ? pv->pkts : 0;
    e->pbytes = pv ? pv->bytes : 0;
    e->fin_len = v->fin_len;
    e->pfin_len = pv ? pv->fin_len : 0;
    e->fin = v->fin;
    e->fin_flags = v->fin_flags;
    e->pfin_flags = pv ? pv->fin_flags : 0;
    e->pad = 0;
    e->pad2 = 0;
    bpf_ringbuf_submit(e, wake_flag());
    dec_ttl(ip);
    nat_write(ip, nat);
    __builtin_memcpy(eth, v->dmac, 6);
    __builtin_memcpy(eth + 6, v->smac, 6);
    *ifindex = v->ifindex;
    bpf_map_delete_elem(&flows, &k);
    if (pv) bpf_map_delete_elem(&flows, &pk);
    return FWD;
  }
  if (fin && !closing) {
    /* Recorded: its flags and length first, then the bit that says so (a reader that sees the bit sees them). */
    v->fin_flags = flags;
    v->fin_len = tot;
    asm volatile("" ::: "memory");
    v->fin |= FIN_SELF | (v->fin & FIN_PEER ? 0 : FIN_FIRST);
    if (pv) pv->fin |= FIN_PEER;
  } else if (ends || first_ack || closing) {
    struct flow_event ev = { k.saddr, k.daddr, k.sport, k.dport, proto, flags, tot, 0, 0, closing ? EV_CLOSING : EV_STATE, ACK_IN_TOKEN(pend) };
    if (ends) {
      ev.pkts = v->pkts;
      ev.bytes = v->bytes;
    }
    /* No room: user space sees the packet itself and decides it as usual. */
    if (bpf_ringbuf_output(&events, &ev, sizeof(ev), wake_flag()) != 0) return PASS;
    /* The first ACK reported (with this packet, or carried in its token): not again. */
    if (first_ack || v->need_ack == ACK_SEEN) v->need_ack = 0;
    if (pv && pv->need_ack == ACK_SEEN) pv->need_ack = 0;
    if (closing) {
      v->fin |= FIN_SELF | (v->fin & FIN_PEER ? 0 : FIN_FIRST);
      if (pv) pv->fin |= FIN_PEER;
    }
  } else {
    __sync_fetch_and_add(&v->pkts, 1);
    __sync_fetch_and_add(&v->bytes, tot);
    v->last_ns = now;
  }

  dec_ttl(ip);
  nat_write(ip, nat);
  __builtin_memcpy(eth, v->dmac, 6);
  __builtin_memcpy(eth + 6, v->smac, 6);
  *ifindex = v->ifindex;
  /* Last use of v: a removed element may be reused at once by another CPU's update. */
  if (ends) bpf_map_delete_elem(&flows, &k);
  return FWD;
}

/*
 * IPv6: the same step for IPv6 frames without extension headers, in a map of its own (`flows6`,
 * the client's 5-tuple toward the VIP, or a NAT reply's toward the client; struct flow_val6) and
 * with events of their own size on the same ring buffer (struct flow_event6, 64 bytes: user space
 * tells them by length). Direct routing: the hop limit and the MACs (no IP checksum; the L4 one
 * covers no hop limit). NAT (tc only), both directions as IPv4's: the 16-byte address and the port
 * rewritten, the TCP/UDP checksum updated for the pseudo-header's address and the port (the tc
 * hook); the close carried here as IPv4's (FINs recorded, one struct flow_end6 at the end). The
 * handshake's first ACK is reported at once (not recorded). Decisions ahead as IPv4's (take_ahead6).
 */
struct flow_key6 {
  __u32 saddr[4];
  __u32 daddr[4];
  __u16 sport;
  __u16 dport;
  __u32 proto;
};

/* 80 bytes: struct flow_val (its naddr unused), then the IPv6 address NAT writes. */
struct flow_val6 {
  struct flow_val b;
  __u32 naddr[4]; /* NAT: the address written (destination or source), network order */
};

struct flow_event6 {
  __u32 saddr[4];
  __u32 daddr[4];
  __u16 sport;
  __u16 dport;
  __u8 proto;
  __u8 flags;
  __u16 len; /* 40 + payload length, host order */
  __u64 pkts;
  __u64 bytes;
  __u32 kind; /* EV_STATE, EV_CLOSING, EV_TAKEN(_NAT) */
  __u32 token;
};

/* EV_END (IPv6 NAT), 88 bytes: struct flow_end's with an IPv6 packet. */
struct flow_end6 {
  struct flow_event6 e; /* the packet; its entry's counters; token 1: the other entry was there */
  __u64 ppkts;
  __u64 pbytes;
  __u16 fin_len;
  __u16 pfin_len;
  __u8 fin;
  __u8 fin_flags;
  __u8 pfin_flags;
  __u8 pad;
};

/* The IPv6 NAT rewrite fast_step6 leaves to the tc hook. */
struct nat_op6 {
  __u32 kind;
  __u32 old_addr[4];
  __u32 naddr[4];
  __u16 old_port;
  __u16 nport;
  __u32 udp;
};

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, struct flow_key6);
  __type(value, struct flow_val6);
} flows6 SEC(".maps");

/* The other direction's entry of an IPv6 NAT connection (peer_key's). */
static __attribute__((always_inline)) void peer_key6(const struct flow_key6 *k, const struct flow_val6 *v, struct flow_key6 *p) {
  if (v->b.nat == NAT_DST) {
    __builtin_memcpy(p->saddr, v->naddr, 16);
    __builtin_memcpy(p->daddr, k->saddr, 16);
    p->sport = v->b.nport;
    p->dport = k->sport;
  } else {
    __builtin_memcpy(p->saddr, k->daddr, 16);
    __builtin_memcpy(p->daddr, v->naddr, 16);
    p->sport = k->dport;
    p->dport = v->b.nport;
  }
  p->proto = k->proto;
}

static __attribute__((always_inline)) void fill_event6(struct flow_event6 *e, const struct flow_key6 *k, __u8 flags, __u16 len, __u64 pkts, __u64 bytes, __u32 kind, __u32 token) {
  __builtin_memcpy(e->saddr, k->saddr, 16);
  __builtin_memcpy(e->daddr, k->daddr, 16);
  e->sport = k->sport;
  e->dport = k->dport;
  e->proto = (__u8)k->proto;
  e->flags = flags;
  e->len = len;
  e->pkts = pkts;
  e->bytes = bytes;
  e->kind = kind;
  e->token = token;
}

/* IPv6 services with decisions ahead -> their ring's index in `ahead` (the rings are shared with IPv4's). */
struct svc_key6 {
  __u32 vip[4];
  __u16 vport;
  __u8 proto;
  __u8 pad;
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 256);
  __type(key, struct svc_key6);
  __type(value, __u32);
} svcs6 SEC(".maps");

/* take_ahead for IPv6: DR, or NAT (tc: `skb` set) with the replies' entry made from the SYN. */
static __attribute__((always_inline)) int take_ahead6(struct __sk_buff *skb, __u8 *eth, __u8 *ip, struct flow_key6 *k, __u8 proto, __u8 flags, __u16 tot, __u32 seg, __u32 *ifindex, struct nat_op6 *nat) {
  struct svc_key6 sk = {};
  __builtin_memcpy(sk.vip, k->daddr, 16);
  sk.vport = k->dport;
  sk.proto = proto;
  __u32 *idx = bpf_map_lookup_elem(&svcs6, &sk);
  if (!idx) return PASS;
  struct ahead_ring *r = bpf_map_lookup_elem(&ahead, idx);
  if (!r) return PASS;
  __u32 h = *(volatile __u32 *)&r->head;
  if (h == *(volatile __u32 *)&r->tail) return PASS; /* none waiting: the engine decides */
  struct ahead_slot s = r->slots[h & (AHEAD_SLOTS - 1)];
  if (seg > s.mtu) return PASS;
  if (s.nat != NAT_NONE && s.nat != NAT_DST) return PASS; /* no IPv6 tunnel in the kernel */
  struct flow_key6 rk = {};
  struct flow_val6 rv = {};
  if (s.nat == NAT_DST) {
    if (!skb || !nat) return PASS; /* XDP: NAT is tc's */
    __builtin_memcpy(rk.saddr, s.naddr6, 16);
    __builtin_memcpy(rk.daddr, k->saddr, 16);
    rk.sport = s.nport;
    rk.dport = k->sport;
    rk.proto = proto;
    if (bpf_map_lookup_elem(&flows6, &rk)) return PASS;
    __u32 mtu = 0;
    if (bpf_check_mtu(skb, 0, &mtu, 0, 0) < 0 || mtu == 0) return PASS;
    __builtin_memcpy(rv.b.dmac, eth + 6, 6);
    __builtin_memcpy(rv.b.smac, eth, 6);
    rv.b.ifindex = skb->ifindex;
    rv.b.mtu = mtu > 0xffff ? 0xffff : mtu;
    rv.b.nat = NAT_SRC;
    __builtin_memcpy(rv.naddr, k->daddr, 16);
    rv.b.nport = k->dport;
  }
  struct flow_event6 *ev = bpf_ringbuf_reserve(&events, sizeof(struct flow_event6), 0);
  if (!ev) return PASS;
  if (__sync_val_compare_and_swap(&r->head, h, h + 1) != h) {
    bpf_ringbuf_discard(ev, BPF_RB_NO_WAKEUP);
    return PASS;
  }
  struct flow_val6 nv = {};
  __builtin_memcpy(nv.b.dmac, s.dmac, 6);
  __builtin_memcpy(nv.b.smac, s.smac, 6);
  nv.b.ifindex = s.ifindex;
  nv.b.mtu = s.mtu;
  nv.b.need_ack = proto == 6;
  if (s.nat == NAT_DST) {
    nv.b.nat = NAT_DST;
    __builtin_memcpy(nv.naddr, s.naddr6, 16);
    nv.b.nport = s.nport;
    bpf_map_update_elem(&flows6, &rk, &rv, 0);
    nat->kind = NAT_DST;
    __builtin_memcpy(nat->old_addr, k->daddr, 16);
    nat->old_port = k->dport;
    __builtin_memcpy(nat->naddr, s.naddr6, 16);
    nat->nport = s.nport;
    nat->udp = proto == 17;
  }
  bpf_map_update_elem(&flows6, k, &nv, BPF_NOEXIST);
  fill_event6(ev, k, flags, tot, 0, 0, s.nat == NAT_DST ? EV_TAKEN_NAT : EV_TAKEN, s.token);
  __u32 left = *(volatile __u32 *)&r->tail - (h + 1);
  bpf_ringbuf_submit(ev, left <= AHEAD_LOW ? BPF_RB_FORCE_WAKEUP : wake_flag());
  ip[7]--;
  __builtin_memcpy(eth, s.dmac, 6);
  __builtin_memcpy(eth + 6, s.smac, 6);
  *ifindex = s.ifindex;
  return FWD;
}

/* `nat`: NULL where NAT cannot be done (XDP: NAT flows pass); else the rewrite the caller must do. */
static __attribute__((always_inline)) int fast_step6(struct __sk_buff *skb, void *data, void *end, __u32 pkt_len, __u32 gso_size, __u32 *ifindex, struct nat_op6 *nat) {
  __u8 *eth = data;
  if ((void *)(eth + 14 + 40) > end) return PASS;
  __u8 *ip = eth + 14;
  if ((ip[0] >> 4) != 6) return PASS;
  if (ip[7] <= 1) return PASS; /* hop limit exceeded: user space answers */
  __u32 tot = 40 + (__u32)bswap16(*(__u16 *)(ip + 4));
  /* Malformed (or a jumbogram, payload length 0) to user space, which drops and counts them. */
  if (tot < 48 || tot + 14 > pkt_len) return PASS;
  __u8 proto = ip[6]; /* an extension header is not TCP or UDP: user space */
  __u8 *l4 = ip + 40;
  __u8 flags = 0;
  int syn = 0, synack = 0;
  __u32 l4len = 8;
  if (proto == 6) {
    if ((void *)(l4 + 20) > end) return PASS;
    if ((l4[12] >> 4) < 5 || (__u32)(l4[12] >> 4) * 4 > tot - 40) return PASS; /* bad data offset */
    flags = l4[13];
    l4len = (__u32)(l4[12] >> 4) * 4;
    if (!(flags & 0x17)) return PASS; /* none of SYN, FIN, RST, ACK: the engine's */
    if (flags & 0x02) {
      if (flags & 0x05) return PASS; /* SYN with FIN or RST */
      /* A SYN-ACK is carried only as a NAT reply. */
      if (flags & 0x10) synack = 1;
      else syn = 1;
    }
  } else if (proto == 17) {
    if ((void *)(l4 + 8) > end) return PASS;
    __u16 ulen = bswap16(*(__u16 *)(l4 + 4));
    if (ulen < 8 || ulen > tot - 40) return PASS; /* bad UDP length */
  } else {
    return PASS;
  }
  __u32 seg = gso_size ? 40 + l4len + gso_size : tot;
  struct flow_key6 k;
  __builtin_memcpy(k.saddr, ip + 8, 16);
  __builtin_memcpy(k.daddr, ip + 24, 16);
  k.sport = *(__u16 *)l4;
  k.dport = *(__u16 *)(l4 + 2);
  k.proto = proto;
  __u32 zero = 0;
  struct ctl *c = bpf_map_lookup_elem(&ctl, &zero);
  if (!c) return PASS;
  __u64 now = bpf_ktime_get_ns();
  __u64 age = now - *(volatile __u64 *)&c->beat_ns;
  struct flow_val6 *v = bpf_map_lookup_elem(&flows6, &k);
  if (!v) {
    /* A new connection: a decision taken ahead, if its service has one waiting. */
    if (proto == 6 && !syn) return PASS;
    if (age > c->stale_ns) {
      __sync_fetch_and_add(&c->stale_new, 1);
      return PASS;
    }
    return take_ahead6(skb, eth, ip, &k, proto, flags, (__u16)tot, seg, ifindex, nat);
  }
  if (age > c->orphan_ns) {
    __sync_fetch_and_add(&c->orphan_passed, 1);
    return PASS;
  }
  if (syn) return PASS; /* a SYN on a known flow: the engine may reschedule */
  __u8 kind = v->b.nat;
  if (synack && kind != NAT_SRC) return PASS;
  if (kind == NAT_DST || kind == NAT_SRC) {
    if (!nat) return PASS;
    nat->kind = kind;
    __builtin_memcpy(nat->naddr, v->naddr, 16);
    nat->nport = v->b.nport;
    nat->udp = proto == 17;
    if (kind == NAT_DST) { __builtin_memcpy(nat->old_addr, k.daddr, 16); nat->old_port = k.dport; }
    else { __builtin_memcpy(nat->old_addr, k.saddr, 16); nat->old_port = k.sport; }
  } else if (kind != NAT_NONE) {
    return PASS; /* no IPv6 tunnel in the kernel */
  }
  if (seg > v->b.mtu) return PASS; /* too big: user space sends Packet Too Big */

  int first_ack = proto == 6 && v->b.need_ack && (flags & 0x10);
  /* The close, as fast_step's: NAT's FINs recorded in both entries, the last ACK or a RST ends both with one report. */
  int two = proto == 6 && (kind == NAT_DST || kind == NAT_SRC);
  int ends = !two && (flags & 0x05) != 0;
  int fin = two && (flags & 0x05) == 0x01 && !(v->b.fin & FIN_SELF);
  int closing = fin && first_ack;
  int last = two && ((flags & 0x04) || ((flags & 0x17) == 0x10 && (v->b.fin & FIN_BOTH) == FIN_BOTH));
  struct flow_key6 pk;
  struct flow_val6 *pv = 0;
  if (fin || last) {
    peer_key6(&k, v, &pk);
    pv = bpf_map_lookup_elem(&flows6, &pk);
  }
  if (last) {
    /* No room: the packet goes to user space, which decides it (and the FINs recorded) itself. */
    struct flow_end6 *e = bpf_ringbuf_reserve(&events, sizeof(struct flow_end6), 0);
    if (!e) return PASS;
    fill_event6(&e->e, &k, flags, (__u16)tot, v->b.pkts, v->b.bytes, EV_END, pv ? 1 : 0);
    e->ppkts = pv ? pv->b.pkts : 0;
    e->pbytes = pv ? pv->b.bytes : 0;
    e->fin_len = v->b.fin_len;
    e->pfin_len = pv ? pv->b.fin_len : 0;
    e->fin = v->b.fin;
    e->fin_flags = v->b.fin_flags;
    e->pfin_flags = pv ? pv->b.fin_flags : 0;
    e->pad = 0;
    bpf_ringbuf_submit(e, wake_flag());
    ip[7]--;
    __builtin_memcpy(eth, v->b.dmac, 6);
    __builtin_memcpy(eth + 6, v->b.smac, 6);
    *ifindex = v->b.ifindex;
    bpf_map_delete_elem(&flows6, &k);
    if (pv) bpf_map_delete_elem(&flows6, &pk);
    return FWD;
  }
  if (fin && !closing) {
    /* Recorded (fast_step's): its flags and length first, then the bit that says so. */
    v->b.fin_flags = flags;
    v->b.fin_len = (__u16)tot;
    asm volatile("" ::: "memory");
    v->b.fin |= FIN_SELF | (v->b.fin & FIN_PEER ? 0 : FIN_FIRST);
    if (pv) pv->b.fin |= FIN_PEER;
  } else if (ends || first_ack || closing) {
    struct flow_event6 ev = {};
    fill_event6(&ev, &k, flags, (__u16)tot, ends ? v->b.pkts : 0, ends ? v->b.bytes : 0, closing ? EV_CLOSING : EV_STATE, 0);
    if (bpf_ringbuf_output(&events, &ev, sizeof(ev), wake_flag()) != 0) return PASS;
    if (first_ack) v->b.need_ack = 0;
    if (closing) {
      v->b.fin |= FIN_SELF | (v->b.fin & FIN_PEER ? 0 : FIN_FIRST);
      if (pv) pv->b.fin |= FIN_PEER;
    }
  } else {
    __sync_fetch_and_add(&v->b.pkts, 1);
    __sync_fetch_and_add(&v->b.bytes, tot);
    v->b.last_ns = now;
  }
  ip[7]--;
  __builtin_memcpy(eth, v->b.dmac, 6);
  __builtin_memcpy(eth + 6, v->b.smac, 6);
  *ifindex = v->b.ifindex;
  /* Last use of v: a removed element may be reused at once by another CPU's update. */
  if (ends) bpf_map_delete_elem(&flows6, &k);
  return FWD;
}

static __attribute__((always_inline)) int is_ipv6(void *data, void *end) {
  return data + 14 <= end && *(__u16 *)((__u8 *)data + 12) == bswap16(0x86dd);
}

/* XDP (native): before any socket buffer exists. Bounces out of the same device or redirects. */
SEC("xdp")
int tsvs_xdp(struct xdp_md *ctx) {
  void *data = (void *)(long)ctx->data;
  void *end = (void *)(long)ctx->data_end;
  __u32 ifindex = 0;
  if (is_ipv6(data, end) ? fast_step6(0, data, end, (__u32)(end - data), 0, &ifindex, 0) != FWD
                         : fast_step(0, data, end, (__u32)(end - data), 0, &ifindex, 0) != FWD) return XDP_PASS;
  if (ifindex == ctx->ingress_ifindex) return XDP_TX;
  return bpf_redirect(ifindex, 0);
}

/*
 * The tc hook's two halves, IPv6 and IPv4, each a BPF subprogram of its own (not inlined): one
 * inlined function had reached clang's 512-byte stack with both families' keys, entries and
 * events in one frame; apart, each has its own frame and the verifier's depth is the larger one.
 */
static __attribute__((noinline)) int tc6(struct __sk_buff *skb) {
  void *data = (void *)(long)skb->data;
  void *end = (void *)(long)skb->data_end;
  /* IPv6: Ethernet + IPv6 + a TCP header in the linear part (shorter packets: what they have). */
  if (data + 74 > end) {
    bpf_skb_pull_data(skb, skb->len < 74 ? skb->len : 74);
    data = (void *)(long)skb->data;
    end = (void *)(long)skb->data_end;
  }
  __u32 ifindex6 = 0;
  struct nat_op6 nat6 = {};
  if (fast_step6(skb, data, end, skb->len, skb->gso_size, &ifindex6, &nat6) != FWD) return TC_ACT_OK;
  /* skb->csum's change still to make (CHECKSUM_COMPLETE, see csum_add32): the hop limit's
   * decrement, which no checksum field takes back; NAT adds below. */
  __u32 fix = HOP_DEC_CSUM;
  if (nat6.kind != NAT_NONE) {
    /*
     * NAT (no extension headers: the L4 header at 54): the address and port, and the TCP/UDP
     * checksum with the address in its pseudo-header (as a checksum difference: 16 bytes) and
     * the port. No IP header checksum in IPv6. A partial checksum (offload) takes only the
     * pseudo-header part, as IPv4's.
     */
    int dst = nat6.kind == NAT_DST;
    __u32 csum = 54 + (nat6.udp ? 6 : 16);
    __u64 mangled = nat6.udp ? BPF_F_MARK_MANGLED_0 : 0;
    __u32 diff = (__u32)bpf_csum_diff(nat6.old_addr, 16, nat6.naddr, 16, 0);
    /* The address and port written in place (no helper call), then the checksum by the helpers,
     * which take the old and new values (fast_step6 saw these bytes; the checks are the verifier's). */
    __u8 *d6 = data;
    if ((void *)(d6 + 62) > end) return TC_ACT_SHOT;
    __builtin_memcpy(d6 + (dst ? 38 : 22), nat6.naddr, 16);
    *(__u16 *)(d6 + (dst ? 56 : 54)) = nat6.nport;
    if (nat6.udp && *(__u16 *)(d6 + 60) == 0) {
      /* No checksum (invalid in IPv6; passed on as it came): the helpers would leave it
       * (BPF_F_MARK_MANGLED_0), so the address and port stay in the packet's sum. */
      fix = csum_add32(fix, csum_add32(diff, csum_diff2(nat6.old_port, nat6.nport)));
    } else {
      bpf_l4_csum_replace(skb, csum, 0, diff, BPF_F_PSEUDO_HDR | mangled);
      bpf_l4_csum_replace(skb, csum, nat6.old_port, nat6.nport, mangled | 2);
      /* The port's change and the checksum's cancel in the packet's sum, the address's does not:
       * IPv6 has no header checksum to take it back, yet with BPF_F_PSEUDO_HDR the helper moved
       * skb->csum as if one had (the kernel's inet_proto_csum_replace16 knows better;
       * BPF_F_IPV6, which tells the helper, is Linux 6.16+ and refused before): put it back. */
      fix = csum_add32(fix, diff);
    }
  }
  /* One call per packet, whatever the socket buffer's checksum state: it changes skb->csum only
   * under CHECKSUM_COMPLETE (elsewhere it returns an error and does nothing). */
  bpf_csum_update(skb, fix);
  return bpf_redirect(ifindex6, 0);
}

static __attribute__((noinline)) int tc4(struct __sk_buff *skb) {
  void *data = (void *)(long)skb->data;
  void *end = (void *)(long)skb->data_end;
  if (data + 54 > end) {
    /* Headers not in the linear part: pull them (fails on shorter packets, which then pass). */
    bpf_skb_pull_data(skb, 54);
    data = (void *)(long)skb->data;
    end = (void *)(long)skb->data_end;
  }
  __u32 ifindex = 0;
  struct nat_op nat = {};
  if (fast_step(skb, data, end, skb->len, skb->gso_size, &ifindex, &nat) != FWD) return TC_ACT_OK;
  if (is_tun(nat.kind)) {
    /*
     * Tunnel: the outer IPv4 header as src/codec/ipip.ts writes it (and ip_vs_tunnel_xmit): TOS,
     * TTL (after the decrement), DF and ID copied from the inner packet; GRE: a 4-byte header
     * (no checksum, protocol 0x0800). Room made between the MAC header and the inner packet.
     */
    __u8 *ip = (__u8 *)data + 14;
    if ((void *)(ip + 20) > end) return TC_ACT_SHOT;
    int gre = nat.kind == TUN_GRE;
    __u32 over = gre ? 24 : 20;
    __u8 hdr[24] = {};
    __u16 tot = bswap16(*(__u16 *)(ip + 2)) + over;
    hdr[0] = 0x45;
    hdr[1] = ip[1];
    *(__u16 *)(hdr + 2) = bswap16(tot);
    *(__u16 *)(hdr + 4) = *(__u16 *)(ip + 4);
    *(__u16 *)(hdr + 6) = *(__u16 *)(ip + 6) & bswap16(0x4000);
    hdr[8] = ip[8];
    hdr[9] = gre ? 47 : 4;
    *(__u32 *)(hdr + 12) = nat.old_addr;
    *(__u32 *)(hdr + 16) = nat.naddr;
    __u32 sum = 0;
    for (int i = 0; i < 20; i += 2) sum += *(__u16 *)(hdr + i);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    *(__u16 *)(hdr + 10) = (__u16)~sum;
    if (gre) *(__u16 *)(hdr + 22) = bswap16(0x0800);
    /* A failure here leaves a rewritten inner frame: dropped rather than passed on (TCP resends). */
    __u64 flags = BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | (gre ? BPF_F_ADJ_ROOM_ENCAP_L4_GRE : 0);
    if (bpf_skb_adjust_room(skb, over, BPF_ADJ_ROOM_MAC, flags) != 0) return TC_ACT_SHOT;
    /* The room came zeroed (skb->csum unchanged); the header written adds to the sum: the IPv4
     * header's own is 0 (its checksum), GRE's 4 bytes are not (BPF_F_RECOMPUTE_CSUM: only under
     * CHECKSUM_COMPLETE, inside this call). */
    if (bpf_skb_store_bytes(skb, 14, hdr, gre ? 24 : 20, BPF_F_RECOMPUTE_CSUM) != 0) return TC_ACT_SHOT;
    return bpf_redirect(ifindex, 0);
  }
  if (nat.kind != NAT_NONE) {
    /*
     * NAT (IPv4 without options: the L4 header at 34). The address, the port and the IPv4 header
     * checksum are written already (fast_step's nat_write); here the TCP/UDP checksum, with the
     * address in its pseudo-header. The helpers follow the socket buffer's checksum state: a
     * partial checksum (checksum offload) holds only the pseudo-header sum, so only the address
     * is folded into it; a UDP checksum of 0 (none) stays 0. They take the old and new values,
     * not the packet's.
     */
    __u32 csum = 34 + (nat.udp ? 6 : 16);
    __u64 mangled = nat.udp ? BPF_F_MARK_MANGLED_0 : 0;
    if (nat.udp) {
      __u8 *d4 = data;
      if ((void *)(d4 + 42) > end) return TC_ACT_SHOT;
      if (*(__u16 *)(d4 + 40) == 0) {
        /* No checksum (0 stays 0): the helpers would leave it and skb->csum with it, but the port
         * written changed the packet's sum (the address's change the header checksum took back):
         * under CHECKSUM_COMPLETE skb->csum takes it instead, with no helper for the checksum. */
        bpf_csum_update(skb, csum_diff2(nat.old_port, nat.nport));
        return bpf_redirect(ifindex, 0);
      }
    }
    /* Under CHECKSUM_COMPLETE these keep skb->csum right as they are: in the packet's sum the
     * address's change cancels the header checksum's, the port's its part of the TCP/UDP
     * checksum's; what is left, the checksum's change for the pseudo-header's address, is what
     * the helper moves skb->csum by (BPF_F_PSEUDO_HDR). */
    bpf_l4_csum_replace(skb, csum, nat.old_addr, nat.naddr, BPF_F_PSEUDO_HDR | mangled | 4);
    bpf_l4_csum_replace(skb, csum, nat.old_port, nat.nport, mangled | 2);
  }
  return bpf_redirect(ifindex, 0);
}

/*
 * tc ingress (clsact): after the socket buffer exists, before the AF_PACKET taps of one protocol
 * (the forwarder's rings) and netfilter. Sent out through the device's ordinary transmit path.
 */
SEC("tc")
int tsvs_tc(struct __sk_buff *skb) {
  return skb->protocol == bswap16(0x86dd) ? tc6(skb) : tc4(skb);
}

char _license[] SEC("license") = "GPL";
