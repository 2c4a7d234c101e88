/**
 * keepalived's tracking for VRRP instances, as pure state: vrrp_script results with rise/fall,
 * and track_interface link states, combined into what the instance must do.
 *
 * - weight 0 (the default): a failed script / a down interface puts the instance in FAULT.
 * - weight > 0: while the script succeeds / the interface is up, priority += weight.
 * - weight < 0: while the script fails / the interface is down, priority += weight.
 * - `reverse` inverts the script's result. A track_script entry's own `weight` overrides the
 *   vrrp_script's.
 */
import type { StaticTrackGroupConfig, VrrpInstanceConfig } from '../config/desired.ts';

export interface TrackedScript {
  readonly name: string;
  readonly weight: number;
  readonly reverse: boolean;
  readonly rise: number;
  readonly fall: number;
  readonly initFail: boolean;
}

/** One script's rise/fall state machine. */
export class ScriptState {
  ok: boolean;
  private streak = 0;
  constructor(readonly s: TrackedScript) {
    this.ok = !s.initFail;
  }
  /** Feeds one run's result (exit 0 = success); returns true when the state changed. */
  feed(success: boolean): boolean {
    const good = this.s.reverse ? !success : success;
    if (good === this.ok) {
      this.streak = 0;
      return false;
    }
    this.streak++;
    if (this.streak >= (good ? Math.max(1, this.s.rise) : Math.max(1, this.s.fall))) {
      this.ok = good;
      this.streak = 0;
      return true;
    }
    return false;
  }
}

export interface TrackInputs {
  readonly scripts: readonly { readonly ok: boolean; readonly weight: number; readonly name: string }[];
  readonly interfaces: readonly { readonly up: boolean; readonly weight: number; readonly name: string }[];
  /** track_file: each file's status (trackFileStatus): TRACK_FILE_FAULT or a priority change. */
  readonly files?: readonly { readonly status: number; readonly name: string }[];
}

/** A track_file status that puts the instance in FAULT (keepalived's -254). */
export const TRACK_FILE_FAULT = -254;

/**
 * keepalived's track_file rule (track_file.c update_track_file_status and
 * process_update_vrrp_track_file_status): with weight 0 a non-zero value is a fault (a zero one
 * with `reverse`); otherwise value x weight (negated by `reverse`) is added to the priority,
 * held in [-254, 253], and -254 is a fault.
 */
export function trackFileStatus(value: number, weight: number, reverse: boolean): number {
  if (weight === 0) return (value !== 0) === !reverse ? TRACK_FILE_FAULT : 0;
  return Math.max(TRACK_FILE_FAULT, Math.min(253, value * weight * (reverse ? -1 : 1)));
}

/** A track file's text as keepalived reads it (shared with FILE_CHECK). */
export { parseTrackFileValue } from '../health/track-file.ts';

/** What tracking asks of an instance: fault sources and the priority delta. */
export function trackOutcome(t: TrackInputs): { faults: string[]; delta: number } {
  const faults: string[] = [];
  let delta = 0;
  for (const s of t.scripts) {
    if (s.weight === 0) { if (!s.ok) faults.push(`script ${s.name}`); }
    else if (s.weight > 0 && s.ok) delta += s.weight;
    else if (s.weight < 0 && !s.ok) delta += s.weight;
  }
  for (const i of t.interfaces) {
    if (i.weight === 0) { if (!i.up) faults.push(`interface ${i.name}`); }
    else if (i.weight > 0 && i.up) delta += i.weight;
    else if (i.weight < 0 && !i.up) delta += i.weight;
  }
  for (const f of t.files ?? []) {
    if (f.status <= TRACK_FILE_FAULT) faults.push(`file ${f.name}`);
    else delta += f.status;
  }
  return { faults, delta };
}

/**
 * The interfaces an instance tracks without track_interface, at weight 0 (FAULT while one is
 * down), as keepalived 2.2.7 adds them (vrrp.c vrrp_complete_instance, vrrp_static_track.c): its
 * own interface (the primary) unless dont_track_primary; the interface of each virtual and
 * excluded address (its own when the address names none), of each virtual route with a device
 * and each virtual rule with iif/oif, unless no_track; and those of the static entries naming a
 * track_group the instance is in. Under dont_track_primary an address on the own interface does
 * not make it tracked either (keepalived: "ensure that VIPs/eVIPs don't cause it to be tracked"),
 * while routes and rules through it still do.
 */
export function implicitInterfaces(ic: VrrpInstanceConfig, groups: readonly StaticTrackGroupConfig[] = []): string[] {
  const own = ic.interface ?? 'eth0';
  const out = new Set<string>();
  if (!ic.dont_track_primary) out.add(own);
  for (const v of [...ic.virtual_ipaddress, ...ic.virtual_ipaddress_excluded]) {
    const dev = v.dev ?? own;
    if (!v.extra.includes('no_track') && !(ic.dont_track_primary && dev === own)) out.add(dev);
  }
  for (const r of ic.virtual_routes) if (!r.noTrack && r.dev) out.add(r.dev);
  for (const r of ic.virtual_rules) {
    if (r.noTrack) continue;
    if (r.iif) out.add(r.iif);
    if (r.oif) out.add(r.oif);
  }
  for (const g of groups) if (g.group.includes(ic.name)) for (const d of g.devs) out.add(d);
  return [...out];
}
