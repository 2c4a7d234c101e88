/**
 * Firewall-mark services. AF_PACKET taps run before netfilter, so they never see the marks the
 * user's own iptables/nftables rules set. Marked packets are therefore taken from an NFQUEUE
 * instead: one iptables rule per fwmark service, appended to `mangle INPUT` (after every
 * PREROUTING rule, where IPVS itself sees marks: it hooks LOCAL_IN),
 *
 *   iptables -t mangle -A INPUT -m mark --mark 99 -m comment --comment tsvs-fwmark \
 *            -j NFQUEUE --queue-num Q --queue-bypass
 *
 * and the same rule in ip6tables (IPv6 firewall-mark services; IPVS keys them by family too).
 * (nftables has no `queue` statement on this kernel; the iptables compat target works.) A
 * worker reads the queue over NETLINK_NETFILTER (copy-packet mode, fail-open), hands each packet
 * with its mark to the engine, forwards it like the ring path, and answers NF_DROP for what it
 * forwarded (NF_ACCEPT for what the engine passes). `--queue-bypass` lets traffic through when
 * no forwarder runs; rules carrying the comment are removed on close and on the next start.
 * This file holds the rules and the socket; the worker's forwarder is forwarders/packet/nfq-forwarder.ts.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { sys, C, check, errno } from './libc.ts';

export const DEFAULT_QUEUE = 7157;
export const RULE_COMMENT = 'tsvs-fwmark';

const AF_NETLINK = 16;
const NETLINK_NETFILTER = 12;
const NFNL_SUBSYS_QUEUE = 3;
const NFQNL_MSG_PACKET = 0;
const NFQNL_MSG_VERDICT = 1;
const NFQNL_MSG_CONFIG = 2;
const NLM_F_REQUEST = 1;
const NLM_F_ACK = 4;
const NLMSG_ERROR = 2;
const NFQA_PACKET_HDR = 1;
const NFQA_VERDICT_HDR = 2;
const NFQA_MARK = 3;
const NFQA_PAYLOAD = 10;
const NFQA_CFG_CMD = 1;
const NFQA_CFG_PARAMS = 2;
const NFQA_CFG_QUEUE_MAXLEN = 3;
const NFQA_CFG_MASK = 4;
const NFQA_CFG_FLAGS = 5;
const NFQNL_CFG_CMD_BIND = 1;
const NFQNL_COPY_PACKET = 2;
const NFQA_CFG_F_FAIL_OPEN = 1;
export const NF_DROP = 0;
export const NF_ACCEPT = 1;

// ---- iptables rules ------------------------------------------------------------------------

/** The two families' tools: every mark is queued in both. */
const FAMILIES = [{ ipt: 'iptables', save: 'iptables-save' }, { ipt: 'ip6tables', save: 'ip6tables-save' }] as const;

function ipt(args: string[], tool = 'iptables'): { status: number; err: string } {
  const r = spawnSync(tool, ['-w', ...args], { encoding: 'utf8' });
  return { status: r.status ?? -1, err: r.stderr ?? '' };
}

/** The iptables arguments (after -A/-D) of the rule queueing mark `mark` to `queue`. */
export function markRule(mark: number, queue: number): string[] {
  return ['INPUT', '-m', 'mark', '--mark', String(mark >>> 0), '-m', 'comment', '--comment', RULE_COMMENT,
    '-j', 'NFQUEUE', '--queue-num', String(queue), '--queue-bypass'];
}

/** Removes every rule carrying our comment from mangle (what a crashed run may have left). */
export function removeMarkRules(): number {
  let n = 0;
  for (const f of FAMILIES) {
    let out = '';
    try {
      out = execFileSync(f.save, ['-t', 'mangle'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      continue;
    }
    for (const line of out.split('\n')) {
      if (!line.startsWith('-A ') || !line.includes(RULE_COMMENT)) continue;
      // iptables-save quotes nothing here (the comment has no spaces): split is exact.
      const args = line.slice(3).trim().split(/\s+/);
      if (ipt(['-t', 'mangle', '-D', ...args], f.ipt).status === 0) n++;
    }
  }
  return n;
}

/** Makes the set of queued marks exactly `marks` (idempotent). Returns errors per mark. */
export function syncMarkRules(marks: readonly number[], queue: number, current: Set<number>): { mark: number; error: string }[] {
  const errors: { mark: number; error: string }[] = [];
  const want = new Set(marks.map((m) => m >>> 0));
  for (const m of current) {
    if (!want.has(m)) {
      for (const f of FAMILIES) ipt(['-t', 'mangle', '-D', ...markRule(m, queue)], f.ipt);
      current.delete(m);
    }
  }
  for (const m of want) {
    if (current.has(m)) continue;
    // Both families or neither: a mark half queued would forward one family only.
    const r = ipt(['-t', 'mangle', '-A', ...markRule(m, queue)]);
    const r6 = r.status === 0 ? ipt(['-t', 'mangle', '-A', ...markRule(m, queue)], 'ip6tables') : r;
    if (r6.status === 0) current.add(m);
    else {
      if (r.status === 0) ipt(['-t', 'mangle', '-D', ...markRule(m, queue)]);
      errors.push({ mark: m, error: r6.err.trim() || `${r.status === 0 ? 'ip6tables' : 'iptables'} exit ${r6.status}` });
    }
  }
  return errors;
}

// ---- netlink ---------------------------------------------------------------------------------

function nlmsg(type: number, flags: number, seq: number, queue: number, attrs: [number, Uint8Array][]): Buffer {
  let len = 16 + 4;
  for (const [, v] of attrs) len += (4 + v.length + 3) & ~3;
  const b = Buffer.alloc(len);
  b.writeUInt32LE(len, 0);
  b.writeUInt16LE(type, 4);
  b.writeUInt16LE(flags, 6);
  b.writeUInt32LE(seq, 8);
  b.writeUInt32LE(0, 12);
  b.writeUInt8(0, 16); // AF_UNSPEC
  b.writeUInt8(0, 17); // NFNETLINK_V0
  b.writeUInt16BE(queue, 18);
  let o = 20;
  for (const [t, v] of attrs) {
    b.writeUInt16LE(4 + v.length, o);
    b.writeUInt16LE(t, o + 2);
    b.set(v, o + 4);
    o += (4 + v.length + 3) & ~3;
  }
  return b;
}

function be32(v: number): Uint8Array {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
}

/** A bound NFQUEUE netlink socket (non-blocking). */
export class NfQueue {
  readonly fd: number;
  private seq = 1;
  private readonly rx = Buffer.alloc(1 << 18);
  private readonly verdictMsg = Buffer.alloc(16 + 4 + 12);
  private readonly pfd = Buffer.alloc(8);

  constructor(readonly queue: number) {
    this.fd = check('socket(AF_NETLINK)', sys.socket(AF_NETLINK, C.SOCK_RAW | C.SOCK_CLOEXEC, NETLINK_NETFILTER));
    try {
      const sa = Buffer.alloc(12);
      sa.writeUInt16LE(AF_NETLINK, 0);
      check('bind(AF_NETLINK)', sys.bind(this.fd, sa, 12));
      const rb = Buffer.alloc(4);
      rb.writeInt32LE(4 << 20);
      sys.setsockopt(this.fd, C.SOL_SOCKET, C.SO_RCVBUF, rb, 4);
      const cmd = Buffer.alloc(4);
      cmd.writeUInt8(NFQNL_CFG_CMD_BIND, 0);
      cmd.writeUInt16BE(C.AF_INET, 2);
      this.request([[NFQA_CFG_CMD, cmd]]);
      const params = Buffer.alloc(5);
      params.writeUInt32BE(0xffff, 0);
      params.writeUInt8(NFQNL_COPY_PACKET, 4);
      this.request([[NFQA_CFG_PARAMS, params], [NFQA_CFG_QUEUE_MAXLEN, be32(4096)], [NFQA_CFG_FLAGS, be32(NFQA_CFG_F_FAIL_OPEN)], [NFQA_CFG_MASK, be32(NFQA_CFG_F_FAIL_OPEN)]]);
    } catch (e) {
      sys.close(this.fd);
      throw e;
    }
    this.pfd.writeInt32LE(this.fd, 0);
    this.pfd.writeInt16LE(C.POLLIN, 4);
    const v = this.verdictMsg;
    v.writeUInt32LE(v.length, 0);
    v.writeUInt16LE((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_VERDICT, 4);
    v.writeUInt16LE(NLM_F_REQUEST, 6);
    v.writeUInt16BE(queue, 18);
    v.writeUInt16LE(12, 20);
    v.writeUInt16LE(NFQA_VERDICT_HDR, 22);
  }

  /** Sends a config message and waits for its ack; throws on a netlink error. */
  private request(attrs: [number, Uint8Array][]): void {
    const seq = this.seq++;
    const m = nlmsg((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_CONFIG, NLM_F_REQUEST | NLM_F_ACK, seq, this.queue, attrs);
    check('send(nfqueue config)', sys.send(this.fd, m, m.length, 0));
    for (let i = 0; i < 50; i++) {
      const n = Number(sys.recvfrom(this.fd, this.rx, this.rx.length, 0, null, null));
      if (n < 0) check('recv(nfqueue config)', n);
      let o = 0;
      while (o + 16 <= n) {
        const len = this.rx.readUInt32LE(o);
        const type = this.rx.readUInt16LE(o + 4);
        if (type === NLMSG_ERROR && this.rx.readUInt32LE(o + 8) === seq) {
          const err = this.rx.readInt32LE(o + 16);
          if (err !== 0) throw new Error(`nfqueue config: errno ${-err}`);
          return;
        }
        if (len < 16) break;
        o += (len + 3) & ~3;
      }
    }
    throw new Error('nfqueue config: no ack');
  }

  /**
   * Receives what is queued (waits up to timeoutMs for the first message) and calls `fn` for
   * each packet with its id, mark and payload (a view valid during the call). Returns the count.
   */
  receive(timeoutMs: number, fn: (id: number, mark: number, payload: Uint8Array) => void): number {
    this.pfd.writeInt16LE(0, 6);
    const pr = sys.poll(this.pfd, 1, timeoutMs) as number;
    if (pr <= 0) return 0;
    let count = 0;
    for (;;) {
      const n = Number(sys.recvfrom(this.fd, this.rx, this.rx.length, C.MSG_DONTWAIT, null, null));
      if (n < 0) {
        const e = errno();
        if (e === C.EAGAIN || e === C.EINTR || e === 105 /* ENOBUFS: queue overran, keep going */) return count;
        check('recv(nfqueue)', n);
      }
      if (n === 0) return count;
      let o = 0;
      while (o + 20 <= n) {
        const len = this.rx.readUInt32LE(o);
        if (len < 16 || o + len > n) break;
        const type = this.rx.readUInt16LE(o + 4);
        if (type === ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET)) {
          let id = -1, mark = 0, ps = 0, pl = 0;
          let a = o + 20;
          const end = o + len;
          while (a + 4 <= end) {
            const al = this.rx.readUInt16LE(a);
            const at = this.rx.readUInt16LE(a + 2) & 0x3fff;
            if (al < 4) break;
            if (at === NFQA_PACKET_HDR) id = this.rx.readUInt32BE(a + 4);
            else if (at === NFQA_MARK) mark = this.rx.readUInt32BE(a + 4);
            else if (at === NFQA_PAYLOAD) { ps = a + 4; pl = al - 4; }
            a += (al + 3) & ~3;
          }
          if (id >= 0) {
            count++;
            fn(id, mark, this.rx.subarray(ps, ps + pl));
          }
        }
        o += (len + 3) & ~3;
      }
    }
  }

  verdict(id: number, verdict: number): void {
    const v = this.verdictMsg;
    v.writeUInt32LE(this.seq++, 8);
    v.writeUInt32BE(verdict, 24);
    v.writeUInt32BE(id >>> 0, 28);
    sys.send(this.fd, v, v.length, 0);
  }

  close(): void {
    sys.close(this.fd);
  }
}
