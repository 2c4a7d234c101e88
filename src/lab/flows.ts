/**
 * Long-lived flows through a lab's VIP, for the scale-out test and bench: runs flows-client.mjs in
 * the client namespace (a bounded load: a fixed number of flows for a fixed time) and reads which
 * flows broke; lists which client flows a director carries (tsvsadm -L -n -c).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { LAB, labAdm, labNs, readLabState, type DirectorName } from './topology.ts';
import { shTry } from './netns.ts';

export interface FlowLoad {
  readonly host: string;
  readonly port: number;
  /** Keep-alive flows asking "/" every intervalMs. */
  readonly requests: number;
  /** Flows downloading /stream/mib at `rate` bytes/s (every byte checked). */
  readonly downloads: number;
  readonly mib: number;
  readonly rate: number;
  readonly intervalMs: number;
  readonly durationMs: number;
  /** A flow without an answer for this long is broken. */
  readonly timeoutMs: number;
}

export interface FlowResult {
  readonly kind: 'requests' | 'download';
  /** The client's port: the flow's identity in the directors' tables. */
  readonly lport: number;
  /** The real server's name (test1, test2). */
  readonly server: string;
  readonly requests: number;
  readonly bytes: number;
  readonly broken: string | null;
  /** ms from the load's start. */
  readonly brokenAt: number | null;
  /** The longest wait for an answer (requests: one request's; downloads: the response head's). */
  readonly maxWaitMs: number;
}

/** 24 keep-alive request flows (one request every 50 ms each) and 3 downloads of 6 MiB at 1.5 MB/s, for 6 s. */
export const DEFAULT_FLOW_LOAD: FlowLoad = { host: LAB.vip, port: LAB.port, requests: 24, downloads: 3, mib: 6, rate: 1_500_000, intervalMs: 50, durationMs: 6000, timeoutMs: 3000 };

const CLIENT_JS = fileURLToPath(new URL('./flows-client.mjs', import.meta.url));

/**
 * Runs `load` from the lab's client; `event` runs once every flow reached its real server (and
 * none broke), given the flows' client ports. Resolves with every flow's outcome. Throws when the
 * load cannot start.
 */
export async function runFlows(prefix: string, event: (ports: readonly number[]) => Promise<void>, load: FlowLoad = DEFAULT_FLOW_LOAD): Promise<FlowResult[]> {
  const c = spawn('ip', ['netns', 'exec', labNs(prefix).client, process.execPath, CLIENT_JS, JSON.stringify(load)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  c.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  c.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const done = new Promise<void>((r) => c.on('close', () => r()));
  for (let t = 0; t < 100 && !out.includes('"ready"'); t++) await new Promise((r) => setTimeout(r, 50));
  if (!out.includes('"ready"') || !/"broken":0\}/.test(out)) {
    c.kill('SIGKILL');
    await done;
    throw new Error(`the load did not start cleanly: ${out}${err}`);
  }
  const readyLine = out.split('\n').find((l) => l.includes('"ready"'))!;
  await event((JSON.parse(readyLine) as { ports: number[] }).ports);
  await done;
  const flows = (JSON.parse(out.trim().split('\n').pop()!) as { flows: FlowResult[] }).flows;
  if (flows.length !== load.requests + load.downloads) throw new Error(`the load reported ${flows.length} flows: ${err}`);
  return flows;
}

/**
 * A director's connections from the lab's client: client port -> real server name. Any state, or
 * only ESTABLISHED ones (`established`): what a running load has there now, not the closed
 * entries of an earlier load whose client port the kernel may have given out again.
 */
export async function directorFlows(prefix: string, d: DirectorName, o: { established?: boolean } = {}): Promise<Map<number, string>> {
  const r = await labAdm(prefix, ['-L', '-n', '-c'], undefined, d);
  if (r.code !== 0) throw new Error(`tsvsadm -L -n -c on ${d}: ${r.err}`);
  const m = new Map<number, string>();
  const re = new RegExp(`^TCP\\s+\\S+\\s+(\\S+)\\s+${LAB.client.replace(/\./g, '\\.')}:(\\d+)\\s+${LAB.vip.replace(/\./g, '\\.')}:${LAB.port}\\s+([\\d.]+):${LAB.port}`);
  for (const line of r.out.split('\n')) {
    const x = re.exec(line);
    if (x && (!o.established || x[1] === 'ESTABLISHED')) m.set(Number(x[2]), LAB.names[LAB.rs.indexOf(x[3] as typeof LAB.rs[number])] ?? x[3]!);
  }
  return m;
}

/** The resets directors sent to the lab's client while a capture ran: client port -> the directors that reset it. */
export type ResetsByDirector = Map<number, DirectorName[]>;

/**
 * Captures the TCP resets the directors send the client (tcpdump on the router's bridge, inside
 * the router's namespace, until `stop()`), each told apart by its source MAC address: a director
 * that joins while the capture runs is seen too. With the proxy forwarder a director resets a
 * flow's packet when it holds no socket for it: the router moved the flow there.
 */
export async function captureResets(prefix: string): Promise<{ stop(): Promise<ResetsByDirector> }> {
  const filter = `tcp and src host ${LAB.vip} and src port ${LAB.port} and dst host ${LAB.client} and tcp[tcpflags] & tcp-rst != 0`;
  const c = spawn('ip', ['netns', 'exec', labNs(prefix).router, 'tcpdump', '-l', '-n', '-e', '-Q', 'in', '-i', 'br0', filter], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  const closed = new Promise<void>((r) => c.on('close', () => r()));
  c.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
  c.stderr!.on('data', (b: Buffer) => { err += b.toString(); });
  for (let t = 0; t < 100 && !err.includes('listening on'); t++) await new Promise((r) => setTimeout(r, 50));
  if (!err.includes('listening on')) {
    c.kill('SIGKILL');
    await closed;
    throw new Error(`tcpdump did not start: ${err}`);
  }
  return {
    async stop() {
      // tcpdump writes its line-buffered output out on SIGTERM.
      c.kill('SIGTERM');
      await closed;
      const byMac = new Map<string, DirectorName>();
      for (const d of readLabState(prefix)?.directors ?? []) {
        const l = shTry(['ip', '-n', d.ns, '-j', 'link', 'show', 'eth0']);
        if (l.status === 0) byMac.set((JSON.parse(l.out) as { address: string }[])[0]!.address, d.name);
      }
      const m: ResetsByDirector = new Map();
      const re = new RegExp(`^\\S+ ([0-9a-f:]{17}) > .* > ${LAB.client.replace(/\./g, '\\.')}\\.(\\d+): Flags \\[R`);
      for (const line of out.split('\n')) {
        const p = re.exec(line);
        if (!p) continue;
        const who = byMac.get(p[1]!);
        if (!who) throw new Error(`a reset from an unknown MAC address: ${line}`);
        const by = m.get(Number(p[2])) ?? [];
        if (!by.includes(who)) by.push(who);
        m.set(Number(p[2]), by);
      }
      return m;
    },
  };
}
