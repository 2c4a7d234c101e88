/**
 * Whether this director should announce its virtual addresses over BGP (docs/SCALE-OUT.md).
 * Pure: time is the `now` (ms) each step is given; the daemon feeds it the running services'
 * health and its own state, and hands the answer to an adapter (bird.ts) that drives the BGP
 * daemon. Rules:
 * - a prefix is a virtual service's address as /32 or /128, or one given explicitly
 *   (`--bgp-prefix`: gated by the services whose address lies in it, and by every fwmark service);
 *   a prefix no service gates is not announced (nothing would answer);
 * - a prefix is wanted while the director is ready (forwarder up), not draining, not stopping,
 *   and every service that gates it has its quorum: the sum of its live real servers' weights is
 *   at least `quorum` (keepalived's rule: lost below quorum - hysteresis, gained again at
 *   quorum + hysteresis; with keepalived.conf its own quorum, hysteresis and verdict are used);
 * - a wanted prefix is announced once it has been wanted for `riseMs` without a break (health
 *   checks settle after a start, a flapping service does not flap routes at the rise rate); an
 *   unwanted one is withdrawn at once.
 */
import { formatIp, maskIp, parseIp, prefixToMask4, type Ip } from '../../core/addr.ts';

/** One virtual service as the controller sees it. */
export interface ServiceHealth {
  /** Service key text (core/service-key.ts), for reasons. */
  readonly key: string;
  /** The service's address; null for a firewall-mark service. */
  readonly vip: string | null;
  /** Sum of the weights of the real servers that are up (weight > 0 in the table, or alive per health checks). */
  readonly aliveWeight: number;
  readonly quorum: number;
  readonly hysteresis: number;
  /** The health checker's own quorum verdict (keepalived.conf), when it has one: used as it is. */
  readonly quorumUp?: boolean;
}

export interface AnnounceInput {
  /** Milliseconds, non-decreasing. */
  readonly now: number;
  readonly services: readonly ServiceHealth[];
  /** The forwarder is running (start-up done). */
  readonly ready: boolean;
  /** `tsvs announce drain`: withdraw, keep forwarding. */
  readonly draining: boolean;
  /** The daemon is stopping. */
  readonly stopping: boolean;
}

export interface AnnouncePolicy {
  /** Prefixes to announce instead of every service address (canonical "addr/len"); empty: the services' addresses. */
  readonly prefixes: readonly string[];
  /** How long a prefix must be wanted before it is announced (ms). */
  readonly riseMs: number;
}

export interface PrefixState {
  readonly prefix: string;
  readonly af: 4 | 6;
  readonly announced: boolean;
  /** Why it is (not) announced, in words. */
  readonly reason: string;
  /** When `announced` last changed (ms). */
  readonly since: number;
}

export interface AnnounceDecision {
  /** The prefixes to announce now, sorted. */
  readonly announce: readonly string[];
  /** The set differs from the previous step's. */
  readonly changed: boolean;
  readonly prefixes: readonly PrefixState[];
}

/** A prefix as text: "addr/len", canonical (host bits cleared). */
export interface Prefix {
  readonly ip: Ip;
  readonly len: number;
  readonly text: string;
}

/** Reads "ADDR/LEN" or a bare address (a host prefix); null when it is not one. */
export function parsePrefix(s: string): Prefix | null {
  const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(s.trim());
  if (!m) return null;
  const ip = parseIp(m[1]!);
  if (!ip) return null;
  const max = ip.af === 4 ? 32 : 128;
  const len = m[2] === undefined ? max : Number(m[2]);
  if (!(len >= 0 && len <= max) || (m[2] !== undefined && m[2].length > 1 && m[2][0] === '0')) return null;
  const net = maskIp(ip, ip.af === 4 ? prefixToMask4(len) : len);
  return { ip: net, len, text: `${formatIp(net)}/${len}` };
}

function contains(p: Prefix, addr: Ip): boolean {
  if (p.ip.af !== addr.af) return false;
  const m = maskIp(addr, addr.af === 4 ? prefixToMask4(p.len) : p.len);
  return m.words.every((w, i) => w === p.ip.words[i]);
}

interface Track {
  announced: boolean;
  since: number;
  /** When it became wanted without a break since (ms), or null while it is not wanted. */
  wantedSince: number | null;
}

export class AnnounceController {
  private readonly tracks = new Map<string, Track>();
  /** Services' quorum state by key (kept between steps for the hysteresis). */
  private readonly quorum = new Map<string, boolean>();
  private last: readonly string[] = [];
  private readonly explicit: readonly Prefix[];

  constructor(private readonly policy: AnnouncePolicy) {
    this.explicit = policy.prefixes.map((t) => {
      const p = parsePrefix(t);
      if (!p) throw new Error(`not a prefix: '${t}'`);
      return p;
    });
  }

  /** A service's quorum, keepalived's way (its own verdict when the health checker has one). */
  private quorumUp(s: ServiceHealth): boolean {
    if (s.quorumUp !== undefined) {
      this.quorum.set(s.key, s.quorumUp);
      return s.quorumUp;
    }
    // Lost at 0 or below quorum - hysteresis, gained at quorum + hysteresis (health/manager.ts).
    const gained = s.aliveWeight > 0 && s.aliveWeight >= s.quorum + s.hysteresis;
    const up = this.quorum.get(s.key) ? !(s.aliveWeight === 0 || s.aliveWeight < s.quorum - s.hysteresis) : gained;
    this.quorum.set(s.key, up);
    return up;
  }

  /** The prefixes and the services that gate each (insertion order: explicit first, else by address). */
  private gates(services: readonly ServiceHealth[]): Map<string, { af: 4 | 6; gated: ServiceHealth[] }> {
    const out = new Map<string, { af: 4 | 6; gated: ServiceHealth[] }>();
    if (this.explicit.length > 0) {
      for (const p of this.explicit) {
        const gated = services.filter((s) => {
          if (s.vip === null) return true;
          const ip = parseIp(s.vip);
          return ip !== null && contains(p, ip);
        });
        out.set(p.text, { af: p.ip.af, gated });
      }
      return out;
    }
    for (const s of services) {
      if (s.vip === null) continue;
      const p = parsePrefix(s.vip);
      if (!p) continue;
      const e = out.get(p.text);
      if (e) e.gated.push(s);
      else out.set(p.text, { af: p.ip.af, gated: [s] });
    }
    return out;
  }

  step(input: AnnounceInput): AnnounceDecision {
    const now = input.now;
    const gates = this.gates(input.services);
    // Every service's quorum is evaluated once per step (hysteresis memory), gated or not.
    const up = new Map(input.services.map((s) => [s.key, this.quorumUp(s)] as const));
    for (const k of [...this.quorum.keys()]) if (!up.has(k)) this.quorum.delete(k);
    const states: PrefixState[] = [];
    for (const [prefix, { af, gated }] of gates) {
      let why: string | null = null;
      if (input.stopping) why = 'stopping';
      else if (input.draining) why = 'draining';
      else if (!input.ready) why = 'starting';
      else if (gated.length === 0) why = 'no virtual service in it';
      else {
        const lost = gated.filter((s) => !up.get(s.key));
        if (lost.length > 0) why = `quorum lost: ${lost.map((s) => `${s.key} (alive weight ${s.aliveWeight}, quorum ${s.quorum})`).join(', ')}`;
      }
      let t = this.tracks.get(prefix);
      if (!t) {
        t = { announced: false, since: now, wantedSince: null };
        this.tracks.set(prefix, t);
      }
      let reason: string;
      if (why !== null) {
        t.wantedSince = null;
        if (t.announced) {
          t.announced = false;
          t.since = now;
        }
        reason = why;
      } else {
        if (t.wantedSince === null) t.wantedSince = now;
        if (!t.announced && now - t.wantedSince >= this.policy.riseMs) {
          t.announced = true;
          t.since = now;
        }
        reason = t.announced ? 'healthy' : `rising (announced in ${Math.ceil(Math.max(0, this.policy.riseMs - (now - t.wantedSince)))} ms)`;
      }
      states.push({ prefix, af, announced: t.announced, reason, since: t.since });
    }
    for (const k of [...this.tracks.keys()]) if (!gates.has(k)) this.tracks.delete(k);
    const announce = states.filter((s) => s.announced).map((s) => s.prefix).sort();
    const changed = announce.length !== this.last.length || announce.some((p, i) => p !== this.last[i]);
    this.last = announce;
    return { announce, changed, prefixes: states };
  }

  /**
   * When the next step could change the answer with the same input (a rising prefix's rise
   * ending), in ms from `now`; null when nothing is waiting.
   */
  nextChangeIn(now: number): number | null {
    let best: number | null = null;
    for (const t of this.tracks.values()) {
      if (t.announced || t.wantedSince === null) continue;
      const left = Math.ceil(Math.max(0, this.policy.riseMs - (now - t.wantedSince)));
      if (best === null || left < best) best = left;
    }
    return best;
  }
}
