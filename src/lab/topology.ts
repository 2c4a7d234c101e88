/**
 * `tsvs lab`: the seeds' topologies in network namespaces.
 *
 *   client (172.16.0.2/24) --- router (172.16.0.1 | br0 192.168.10.254/24) --- dir (192.168.10.1, VIP on lo)
 *                                                                           \-- rs1 192.168.10.11, rs2 192.168.10.12
 *
 * The router sends VIP 10.0.0.100 to the director. DR and TUN real servers route through the
 * router (replies bypass the director); NAT real servers use the director as their gateway.
 * Offloads are turned off on every veth (captured frames then carry full checksums).
 * State (namespaces, PIDs) is in /run/tsvs/lab-<prefix>.json; `down` removes everything.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { sh, shTry, nsSh, nsArgv, listNetns, spawnInNs, killPid, offloadsOff, waitFor } from './netns.ts';
import { realserverUp } from './realserver.ts';
import { runClient } from '../cli/tsvsadm.ts';

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
} as const;

export interface LabState {
  readonly prefix: string;
  readonly mode: LabMode;
  readonly namespaces: string[];
  readonly pids: number[];
  readonly director: 'daemon' | 'none';
}

/** The seeds' ipvsadm commands for `mode` (what `tsvs lab up` applies through tsvsadm). */
export function seedCommands(mode: LabMode): string[][] {
  const m = mode === 'nat' ? '-m' : mode === 'dr' ? '-g' : '-i';
  return [
    ['-A', '-t', `${LAB.vip}:${LAB.port}`, '-s', 'rr'],
    ...LAB.rs.map((r) => ['-a', '-t', `${LAB.vip}:${LAB.port}`, '-r', `${r}:${LAB.port}`, m]),
  ];
}

export const labSocket = (prefix: string) => `/run/tsvs/lab-${prefix}.sock`;
export const labStatusFile = (prefix: string) => `/run/tsvs/lab-${prefix}-fwd.json`;

/** Runs tsvsadm (in process, as a client of the lab's daemon). */
export async function labAdm(prefix: string, argv: readonly string[], stdin?: string): Promise<{ code: number; out: string; err: string }> {
  let out = '', err = '';
  const code = await runClient([...argv], labSocket(prefix), {
    stdout: (s) => { out += s; }, stderr: (s) => { err += s; }, stdin: async () => stdin ?? '',
  });
  return { code, out, err };
}

/** The packet forwarder's status as the lab daemon last wrote it (counters, drops, fwmarks). */
export function labForwarderStatus(prefix: string): { counters: Record<string, number>; drops: Record<string, number>; fwmarks: number[] } | null {
  try {
    return JSON.parse(readFileSync(labStatusFile(prefix), 'utf8')) as { counters: Record<string, number>; drops: Record<string, number>; fwmarks: number[] };
  } catch {
    return null;
  }
}

export function labNs(prefix: string) {
  return {
    client: `${prefix}-client`,
    router: `${prefix}-router`,
    dir: `${prefix}-dir`,
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
}

/** Builds the topology, starts the real servers (and the director). Returns the state. */
export async function labUp(mode: LabMode, opts: LabUpOptions = {}): Promise<LabState> {
  const prefix = opts.prefix ?? 'tsvs-lab';
  if (!prefix.startsWith('tsvs')) throw new Error('lab namespace prefix must start with tsvs');
  const log = opts.log ?? (() => {});
  if (readLabState(prefix)) await labDown(prefix);
  const ns = labNs(prefix);
  const all = [ns.client, ns.router, ns.dir, ...ns.rs];
  const st: LabState = { prefix, mode, namespaces: all, pids: [], director: opts.director ?? 'daemon' };
  saveState(st);
  try {
    for (const n of all) {
      sh(['ip', 'netns', 'add', n]);
      nsSh(n, ['ip', 'link', 'set', 'lo', 'up']);
    }
    // client <-> router
    sh(['ip', '-n', ns.router, 'link', 'add', 'r-client', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.client]);
    nsSh(ns.router, ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
    const ports: [string, string][] = [['r-dir', ns.dir], ['r-rs1', ns.rs[0]!], ['r-rs2', ns.rs[1]!]];
    for (const [port, peer] of ports) {
      sh(['ip', '-n', ns.router, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', peer]);
      nsSh(ns.router, ['ip', 'link', 'set', port, 'master', 'br0']);
      nsSh(ns.router, ['ip', 'link', 'set', port, 'up']);
      offloadsOff(ns.router, port);
    }
    offloadsOff(ns.router, 'r-client');
    nsSh(ns.router, ['ip', 'addr', 'add', `${LAB.routerClientSide}/24`, 'dev', 'r-client']);
    nsSh(ns.router, ['ip', 'link', 'set', 'r-client', 'up']);
    nsSh(ns.router, ['ip', 'addr', 'add', `${LAB.router}/24`, 'dev', 'br0']);
    nsSh(ns.router, ['ip', 'link', 'set', 'br0', 'up']);
    nsSh(ns.router, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    // A plain L2 segment: with br_netfilter the bridge would run iptables and IP sanity checks.
    shTry(nsArgv(ns.router, ['sysctl', '-q', '-w', 'net.bridge.bridge-nf-call-iptables=0', 'net.bridge.bridge-nf-call-ip6tables=0', 'net.bridge.bridge-nf-call-arptables=0']));
    nsSh(ns.router, ['ip', 'route', 'add', `${LAB.vip}/32`, 'via', LAB.dip]);
    // client
    nsSh(ns.client, ['ip', 'addr', 'add', `${LAB.client}/24`, 'dev', 'eth0']);
    nsSh(ns.client, ['ip', 'link', 'set', 'eth0', 'up']);
    nsSh(ns.client, ['ip', 'route', 'add', 'default', 'via', LAB.routerClientSide]);
    offloadsOff(ns.client, 'eth0');
    // director
    nsSh(ns.dir, ['ip', 'addr', 'add', `${LAB.dip}/24`, 'dev', 'eth0']);
    nsSh(ns.dir, ['ip', 'link', 'set', 'eth0', 'up']);
    nsSh(ns.dir, ['ip', 'route', 'add', 'default', 'via', LAB.router]);
    nsSh(ns.dir, ['ip', 'addr', 'add', `${LAB.vip}/32`, 'dev', 'lo']);
    nsSh(ns.dir, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=0']);
    offloadsOff(ns.dir, 'eth0');
    // real servers
    const server = fileURLToPath(new URL('./rs-server.mjs', import.meta.url));
    for (let i = 0; i < 2; i++) {
      const n = ns.rs[i]!;
      nsSh(n, ['ip', 'addr', 'add', `${LAB.rs[i]}/24`, 'dev', 'eth0']);
      nsSh(n, ['ip', 'link', 'set', 'eth0', 'up']);
      nsSh(n, ['ip', 'route', 'add', 'default', 'via', mode === 'nat' ? LAB.dip : LAB.router]);
      offloadsOff(n, 'eth0');
      st.pids.push(spawnInNs(n, [process.execPath, server, LAB.names[i]!]));
      saveState(st);
      if (mode !== 'nat') {
        const r = await realserverUp(LAB.vip, mode, n);
        if (r.state.agentPid) st.pids.push(r.state.agentPid);
        saveState(st);
      }
    }
    for (let i = 0; i < 2; i++) {
      const ok = await waitFor(() => shTry(['ip', 'netns', 'exec', ns.rs[i]!, 'curl', '-s', '-m', '1', `http://${LAB.rs[i]}/`]).status === 0, 10000, 100);
      if (!ok) throw new Error(`real server ${LAB.rs[i]} did not come up`);
    }
    if (st.director === 'daemon') {
      const script = fileURLToPath(new URL('./lab-daemon.ts', import.meta.url));
      const logPath = `/run/tsvs/lab-${prefix}-director.log`;
      rmSync(logPath, { force: true });
      rmSync(labSocket(prefix), { force: true });
      st.pids.push(spawnInNs(ns.dir, [process.execPath, '--import', 'tsx', script, labSocket(prefix), labStatusFile(prefix), 'eth0'], logPath));
      saveState(st);
      const ok = await waitFor(() => existsSync(logPath) && readFileSync(logPath, 'utf8').includes('ready'), 20000, 100);
      if (!ok) throw new Error(`director did not start: ${existsSync(logPath) ? readFileSync(logPath, 'utf8') : ''}`);
      for (const c of opts.commands ?? seedCommands(mode)) {
        const r = await labAdm(prefix, c);
        log(`tsvsadm ${c.join(' ')}${r.code ? ` -> exit ${r.code}: ${r.err.trim()}` : ''}`);
        if (r.code !== 0) throw new Error(`tsvsadm ${c.join(' ')}: ${r.err.trim()}`);
      }
      // the forwarder re-reads the rules within 250 ms
      await waitFor(() => (labForwarderStatus(prefix) !== null), 5000, 50);
      await new Promise((r) => setTimeout(r, 300));
    }
    log(`lab ${mode} up: client ${LAB.client} -> VIP ${LAB.vip}:${LAB.port} -> ${LAB.rs.join(', ')}`);
    return st;
  } catch (e) {
    await labDown(prefix);
    throw e;
  }
}

/** Stops every tracked process and deletes the lab's namespaces. Returns what was removed. */
export async function labDown(prefix = 'tsvs-lab'): Promise<{ pids: number[]; namespaces: string[] }> {
  const st = readLabState(prefix);
  const pids = st?.pids ?? [];
  // Director first (it removes its nftables table on SIGTERM), then the rest.
  for (const pid of [...pids].reverse()) await killPid(pid);
  const ours = new Set([...(st?.namespaces ?? []), ...listNetns().filter((n) => n.startsWith(`${prefix}-`))]);
  const removed: string[] = [];
  for (const n of ours) {
    const id = shTry(['ip', 'netns', 'exec', n, 'stat', '-L', '-c', '%i', '/proc/self/ns/net']).out.trim();
    if (id) for (const f of readdirSync('/run/tsvs')) if (f.startsWith(`realserver-${id}-`) || f === `ipip-agent-${id}.log`) rmSync(`/run/tsvs/${f}`, { force: true });
    if (shTry(['ip', 'netns', 'del', n]).status === 0) removed.push(n);
  }
  rmSync(stateFile(prefix), { force: true });
  for (const f of [`/run/tsvs/lab-${prefix}-director.log`, labSocket(prefix), labStatusFile(prefix)]) rmSync(f, { force: true });
  // Real-server state files of deleted namespaces are stale: drop them.
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
