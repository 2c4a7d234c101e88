/**
 * Real-server setup, what the seeds do by hand: VIP on lo as /32, a host route, ARP sysctls
 * (arp_ignore=1, arp_announce=2 on all and lo), and for TUN rp_filter=0 plus the user-space
 * decapsulation agent (no tunnel devices on this kernel) for the tunnel types the director's
 * destinations use: ipip (default), gue (a UDP port: the destination's --tun-port) and/or gre. `down` restores the previous sysctl values
 * and removes what `up` added. Every command can run inside a namespace (`ns`), which is how tests
 * and the lab use it; state lives in /run/tsvs keyed by the network namespace's inode.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { nsArgv, nsSh, shTry, spawnInNs, spawnDetached, killPid, alive, waitFor, sh } from './netns.ts';
import { TUN_TYPES, type TunType } from '../core/types.ts';
import { entryNodeArgs } from '../os/entries.ts';

export type RsMode = 'dr' | 'tun';

export interface RealserverState {
  readonly vip: string;
  readonly mode: RsMode;
  readonly sysctls: Record<string, string>;
  readonly addedAddr: boolean;
  readonly addedRoute: boolean;
  readonly agentPid?: number;
  readonly tunDev?: string;
  /** TUN: the tunnel types the agent decapsulates, and the GUE port. */
  readonly tunTypes?: readonly TunType[];
  readonly tunPort?: number;
}

/** TUN options: which encapsulations the agent accepts (default ['ipip']) and the GUE UDP port. */
export interface TunOptions {
  readonly tunTypes?: readonly TunType[];
  readonly tunPort?: number;
  /**
   * More VIPs the agent delivers inner packets for (one agent per namespace: e.g. the service's
   * IPv6 VIP beside its IPv4 one); the caller puts them on lo.
   */
  readonly alsoVips?: readonly string[];
}

/** Checks TUN options; returns an error message or null. */
export function tunOptionsError(mode: RsMode, o: TunOptions): string | null {
  const types = o.tunTypes ?? [];
  if (mode !== 'tun' && (types.length > 0 || o.tunPort !== undefined)) return '--tun-type/--tun-port need --mode tun';
  for (const t of types) if (!(TUN_TYPES as readonly string[]).includes(t)) return `unknown tunnel type ${t as string} (${TUN_TYPES.join(', ')})`;
  const gue = types.includes('gue');
  if (gue && !(Number.isInteger(o.tunPort) && o.tunPort! >= 1 && o.tunPort! <= 65535)) return '--tun-type gue needs --tun-port 1..65535';
  if (!gue && o.tunPort !== undefined) return '--tun-port is only for --tun-type gue';
  return null;
}

const STATE_DIR = '/run/tsvs';

/** The host prefix of a VIP: 128 for IPv6, 32 for IPv4. */
function hostPrefix(vip: string): 32 | 128 {
  return vip.includes(':') ? 128 : 32;
}

export function sysctlKeys(mode: RsMode, af: 4 | 6 = 4): Record<string, string> {
  // IPv6 has no ARP: Linux answers a neighbour solicitation only for an address on the
  // interface it came in on, so a VIP on lo is never claimed on the wire; nothing to set.
  const k: Record<string, string> = af === 6 ? {} : {
    'net.ipv4.conf.all.arp_ignore': '1',
    'net.ipv4.conf.all.arp_announce': '2',
    'net.ipv4.conf.lo.arp_ignore': '1',
    'net.ipv4.conf.lo.arp_announce': '2',
  };
  // TUN: the outer packets come over IPv4 (or IPv6, which has no rp_filter); the agent takes them.
  if (mode === 'tun') {
    k['net.ipv4.conf.all.rp_filter'] = '0';
    k['net.ipv4.conf.lo.rp_filter'] = '0';
  }
  return k;
}

export function getSysctl(ns: string | undefined, key: string): string {
  return nsSh(ns, ['sysctl', '-n', key]).trim();
}
export function setSysctl(ns: string | undefined, key: string, value: string): void {
  nsSh(ns, ['sysctl', '-q', '-w', `${key}=${value}`]);
}

function netnsId(ns: string | undefined): string {
  return nsSh(ns, ['stat', '-L', '-c', '%i', '/proc/self/ns/net']).trim();
}

function statePath(ns: string | undefined, vip: string): string {
  return `${STATE_DIR}/realserver-${netnsId(ns)}-${vip}.json`;
}

export function readState(ns: string | undefined, vip: string): RealserverState | null {
  const p = statePath(ns, vip);
  return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as RealserverState) : null;
}

function hasAddr(ns: string | undefined, vip: string): boolean {
  const j = JSON.parse(nsSh(ns, ['ip', '-j', 'addr', 'show', 'dev', 'lo'])) as { addr_info?: { local: string }[] }[];
  return (j[0]?.addr_info ?? []).some((a) => a.local === vip);
}

export interface UpResult {
  readonly state: RealserverState;
  readonly actions: string[];
}

export async function realserverUp(vip: string, mode: RsMode, ns?: string, tunOpts: TunOptions = {}): Promise<UpResult> {
  const actions: string[] = [];
  const bad = tunOptionsError(mode, tunOpts);
  if (bad) throw new Error(bad);
  const prev = readState(ns, vip);
  // A state file outlives a namespace deleted without `down`, and a new namespace may get the
  // old one's inode (the file's key): only a state whose VIP is still on lo and whose agent still
  // runs is current; a stale one is dropped and the set-up done again.
  if (prev && hasAddr(ns, vip) && (!prev.agentPid || alive(prev.agentPid))) return { state: prev, actions: ['already up'] };
  if (prev) rmSync(statePath(ns, vip), { force: true });
  const sysctls: Record<string, string> = {};
  for (const [k, v] of Object.entries(sysctlKeys(mode, vip.includes(':') ? 6 : 4))) {
    sysctls[k] = getSysctl(ns, k);
    if (sysctls[k] !== v) { setSysctl(ns, k, v); actions.push(`sysctl ${k}=${v} (was ${sysctls[k]})`); }
  }
  let addedAddr = false;
  const host = hostPrefix(vip);
  if (!hasAddr(ns, vip)) {
    nsSh(ns, ['ip', 'addr', 'add', `${vip}/${host}`, 'dev', 'lo', ...(host === 128 ? ['nodad'] : [])]);
    addedAddr = true;
    actions.push(`ip addr add ${vip}/${host} dev lo`);
  }
  nsSh(ns, ['ip', 'link', 'set', 'lo', 'up']);
  // IPv6: the address on lo is its own local route already.
  const addedRoute = host === 32 && shTry(nsArgv(ns, ['ip', 'route', 'add', `${vip}/32`, 'dev', 'lo', 'scope', 'host'])).status === 0;
  if (addedRoute) actions.push(`ip route add ${vip}/32 dev lo scope host`);
  let agentPid: number | undefined;
  let tunDev: string | undefined;
  let tunTypes: TunType[] | undefined;
  if (mode === 'tun') {
    tunDev = 'tsvstun0';
    tunTypes = [...new Set(tunOpts.tunTypes?.length ? tunOpts.tunTypes : ['ipip' as const])];
    const log = `${STATE_DIR}/ipip-agent-${netnsId(ns)}.log`;
    mkdirSync(STATE_DIR, { recursive: true });
    const argv = [process.execPath, ...entryNodeArgs('tunnelAgent', ['--dev', tunDev, ...[vip, ...(tunOpts.alsoVips ?? [])].flatMap((v) => ['--vip', v]), '--tun-type', tunTypes.join(','),
      ...(tunOpts.tunPort !== undefined ? ['--tun-port', String(tunOpts.tunPort)] : [])])];
    agentPid = ns ? spawnInNs(ns, argv, log) : spawnDetached(argv, log);
    const pid = agentPid;
    const up = await waitFor(() => !alive(pid) || shTry(nsArgv(ns, ['ip', 'link', 'show', tunDev!])).status === 0, 15000, 100);
    if (!up || !alive(pid)) throw new Error(`tunnel agent did not bring ${tunDev} up (see ${log})`);
    const what = tunTypes.map((t) => (t === 'gue' ? `gue on udp port ${tunOpts.tunPort}` : t)).join(', ');
    actions.push(`started tunnel decapsulation agent (${what}; pid ${agentPid}) on ${tunDev}`);
  }
  const state: RealserverState = { vip, mode, sysctls, addedAddr, addedRoute, agentPid, tunDev, tunTypes, tunPort: tunOpts.tunPort };
  mkdirSync(STATE_DIR, { recursive: true });
  writeFileSync(statePath(ns, vip), JSON.stringify(state, null, 2));
  return { state, actions };
}

/** Name of the current netns when running through `ip netns exec` (null: the host's). */
function currentNsName(): string | null {
  const r = shTry(['ip', 'netns', 'identify', String(process.pid)]);
  const n = r.out.trim();
  return n === '' ? null : n;
}

export async function realserverDown(vip: string, ns?: string): Promise<string[]> {
  const st = readState(ns, vip);
  const actions: string[] = [];
  if (!st) return ['not up (no state): nothing to undo'];
  if (st.agentPid && alive(st.agentPid)) { await killPid(st.agentPid); actions.push(`stopped agent ${st.agentPid}`); }
  if (st.addedRoute) shTry(nsArgv(ns, ['ip', 'route', 'del', `${vip}/32`, 'dev', 'lo', 'scope', 'host']));
  if (st.addedAddr) { shTry(nsArgv(ns, ['ip', 'addr', 'del', `${vip}/${hostPrefix(vip)}`, 'dev', 'lo'])); actions.push(`ip addr del ${vip}/${hostPrefix(vip)} dev lo`); }
  for (const [k, v] of Object.entries(st.sysctls)) { setSysctl(ns, k, v); actions.push(`sysctl ${k}=${v} (restored)`); }
  rmSync(statePath(ns, vip), { force: true });
  return actions;
}

export { sh };
