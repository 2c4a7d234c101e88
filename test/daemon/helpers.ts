/** Shared helpers for daemon/proxy tests: free ports, tiny real servers, a daemon process. */
import { createServer as createNetServer, connect, type Server as NetServer } from 'node:net';
import { createServer as createHttpServer, request, type Server as HttpServer } from 'node:http';
import { createSocket } from 'node:dgram';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REPO = new URL('../../', import.meta.url).pathname;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/** Free port for both TCP and UDP on 127.0.0.1. */
export async function freePortBoth(): Promise<number> {
  for (;;) {
    const p = await freePort();
    const ok = await new Promise<boolean>((resolve) => {
      const u = createSocket('udp4');
      u.once('error', () => resolve(false));
      u.bind(p, '127.0.0.1', () => u.close(() => resolve(true)));
    });
    if (ok) return p;
  }
}

/** An HTTP server answering its name; POST bodies are echoed back. */
export async function nameServer(name: string, port = 0): Promise<{ server: HttpServer; port: number; hits: () => number }> {
  let hits = 0;
  const server = createHttpServer((req, res) => {
    hits++;
    if (req.method === 'POST') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      req.pipe(res);
      return;
    }
    const size = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('size') ?? '0');
    const body = size > 0 ? Buffer.alloc(size, name) : Buffer.from(`${name}\n`);
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length, connection: 'close' });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return { server, port: (server.address() as { port: number }).port, hits: () => hits };
}

/** `nameServer` for each name, and which name each port is: for tests that ask which server answered. */
export async function nameServers(names: readonly string[]): Promise<{ servers: Awaited<ReturnType<typeof nameServer>>[]; byPort: Map<number, string> }> {
  const servers: Awaited<ReturnType<typeof nameServer>>[] = [];
  const byPort = new Map<number, string>();
  for (const n of names) {
    const s = await nameServer(n);
    servers.push(s);
    byPort.set(s.port, n);
  }
  return { servers, byPort };
}


export function closeServer(s: HttpServer | NetServer): Promise<void> {
  return new Promise((r) => {
    (s as HttpServer).closeAllConnections?.();
    s.close(() => r());
  });
}

export interface HttpResult { status: number; body: Buffer }

export function httpGet(port: number, path = '/', host = '127.0.0.1', timeoutMs = 5000): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, method: 'GET', agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

export function httpPost(port: number, body: Buffer, host = '127.0.0.1'): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path: '/', method: 'POST', agent: false, headers: { 'content-length': body.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Sends data, half-closes, collects everything until the peer closes. */
export function tcpExchange(port: number, data: Buffer, host = '127.0.0.1'): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => { s.end(); resolve(Buffer.concat(chunks)); });
    s.on('error', reject);
    s.on('connect', () => s.end(data));
  });
}

export function udpExchange(port: number, data: Buffer, host = '127.0.0.1', timeoutMs = 2000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const u = createSocket('udp4');
    const t = setTimeout(() => { u.close(); reject(new Error('udp timeout')); }, timeoutMs);
    u.on('message', (m) => { clearTimeout(t); u.close(); resolve(m); });
    u.send(data, port, host);
  });
}

export function tmpDir(prefix = 'tsvs-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface DaemonProc {
  proc: ChildProcess;
  socket: string;
  dir: string;
  logs: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `tsvs daemon` as a real process and waits for its control socket. */
export async function startDaemon(args: string[], dir = tmpDir(), env: Record<string, string> = {}, launcher: readonly string[] = []): Promise<DaemonProc> {
  const socket = join(dir, 'tsvs.sock');
  // `launcher`: a command the daemon runs under (e.g. prlimit --nofile=N:N --), which execs it.
  const cmd = [...launcher, process.execPath, join(REPO, 'bin/tsvs.mjs'), 'daemon', '--socket', socket, ...args];
  const proc = spawn(cmd[0]!, cmd.slice(1), { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  proc.stdout!.on('data', (d: Buffer) => (logs += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (logs += d.toString()));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  const deadline = Date.now() + 15000;
  for (;;) {
    if (logs.includes('tsvs daemon ready')) break;
    if (proc.exitCode !== null) throw new Error(`daemon exited ${proc.exitCode}: ${logs}`);
    if (Date.now() > deadline) { proc.kill('SIGKILL'); throw new Error(`daemon did not start: ${logs}`); }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    proc, socket, dir, logs: () => logs,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode === null) proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), 8000);
      const c = await exited;
      clearTimeout(t);
      return c;
    },
  };
}

/** Runs bin/tsvsadm.mjs against a socket. */
export function tsvsadm(socket: string, argv: string[], stdin?: string): Promise<{ stdout: string; stderr: string; code: number | null }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [join(REPO, 'bin/tsvsadm.mjs'), ...argv], { env: { ...process.env, TSVS_SOCKET: socket }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    p.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('exit', (code) => resolve({ stdout, stderr, code }));
    p.stdin!.end(stdin ?? '');
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
