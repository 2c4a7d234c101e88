/**
 * `tsvs lab`: the seeds' topologies in network namespaces.
 *
 *   client (172.16.0.2/24) --- router (172.16.0.1 | br0 192.168.10.254/24) --- dir (192.168.10.1, VIP on lo)
 *                                                                           \-- rs1 192.168.10.11, rs2 192.168.10.12
 *
 * The router sends VIP 10.0.0.100 to the director. DR and TUN real servers route through the
 * router (replies bypass the director); NAT real servers use the director as their gateway.
 * The director is the real CLI: `tsvs daemon --forwarder packet --iface eth0 --socket S --no-state`.
 *
 * HA (`--ha`): two directors dir1 192.168.10.1 (priority 150) and dir2 192.168.10.2 (100) on the
 * router's bridge, each `tsvs daemon --forwarder packet --keepalived <generated conf>`: a
 * vrrp_instance VI_1 holding the VIP on eth0 (NAT: also the real servers' gateway 192.168.10.100),
 * the same virtual_server blocks (TCP 80 and UDP 53), `lvs_sync_daemon eth0 VI_1`. The router
 * reaches the VIP on-link (ARP), so gratuitous ARPs move it. dir2 may be Debian's keepalived
 * instead (`peer: 'keepalived'`, VRRP only: there is no kernel IPVS here to forward).
 * Offloads stay at the veth defaults (checksum offload, TSO/GSO on: the director's rings see
 * partial checksums and GSO super-packets, as in any container); `offloads: 'off'` turns them off
 * on every veth with ethtool (what the lab did before the forwarder read virtio-net headers).
 * Scale-out (`--directors N`, dr and tun; src/lab/scaleout.ts): N active directors dir1..dirN
 * (192.168.10.1..N) announce the VIP over BGP to BIRD on the router, which installs one multipath
 * route and spreads flows by an L4 hash; every director runs mh + --sloppy-tcp on from one rules file.
 * State (namespaces, PIDs) is in /run/tsvs/lab-<prefix>.json; `down` removes everything.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { packageFile } from '../os/entries.ts';
import { sh, shTry, nsSh, nsArgv, listNetns, spawnInNs, killPid, offloadsOff, waitFor, alive } from './netns.ts';
import { realserverUp } from './realserver.ts';
import { runClient } from '../daemon/client.ts';
import { callDaemon } from '../daemon/protocol.ts';
import { routeNextHops, startRouterBird } from './bgp-router.ts';
import { SCALE_OUT, scaleOutDaemonArgs, scaleOutDirectorIp, scaleOutRouterPeers, scaleOutRules, writeScaleOutRules } from './scaleout.ts';

export type LabMode = 'nat' | 'dr' | 'tun';

export const LAB = {
  vip: '10.0.0.100',
  port: 80,
  client: '172.16.0.2',
  routerClientSide: '172.16.0.1',
  router: '192.168.10.254',
  dip: '192.168.10.1',
  rs: ['192.168.10.11', '192.168.10.12'],
  names: ['test1', 'test2'],
  /** HA: the second director, and the NAT real servers' gateway address (a VRRP address). */
  dip2: '192.168.10.2',
  natGateway: '192.168.10.100',
  vrid: 51,
  /** IPv6 (labUp `ipv6: true`): the same plan in fd00::/8 (nodad everywhere). */
  vip6: 'fd00:100::100',
  client6: 'fd00:16::2',
  routerClientSide6: 'fd00:16::1',
  router6: 'fd00:10::254',
  dip6: 'fd00:10::1',
  rs6: ['fd00:10::11', 'fd00:10::12'],
  /** HA over IPv6: the second director, and the VRRP instance VI_6's address the router routes LAB.vip6 through. */
  dip6b: 'fd00:10::2',
  vrrp6: 'fd00:10::100',
  vrid6: 52,
} as const;

/** 'dir' alone; dir1, dir2 with HA; dir1..dirN scaling out. */
export type DirectorName = 'dir' | `dir${number}`;

export interface LabDirector {
  readonly name: DirectorName;
  readonly ns: string;
  readonly ip: string;
  /** 'tsvs': `tsvs daemon`; 'keepalived': Debian keepalived, VRRP only (-P). */
  readonly kind: 'tsvs' | 'keepalived';
  readonly priority: number;
  readonly socket: string;
  /** Generated keepalived.conf (HA) or null. */
  readonly conf: string | null;
  readonly log: string;
  pid: number;
}

export interface HaOptions {
  /** VRRP advert_int seconds (default 1; fractions need VRRPv3). */
  readonly advertInt?: number;
  /** Default: 3 when advertInt is not a whole number, else 2. */
  readonly version?: 2 | 3;
  /** What runs on dir2 (default 'tsvs'). */
  readonly peer?: 'tsvs' | 'keepalived';
  /** What runs on dir1 (default 'tsvs'; 'keepalived' for a keepalived-only pair: VIP moves, nothing forwards). */
  readonly dir1?: 'tsvs' | 'keepalived';
  /** keepalived `nopreempt` on both (a restarted director stays backup). */
  readonly nopreempt?: boolean;
  /** lvs_sync_daemon id (default 1). */
  readonly syncid?: number;
}

export interface LabState {
  readonly prefix: string;
  readonly mode: LabMode;
  readonly namespaces: string[];
  readonly pids: number[];
  readonly director: 'daemon' | 'none';
  /** The director processes (one; two with HA). Their PIDs are not in `pids`. */
  readonly directors: LabDirector[];
  readonly ha: { advertInt: number; version: 2 | 3; peer: 'tsvs' | 'keepalived' } | null;
  /** Extra `tsvs daemon` arguments for the directors (e.g. --workers 0). */
  readonly daemonArgs?: readonly string[];
  /** Scale-out: the directors announce the VIP over BGP to the router's BIRD (its PID is in `pids`). */
  readonly scaleOut?: { readonly routerCtl: string; readonly rules: string } | null;
  /** The veths' offload setting (LabUpOptions.offloads); directors added later follow it. */
  readonly offloads?: 'default' | 'off';
  /** Scale-out: the directors' forwarder (LabUpOptions.forwarder); absent = packet. */
  readonly forwarder?: 'packet' | 'proxy';
}

/** The seeds' ipvsadm commands for `mode` (what `tsvs lab up` applies through tsvsadm). */
export function seedCommands(mode: LabMode): string[][] {
  const m = mode === 'nat' ? '-m' : mode === 'dr' ? '-g' : '-i';
  return [
    ['-A', '-t', `${LAB.vip}:${LAB.port}`, '-s', 'rr'],
    ...LAB.rs.map((r) => ['-a', '-t', `${LAB.vip}:${LAB.port}`, '-r', `${r}:${LAB.port}`, m]),
  ];
}

/** The control socket of a lab director (the single director: `dir`). */
export const labSocket = (prefix: string, dir: DirectorName = 'dir') => (dir === 'dir' ? `/run/tsvs/lab-${prefix}.sock` : `/run/tsvs/lab-${prefix}-${dir}.sock`);

/** Runs tsvsadm (in process, as a client of the lab's daemon). */
export async function labAdm(prefix: string, argv: readonly string[], stdin?: string, dir: DirectorName = 'dir'): Promise<{ code: number; out: string; err: string }> {
  let out = '', err = '';
  const code = await runClient([...argv], labSocket(prefix, dir), {
    stdout: (s) => { out += s; }, stderr: (s) => { err += s; }, stdin: async () => stdin ?? '',
  });
  return { code, out, err };
}

/** The daemon's `status` answer (control API), or null when it does not answer. */
export async function labDaemonStatus(prefix: string, dir: DirectorName = 'dir'): Promise<Record<string, unknown> | null> {
  try {
    const r = await callDaemon(labSocket(prefix, dir), { v: 1, id: 1, op: 'status' }, 5000);
    if (!r.ok) return null;
    const { v: _v, id: _id, ok: _ok, ...st } = r;
    return st;
  } catch {
    return null;
  }
}

export interface ForwarderStatus { counters: Record<string, number>; drops: Record<string, number>; fwmarks: number[]; fastPath?: Record<string, number> | null }

/**
 * DR packets a director forwarded: by user space (`route`) and by the kernel fast path (packets it
 * counted, and those it reported: SYNs taken ahead, handshake ACKs, FINs, RSTs).
 */
export function drForwarded(st: ForwarderStatus): number {
  const fp = st.fastPath;
  return st.counters['route']! + (fp ? (fp['forwarded'] ?? 0) + (fp['events'] ?? 0) : 0);
}

/** The packet forwarder's status (counters, drops, fwmarks) through the control API's `status` op. */
export async function labForwarderStatus(prefix: string, dir: DirectorName = 'dir'): Promise<ForwarderStatus | null> {
  const st = await labDaemonStatus(prefix, dir);
  const l = st?.['listeners'] as ForwarderStatus | undefined;
  return l && typeof l === 'object' && 'counters' in l ? l : null;
}

/**
 * The forwarder's status at a quiet moment, and what `read` (a listing, say) answered within it:
 * status, `read`, `stepMs`, status again, until the two statuses agree (no packet counted
 * meanwhile: ring workers and the kernel fast path's sweeps post their counts every 100 ms), for
 * at most `timeoutMs` (then the last reads). Counters read at different moments then cannot
 * disagree by a late packet, such as a close's last ACK on a busy machine. `read` may be a change
 * (`-Z`): it is then made at a quiet moment, the status returned counting exactly what it zeroed.
 */
export async function labQuietStatus<T = undefined>(prefix: string, read?: () => Promise<T>, stepMs = 250, timeoutMs = 5000): Promise<{ st: ForwarderStatus; read: T }> {
  const counts = (st: ForwarderStatus | null): string => JSON.stringify([st?.counters, st?.fastPath]);
  const until = Date.now() + timeoutMs;
  let first = await labForwarderStatus(prefix);
  for (;;) {
    const got = (await read?.()) as T;
    await new Promise((r) => setTimeout(r, stepMs));
    const st = await labForwarderStatus(prefix);
    if (!st) throw new Error(`lab ${prefix}: the daemon does not answer status with the packet forwarder's counters`);
    if (counts(first) === counts(st) || Date.now() >= until) return { st, read: got };
    first = st;
  }
}

/**
 * labQuietStatus, repeated until `ready` holds for the quiet status (at most `timeoutMs`): e.g.
 * until an earlier case's connections have left the kernel (their closes may come late). The
 * caller asserts on the status it gets.
 */
export async function labQuietStatusWhen<T = undefined>(prefix: string, read: (() => Promise<T>) | undefined, ready: (st: ForwarderStatus) => boolean, timeoutMs = 5000): Promise<{ st: ForwarderStatus; read: T }> {
  const until = Date.now() + timeoutMs;
  let quiet = await labQuietStatus(prefix, read);
  while (!ready(quiet.st) && Date.now() < until) quiet = await labQuietStatus(prefix, read);
  return quiet;
}

export function labNs(prefix: string) {
  return {
    client: `${prefix}-client`,
    router: `${prefix}-router`,
    dir: `${prefix}-dir`,
    dir1: `${prefix}-dir1`,
    dir2: `${prefix}-dir2`,
    rs: [`${prefix}-rs1`, `${prefix}-rs2`],
  };
}

const stateFile = (prefix: string) => `/run/tsvs/lab-${prefix}.json`;

export function readLabState(prefix: string): LabState | null {
  return existsSync(stateFile(prefix)) ? (JSON.parse(readFileSync(stateFile(prefix), 'utf8')) as LabState) : null;
}

function saveState(st: LabState): void {
  mkdirSync('/run/tsvs', { recursive: true });
  writeFileSync(stateFile(st.prefix), JSON.stringify(st, null, 2));
}

export interface LabUpOptions {
  readonly prefix?: string;
  /** 'daemon' (default): the tsvs daemon with the packet forwarder; 'none': topology and real servers only. */
  readonly director?: 'daemon' | 'none';
  /** ipvsadm commands applied through tsvsadm once the daemon runs (default: seedCommands(mode)). */
  readonly commands?: readonly (readonly string[])[];
  readonly log?: (s: string) => void;
  /** Two directors with VRRP and connection sync (see the file comment). */
  readonly ha?: boolean | HaOptions;
  /** Extra `tsvs daemon` arguments for the directors (e.g. ['--workers', '0']). */
  readonly daemonArgs?: readonly string[];
  /**
   * Also address everything over IPv6 (LAB.*6): the router routes LAB.vip6 to the director, which
   * holds it on lo; DR real servers hold it on lo too, NAT ones route through the director. No
   * IPv6 rules are applied: tests add their own. With `ha` (dr only): both directors hold LAB.vip6
   * on lo, the router routes it through LAB.vrrp6, which a second VRRP instance (VI_6, VRRPv3:
   * pass `version: 3`) moves between them with unsolicited neighbour advertisements, and the
   * generated keepalived.conf has the IPv6 virtual servers too (synced by the one sync daemon).
   */
  readonly ipv6?: boolean;
  /**
   * The directors run `--fast-path tc|xdp`. For 'xdp' their bridge ports get GRO on: a veth takes
   * XDP_TX frames only when its peer has NAPI on (GRO or an XDP program of its own).
   */
  readonly fastPath?: 'tc' | 'xdp';
  /**
   * 'default' (the default): every veth keeps the kernel's offload settings (tx checksum offload,
   * TSO and GSO on). 'off': `ethtool -K tx off rx off tso off gso off gro off` on every veth, so
   * captured frames carry full checksums and no super-packets.
   */
  readonly offloads?: 'default' | 'off';
  /**
   * Scale-out (dr, tun; not with `ha` or `ipv6`): this many active directors dir1..dirN behind
   * the router's BIRD and ECMP (src/lab/scaleout.ts). `commands` are not applied: every director
   * loads the same rules file (mh, mh-port, both real servers); labAddDirector adds one more.
   */
  readonly directors?: number;
  /**
   * Scale-out only: 'proxy' runs the directors with `--forwarder proxy` (TCP terminated on each
   * director, the VIP on its lo; the rules masquerade, -m) instead of the packet forwarder: what
   * ECMP moves between directors breaks there (docs/SCALE-OUT.md "Forwarding methods").
   */
  readonly forwarder?: 'packet' | 'proxy';
}

const tsvsBin = packageFile('bin/tsvs.mjs');

/** The generated keepalived.conf of an HA director (tsvs reads it as it is; keepalived gets the VRRP part). */
export function haKeepalivedConf(mode: LabMode, d: { name: string; priority: number; kind: 'tsvs' | 'keepalived' }, ha: { advertInt: number; version: 2 | 3; syncid: number; nopreempt?: boolean; ipv6?: boolean }): string {
  const kind = mode === 'nat' ? 'NAT' : mode === 'dr' ? 'DR' : 'TUN';
  const vips = [`${LAB.vip}/32 dev eth0`, ...(mode === 'nat' ? [`${LAB.natGateway}/24 dev eth0`] : [])];
  const vs = (proto: 'TCP' | 'UDP', port: number, vip: string = LAB.vip, rs: readonly string[] = LAB.rs) =>
    `virtual_server ${vip} ${port} {\n  delay_loop 5\n  lb_algo rr\n  lb_kind ${kind}\n  protocol ${proto}\n` +
    rs.map((r) => `  real_server ${r} ${port} {\n    weight 1\n  }\n`).join('') + '}\n';
  // IPv6: its own VRRP instance (one family per instance) holding the address the router routes LAB.vip6 through.
  const vi6 = !ha.ipv6 ? [] : [
    'vrrp_instance VI_6 {', '  state BACKUP', '  interface eth0', `  virtual_router_id ${LAB.vrid6}`, `  priority ${d.priority}`,
    `  advert_int ${ha.advertInt}`, ...(ha.nopreempt ? ['  nopreempt'] : []),
    '  virtual_ipaddress {', `    ${LAB.vrrp6}/64 dev eth0`, '  }', '}',
  ];
  return [
    `! tsvs lab (${mode}, HA): ${d.name}, generated`,
    'global_defs {',
    `  router_id tsvs_${d.name}`,
    `  vrrp_version ${ha.version}`,
    ...(d.kind === 'tsvs' ? [`  lvs_sync_daemon eth0 VI_1 id ${ha.syncid}`] : []),
    '}',
    'vrrp_instance VI_1 {',
    '  state BACKUP',
    '  interface eth0',
    `  virtual_router_id ${LAB.vrid}`,
    `  priority ${d.priority}`,
    `  advert_int ${ha.advertInt}`,
    ...(ha.nopreempt ? ['  nopreempt'] : []),
    '  virtual_ipaddress {',
    ...vips.map((v) => `    ${v}`),
    '  }',
    '}',
    ...vi6,
    ...(d.kind === 'tsvs' ? [vs('TCP', LAB.port), vs('UDP', 53)] : []),
    ...(d.kind === 'tsvs' && ha.ipv6 ? [vs('TCP', LAB.port, LAB.vip6, LAB.rs6)] : []),
    '',
  ].join('\n');
}

async function ping(socket: string): Promise<boolean> {
  try {
    return (await callDaemon(socket, { v: 1, id: 1, op: 'ping' }, 1000)).ok;
  } catch {
    return false;
  }
}

/** Starts (or restarts) one director process; resolves once it answers (tsvs) or runs VRRP (keepalived). */
export async function startDirector(st: LabState, d: LabDirector, extraArgs: readonly string[] = []): Promise<void> {
  if (d.kind === 'keepalived') {
    const base = d.conf!.replace(/\.conf$/, '');
    rmSync(`${base}.vrrp.pid`, { force: true });
    d.pid = spawnInNs(d.ns, ['keepalived', '-n', '-l', '-P', '-f', d.conf!, '-p', `${base}.pid`, '-r', `${base}.vrrp.pid`], d.log);
    saveState(st);
    const ok = await waitFor(() => existsSync(`${base}.vrrp.pid`), 10000, 20);
    if (!ok) throw new Error(`keepalived did not start in ${d.ns}: ${existsSync(d.log) ? readFileSync(d.log, 'utf8') : ''}`);
    return;
  }
  rmSync(d.socket, { force: true });
  const fwd = st.forwarder === 'proxy' ? ['--forwarder', 'proxy'] : ['--forwarder', 'packet', '--iface', 'eth0'];
  // --no-state unless the caller names a state file (a restart then restores the rules saved).
  const extra = [...(st.daemonArgs ?? []), ...extraArgs];
  const argv = [process.execPath, tsvsBin, 'daemon', ...fwd, '--socket', d.socket, ...(extra.includes('--state') ? [] : ['--no-state']),
    '--log-level', 'info', ...(d.conf ? ['--keepalived', d.conf] : []), ...extra];
  d.pid = spawnInNs(d.ns, argv, d.log);
  saveState(st);
  const until = Date.now() + 30000;
  while (Date.now() < until) {
    if (await ping(d.socket)) return;
    if (!alive(d.pid)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`director ${d.name} did not start: ${existsSync(d.log) ? readFileSync(d.log, 'utf8').slice(-2000) : ''}`);
}

function director(st: LabState, name: DirectorName): LabDirector {
  const d = st.directors.find((x) => x.name === name);
  if (!d) throw new Error(`lab ${st.prefix} has no director ${name}`);
  return d;
}

/**
 * Kills a director: SIGKILL is a crash (keepalived: its VRRP child first, as the parent would make
 * it resign); SIGTERM a clean stop. Resolves once the process is gone.
 */
export async function labKillDirector(prefix: string, name: DirectorName, signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL'): Promise<void> {
  const st = readLabState(prefix);
  if (!st) throw new Error(`no lab ${prefix}`);
  const d = director(st, name);
  if (d.kind === 'keepalived' && signal === 'SIGKILL') {
    const child = Number(shTry(['cat', d.conf!.replace(/\.conf$/, '.vrrp.pid')]).out.trim());
    if (child > 0 && alive(child)) process.kill(child, 'SIGKILL');
  }
  if (alive(d.pid)) process.kill(d.pid, signal);
  await waitFor(() => !alive(d.pid), 5000, 5);
}

/** Starts a director of a running lab again (after labKillDirector); `extraArgs` go after the lab's (a later flag wins). */
export async function labStartDirector(prefix: string, name: DirectorName, extraArgs: readonly string[] = []): Promise<void> {
  const st = readLabState(prefix);
  if (!st) throw new Error(`no lab ${prefix}`);
  const d = director(st, name);
  if (alive(d.pid)) throw new Error(`director ${name} is running (pid ${d.pid})`);
  await startDirector(st, d, extraArgs);
}

/** Scale-out director dirK (its namespace, address, socket and log). */
function scaleOutDirector(prefix: string, k: number): LabDirector {
  const name: DirectorName = `dir${k}`;
  return { name, ns: `${prefix}-${name}`, ip: scaleOutDirectorIp(k), kind: 'tsvs', priority: 0, socket: labSocket(prefix, name), conf: null, log: `/run/tsvs/lab-${prefix}-${name}.log`, pid: 0 };
}

/**
 * Scale-out: one more director (the next dirK) joins a running lab: its namespace on the router's
 * bridge, its daemon with the lab's rules; resolves once the router routes the VIP through it too.
 */
export async function labAddDirector(prefix: string): Promise<LabDirector> {
  const st = readLabState(prefix);
  if (!st?.scaleOut) throw new Error(`lab ${prefix} is not a scale-out lab (tsvs lab up dr --directors N)`);
  const k = Math.max(...st.directors.map((d) => Number(d.name.slice(3)))) + 1;
  if (k > SCALE_OUT.maxDirectors) throw new Error(`the lab's router is configured for ${SCALE_OUT.maxDirectors} directors`);
  const d = scaleOutDirector(prefix, k);
  const router = labNs(prefix).router;
  sh(['ip', 'netns', 'add', d.ns]);
  st.namespaces.push(d.ns);
  st.directors.push(d);
  saveState(st);
  nsSh(d.ns, ['ip', 'link', 'set', 'lo', 'up']);
  sh(['ip', '-n', router, 'link', 'add', `r-${d.name}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', d.ns]);
  nsSh(router, ['ip', 'link', 'set', `r-${d.name}`, 'master', 'br0']);
  nsSh(router, ['ip', 'link', 'set', `r-${d.name}`, 'up']);
  const offloads = st.offloads === 'off' ? offloadsOff : () => {};
  offloads(router, `r-${d.name}`);
  nsSh(d.ns, ['ip', 'addr', 'add', `${d.ip}/24`, 'dev', 'eth0']);
  nsSh(d.ns, ['ip', 'link', 'set', 'eth0', 'up']);
  nsSh(d.ns, ['ip', 'route', 'add', 'default', 'via', LAB.router]);
  nsSh(d.ns, ['ip', 'addr', 'add', `${LAB.vip}/32`, 'dev', 'lo']);
  nsSh(d.ns, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=0']);
  offloads(d.ns, 'eth0');
  rmSync(d.log, { force: true });
  await startDirector(st, d);
  if (!(await waitFor(() => routeNextHops(router, `${LAB.vip}/32`).includes(d.ip), 30000, 20))) throw new Error(`the router did not learn the VIP from ${d.name}`);
  return d;
}

/** Scale-out: the router's next hops for the VIP (the directors it spreads flows over), as director names. */
export function labRouterDirectors(prefix: string): DirectorName[] {
  const st = readLabState(prefix);
  const hops = new Set(routeNextHops(labNs(prefix).router, `${LAB.vip}/32`));
  return (st?.directors ?? []).filter((d) => hops.has(d.ip)).map((d) => d.name);
}

/** The directors whose eth0 holds the VIP (VRRP masters; a crashed one keeps its address). */
export function labVipHolders(prefix: string): DirectorName[] {
  const st = readLabState(prefix);
  return (st?.directors ?? []).filter((d) => shTry(['ip', '-n', d.ns, '-br', 'addr', 'show', 'dev', 'eth0']).out.includes(` ${LAB.vip}/`)).map((d) => d.name);
}

/** Which director the router's neighbour entry for the VIP (or `addr`, e.g. LAB.vrrp6) points at (after gratuitous ARPs / unsolicited NAs). */
export function labRouterVipOwner(prefix: string, addr: string = LAB.vip): DirectorName | null {
  const st = readLabState(prefix);
  if (!st) return null;
  const j = shTry(['ip', '-n', labNs(prefix).router, '-j', 'neigh', 'show', 'to', addr]);
  const mac = j.status === 0 && j.out.trim() ? ((JSON.parse(j.out) as { lladdr?: string }[])[0]?.lladdr ?? null) : null;
  if (!mac) return null;
  for (const d of st.directors) {
    const l = shTry(['ip', '-n', d.ns, '-j', 'link', 'show', 'eth0']);
    if (l.status === 0 && (JSON.parse(l.out) as { address: string }[])[0]?.address === mac) return d.name;
  }
  return null;
}

/** Builds the topology, starts the real servers (and the director(s)). Returns the state. */
export async function labUp(mode: LabMode, opts: LabUpOptions = {}): Promise<LabState> {
  const prefix = opts.prefix ?? 'tsvs-lab';
  if (!prefix.startsWith('tsvs')) throw new Error('lab namespace prefix must start with tsvs');
  const log = opts.log ?? (() => {});
  if (readLabState(prefix)) await labDown(prefix);
  const ns = labNs(prefix);
  const haOpt: HaOptions | null = opts.ha ? (opts.ha === true ? {} : opts.ha) : null;
  const advertInt = haOpt?.advertInt ?? 1;
  const ha = haOpt ? { advertInt, version: haOpt.version ?? (Number.isInteger(advertInt) ? 2 : 3), peer: haOpt.peer ?? 'tsvs', dir1: haOpt.dir1 ?? 'tsvs', syncid: haOpt.syncid ?? 1, nopreempt: haOpt.nopreempt ?? false } as const : null;
  if (ha && ha.version === 2 && !Number.isInteger(ha.advertInt)) throw new Error('VRRPv2 advert_int is whole seconds; use version 3 for fractions');
  if (ha && opts.ipv6 && (mode !== 'dr' || ha.version !== 3)) throw new Error('HA over IPv6 works with dr and VRRP version 3 (an IPv6 VRRP instance)');
  const so = opts.directors ?? 0;
  if (so && (mode === 'nat' || ha || opts.ipv6)) throw new Error('--directors works with dr and tun, without --ha or --ipv6 (NAT replies must come back through the director that has the connection: docs/SCALE-OUT.md)');
  if (so && !(so >= 1 && so <= SCALE_OUT.maxDirectors)) throw new Error(`--directors must be 1..${SCALE_OUT.maxDirectors}`);
  const proxy = opts.forwarder === 'proxy';
  if (proxy && (!so || mode !== 'dr' || opts.fastPath)) throw new Error('--forwarder proxy in the lab is for scale-out: dr --directors N, without --fast-path');
  const soDirectors = Array.from({ length: so }, (_, i) => scaleOutDirector(prefix, i + 1));
  const dirNs = ha ? [ns.dir1, ns.dir2] : so ? soDirectors.map((d) => d.ns) : [ns.dir];
  const all = [ns.client, ns.router, ...dirNs, ...ns.rs];
  const directors: LabDirector[] = ha
    ? ([['dir1', ns.dir1, LAB.dip, 150, ha.dir1], ['dir2', ns.dir2, LAB.dip2, 100, ha.peer]] as const).map(([name, n, ip, priority, kind]) => ({
      name, ns: n, ip, kind, priority, socket: labSocket(prefix, name), conf: `/run/tsvs/lab-${prefix}-${name}.conf`, log: `/run/tsvs/lab-${prefix}-${name}.log`, pid: 0,
    }))
    : so ? soDirectors
    : [{ name: 'dir', ns: ns.dir, ip: LAB.dip, kind: 'tsvs', priority: 0, socket: labSocket(prefix), conf: null, log: `/run/tsvs/lab-${prefix}-director.log`, pid: 0 }];
  const soFiles = so ? { routerCtl: `/run/tsvs/lab-${prefix}-router.ctl`, rules: `/run/tsvs/lab-${prefix}-rules` } : null;
  const st: LabState = {
    prefix, mode, namespaces: all, pids: [], director: opts.director ?? 'daemon', directors, ha: ha ? { advertInt: ha.advertInt, version: ha.version, peer: ha.peer } : null,
    daemonArgs: [...(opts.daemonArgs ?? []), ...(opts.fastPath ? ['--fast-path', opts.fastPath] : []), ...(soFiles ? scaleOutDaemonArgs(soFiles.rules, LAB.router) : [])],
    scaleOut: soFiles,
    ...(opts.offloads ? { offloads: opts.offloads } : {}),
    ...(proxy ? { forwarder: 'proxy' as const } : {}),
  };
  saveState(st);
  const offloads = opts.offloads === 'off' ? offloadsOff : () => {};
  try {
    for (const n of all) {
      sh(['ip', 'netns', 'add', n]);
      nsSh(n, ['ip', 'link', 'set', 'lo', 'up']);
    }
    // client <-> router
    sh(['ip', '-n', ns.router, 'link', 'add', 'r-client', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.client]);
    nsSh(ns.router, ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
    const ports: [string, string][] = [...directors.map((d) => [`r-${d.name}`, d.ns] as [string, string]), ['r-rs1', ns.rs[0]!], ['r-rs2', ns.rs[1]!]];
    for (const [port, peer] of ports) {
      sh(['ip', '-n', ns.router, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', peer]);
      nsSh(ns.router, ['ip', 'link', 'set', port, 'master', 'br0']);
      nsSh(ns.router, ['ip', 'link', 'set', port, 'up']);
      offloads(ns.router, port);
      if (opts.fastPath === 'xdp' && directors.some((d) => port === `r-${d.name}`)) nsSh(ns.router, ['ethtool', '-K', port, 'gro', 'on']);
    }
    offloads(ns.router, 'r-client');
    nsSh(ns.router, ['ip', 'addr', 'add', `${LAB.routerClientSide}/24`, 'dev', 'r-client']);
    nsSh(ns.router, ['ip', 'link', 'set', 'r-client', 'up']);
    nsSh(ns.router, ['ip', 'addr', 'add', `${LAB.router}/24`, 'dev', 'br0']);
    nsSh(ns.router, ['ip', 'link', 'set', 'br0', 'up']);
    nsSh(ns.router, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    // A plain L2 segment: with br_netfilter the bridge would run iptables and IP sanity checks.
    shTry(nsArgv(ns.router, ['sysctl', '-q', '-w', 'net.bridge.bridge-nf-call-iptables=0', 'net.bridge.bridge-nf-call-ip6tables=0', 'net.bridge.bridge-nf-call-arptables=0']));
    // HA: the VIP is on-link (the router ARPs for it; gratuitous ARPs move it); else via the director.
    if (ha) nsSh(ns.router, ['ip', 'route', 'add', `${LAB.vip}/32`, 'dev', 'br0']);
    else if (!so) nsSh(ns.router, ['ip', 'route', 'add', `${LAB.vip}/32`, 'via', LAB.dip]);
    // client
    nsSh(ns.client, ['ip', 'addr', 'add', `${LAB.client}/24`, 'dev', 'eth0']);
    nsSh(ns.client, ['ip', 'link', 'set', 'eth0', 'up']);
    nsSh(ns.client, ['ip', 'route', 'add', 'default', 'via', LAB.routerClientSide]);
    offloads(ns.client, 'eth0');
    // director(s)
    for (const d of directors) {
      nsSh(d.ns, ['ip', 'addr', 'add', `${d.ip}/24`, 'dev', 'eth0']);
      // IPv6 VRRP speaks from the link-local address: usable at once, not after DAD.
      if (opts.ipv6) nsSh(d.ns, ['sysctl', '-q', '-w', 'net.ipv6.conf.eth0.accept_dad=0']);
      nsSh(d.ns, ['ip', 'link', 'set', 'eth0', 'up']);
      nsSh(d.ns, ['ip', 'route', 'add', 'default', 'via', LAB.router]);
      if (!ha) nsSh(d.ns, ['ip', 'addr', 'add', `${LAB.vip}/32`, 'dev', 'lo']);
      nsSh(d.ns, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=0']);
      offloads(d.ns, 'eth0');
    }
    if (opts.ipv6) {
      const a6 = (n: string, addr: string, dev: string) => nsSh(n, ['ip', '-6', 'addr', 'add', addr, 'dev', dev, 'nodad']);
      nsSh(ns.router, ['sysctl', '-q', '-w', 'net.ipv6.conf.all.forwarding=1']);
      a6(ns.router, `${LAB.routerClientSide6}/64`, 'r-client');
      a6(ns.router, `${LAB.router6}/64`, 'br0');
      nsSh(ns.router, ['ip', '-6', 'route', 'add', `${LAB.vip6}/128`, 'via', ha ? LAB.vrrp6 : LAB.dip6]);
      a6(ns.client, `${LAB.client6}/64`, 'eth0');
      nsSh(ns.client, ['ip', '-6', 'route', 'add', 'default', 'via', LAB.routerClientSide6]);
      for (const d of directors) {
        a6(d.ns, `${d.name === 'dir2' ? LAB.dip6b : LAB.dip6}/64`, 'eth0');
        a6(d.ns, `${LAB.vip6}/128`, 'lo');
        nsSh(d.ns, ['ip', '-6', 'route', 'add', 'default', 'via', LAB.router6]);
        nsSh(d.ns, ['sysctl', '-q', '-w', 'net.ipv6.conf.all.forwarding=0']);
      }
      for (let i = 0; i < 2; i++) {
        const n = ns.rs[i]!;
        a6(n, `${LAB.rs6[i]}/64`, 'eth0');
        nsSh(n, ['ip', 'link', 'set', 'eth0', 'up']);
        nsSh(n, ['ip', '-6', 'route', 'add', 'default', 'via', mode === 'nat' ? LAB.dip6 : LAB.router6]);
        // DR: the IPv6 VIP as `tsvs realserver up --vip` sets it; TUN: the agent started
        // below for the IPv4 VIP delivers the IPv6 one too (alsoVips).
        if (mode === 'dr') await realserverUp(LAB.vip6, 'dr', n);
        else if (mode !== 'nat') a6(n, `${LAB.vip6}/128`, 'lo');
      }
    }
    // real servers
    const server = fileURLToPath(new URL('./rs-server.mjs', import.meta.url));
    const gw = mode !== 'nat' ? LAB.router : ha ? LAB.natGateway : LAB.dip;
    for (let i = 0; i < 2; i++) {
      const n = ns.rs[i]!;
      nsSh(n, ['ip', 'addr', 'add', `${LAB.rs[i]}/24`, 'dev', 'eth0']);
      nsSh(n, ['ip', 'link', 'set', 'eth0', 'up']);
      // onlink: with HA the NAT gateway address exists only while a director is master
      nsSh(n, ['ip', 'route', 'add', 'default', 'via', gw, 'dev', 'eth0', 'onlink']);
      offloads(n, 'eth0');
      st.pids.push(spawnInNs(n, [process.execPath, server, LAB.names[i]!]));
      saveState(st);
      if (mode !== 'nat') {
        // TUN over IPv6: the one agent also delivers the IPv6 VIP's packets.
        const r = await realserverUp(LAB.vip, mode, n, mode === 'tun' && opts.ipv6 ? { alsoVips: [LAB.vip6] } : {});
        if (r.state.agentPid) st.pids.push(r.state.agentPid);
        saveState(st);
      }
    }
    for (let i = 0; i < 2; i++) {
      const ok = await waitFor(() => shTry(['ip', 'netns', 'exec', ns.rs[i]!, 'curl', '-s', '-m', '1', `http://${LAB.rs[i]}/`]).status === 0, 10000, 100);
      if (!ok) throw new Error(`real server ${LAB.rs[i]} did not come up`);
    }
    if (soFiles) {
      // Scale-out: the router's BIRD installs the VIP's route from the directors' announcements.
      writeScaleOutRules(soFiles.rules, scaleOutRules(proxy ? 'nat' : mode as 'dr' | 'tun', LAB.vip, LAB.port, LAB.rs));
      const r = await startRouterBird(ns.router, `/run/tsvs/lab-${prefix}-router`, { routerId: LAB.router, localAs: SCALE_OUT.routerAs, holdSeconds: SCALE_OUT.holdSeconds, peers: scaleOutRouterPeers() });
      st.pids.push(r.pid);
      saveState(st);
    }
    if (st.director === 'daemon') {
      for (const d of directors) {
        rmSync(d.log, { force: true });
        if (ha) writeFileSync(d.conf!, haKeepalivedConf(mode, d, { ...ha, ipv6: opts.ipv6 === true }));
      }
      if (ha) {
        // dir1 first, so it is the master (also with nopreempt), then its backup.
        await startDirector(st, directors[0]!);
        if (!(await waitFor(() => labVipHolders(prefix).join() === 'dir1', 30000, 50))) throw new Error('dir1 did not become VRRP master within 30 s');
        await startDirector(st, directors[1]!);
      } else if (so) {
        for (const d of directors) await startDirector(st, d);
      } else {
        await startDirector(st, directors[0]!);
      }
      if (so) {
        const want = directors.map((d) => d.ip).sort().join();
        if (!(await waitFor(() => routeNextHops(ns.router, `${LAB.vip}/32`).join() === want, 30000, 50))) {
          throw new Error(`the router did not learn the VIP from every director within 30 s (next hops: ${routeNextHops(ns.router, `${LAB.vip}/32`).join(', ') || 'none'})`);
        }
        log(`directors: ${directors.map((d) => `${d.name} ${d.ip}`).join(', ')}; the router's route to ${LAB.vip}: ECMP over all of them`);
      } else if (!ha) {
        for (const c of opts.commands ?? seedCommands(mode)) {
          const r = await labAdm(prefix, c);
          log(`tsvsadm ${c.join(' ')}${r.code ? ` -> exit ${r.code}: ${r.err.trim()}` : ''}`);
          if (r.code !== 0) throw new Error(`tsvsadm ${c.join(' ')}: ${r.err.trim()}`);
        }
      } else {
        log(`directors: ${directors.map((d) => `${d.name} ${d.ip} ${d.kind} priority ${d.priority}`).join(', ')}; VRRP v${ha.version} advert_int ${ha.advertInt} s`);
        // Up once dir1 (the higher priority) alone holds the VIP, the router's ARP entry points
        // at it, and the VIP answers through it.
        const forwards = directors[0]!.kind === 'tsvs';
        const ok = await waitFor(() => labVipHolders(prefix).join() === 'dir1'
          // keepalived-only pair: any packet from the router to the VIP fills the router's ARP entry
          && (!forwards ? shTry(['ip', 'netns', 'exec', ns.router, 'curl', '-s', '-m', '0.3', `http://${LAB.vip}:9/`]).status !== -1 : shTry(['ip', 'netns', 'exec', ns.client, 'curl', '-s', '-m', '1', `http://${LAB.vip}/`]).status === 0)
          && labRouterVipOwner(prefix) === 'dir1', 30000, 100);
        if (!ok) throw new Error(`dir1 did not become the forwarding VRRP master within 30 s (holders: ${labVipHolders(prefix).join(',') || 'none'})`);
        log(`VRRP master: ${labVipHolders(prefix).join(',')}`);
      }
    }
    log(`lab ${mode}${ha ? ' (HA)' : so ? ` (${so} directors)` : ''} up: client ${LAB.client} -> VIP ${LAB.vip}:${LAB.port} -> ${LAB.rs.join(', ')}`);
    return st;
  } catch (e) {
    await labDown(prefix);
    throw e;
  }
}

/** Stops every tracked process and deletes the lab's namespaces. Returns what was removed. */
export async function labDown(prefix = 'tsvs-lab'): Promise<{ pids: number[]; namespaces: string[] }> {
  const st = readLabState(prefix);
  const directors = st?.directors ?? [];
  // Directors first (they remove their nftables table and resign on SIGTERM), then the rest.
  for (const d of directors) if (d.pid) await killPid(d.pid);
  const pids = [...directors.map((d) => d.pid).filter((p) => p > 0), ...(st?.pids ?? [])];
  for (const pid of [...(st?.pids ?? [])].reverse()) await killPid(pid);
  const ours = new Set([...(st?.namespaces ?? []), ...listNetns().filter((n) => n.startsWith(`${prefix}-`))]);
  const removed: string[] = [];
  for (const n of ours) {
    const id = shTry(['ip', 'netns', 'exec', n, 'stat', '-L', '-c', '%i', '/proc/self/ns/net']).out.trim();
    if (id) for (const f of readdirSync('/run/tsvs')) if (f.startsWith(`realserver-${id}-`) || f === `ipip-agent-${id}.log`) rmSync(`/run/tsvs/${f}`, { force: true });
    if (shTry(['ip', 'netns', 'del', n]).status === 0) removed.push(n);
  }
  rmSync(stateFile(prefix), { force: true });
  for (const f of readdirSync('/run/tsvs')) if (f.startsWith(`lab-${prefix}-`) || f === `lab-${prefix}.sock`) rmSync(`/run/tsvs/${f}`, { force: true });
  return { pids, namespaces: removed };
}

/** curl from the client namespace, `n` times; returns the bodies (trimmed). */
export function curlFromClient(prefix: string, n: number, path = '/', host: string = LAB.vip): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = shTry(['ip', 'netns', 'exec', labNs(prefix).client, 'curl', '-s', '-m', '3', `http://${host}${path}`]);
    out.push(r.status === 0 ? r.out.trim() : `(curl exit ${r.status})`);
  }
  return out;
}
