/** Shared helpers for the socket checkers: target resolution, error mapping, a deadline-bound TCP/TLS session. */
import net from 'node:net';
import tls from 'node:tls';
import type { CheckResult, CheckTarget, CheckerDef } from '../types.ts';

export const DEFAULT_CONNECT_TIMEOUT = 5;

/** Where the probe goes: connect_ip / connect_port override the real server's address and port. */
export function probeAddress(def: CheckerDef, t: CheckTarget): { host: string; port: number } {
  return { host: def.connect_ip ?? t.addr, port: def.connect_port ?? t.port };
}

/** The check's time budget in milliseconds. */
export function timeoutMs(def: CheckerDef): number {
  const d = def as { connect_timeout?: number; checktimeout?: number; negotiatetimeout?: number };
  const s = def.type === 'negotiate'
    ? d.negotiatetimeout ?? d.connect_timeout ?? 30
    : d.connect_timeout ?? d.checktimeout ?? DEFAULT_CONNECT_TIMEOUT;
  return Math.max(1, Math.round(s * 1000));
}

export function ok(t0: number, extra?: { weight?: number; detail?: string }): CheckResult {
  const r: CheckResult = { ok: true, reason: extra?.detail ? `ok: ${extra.detail}` : 'ok', latencyMs: elapsed(t0) };
  return extra?.weight !== undefined ? { ...r, weight: extra.weight } : r;
}

export function fail(t0: number, code: string, detail?: string): CheckResult {
  return { ok: false, reason: detail ? `${code}: ${detail}` : code, latencyMs: elapsed(t0) };
}

export function elapsed(t0: number): number {
  return Math.round((performance.now() - t0) * 10) / 10;
}

/** Maps a socket error to a stable reason code. */
export function errorCode(e: unknown): { code: string; detail: string } {
  const err = e as NodeJS.ErrnoException & { library?: string; reason?: string };
  const c = err?.code ?? '';
  switch (c) {
    case 'ECONNREFUSED': return { code: 'refused', detail: c };
    case 'ETIMEDOUT': return { code: 'timeout', detail: c };
    case 'EHOSTUNREACH': case 'ENETUNREACH': case 'EADDRNOTAVAIL': case 'EHOSTDOWN':
      return { code: 'unreachable', detail: c };
    case 'ECONNRESET': case 'EPIPE': return { code: 'reset', detail: c };
  }
  if (c.startsWith('ERR_SSL') || c.startsWith('ERR_TLS') || err?.library === 'SSL routines') {
    return { code: 'tls error', detail: c || String(err?.message) };
  }
  return { code: 'error', detail: c || String(err?.message ?? e) };
}

export interface SessionOpts {
  host: string;
  port: number;
  bindto?: string;
  bindPort?: number;
  tls?: { servername?: string };
  deadlineMs: number;
}

/**
 * A TCP (or TLS) session bound to one absolute deadline. Every step resolves to a value; the
 * first failure is remembered as `failure` and later steps return it again.
 */
export class TcpSession {
  private sock: net.Socket | null = null;
  private buf: Buffer = Buffer.alloc(0);
  private ended = false;
  private waiter: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  failure: { code: string; detail: string } | null = null;

  constructor(private readonly o: SessionOpts) {}

  private wake() { const w = this.waiter; this.waiter = null; w?.(); }

  connect(): Promise<boolean> {
    return new Promise((resolve) => {
      const o = this.o;
      const base: net.NetConnectOpts = { host: o.host, port: o.port };
      if (o.bindto !== undefined) (base as net.TcpNetConnectOpts).localAddress = o.bindto;
      if (o.bindPort !== undefined) (base as net.TcpNetConnectOpts).localPort = o.bindPort;
      let s: net.Socket;
      try {
        s = o.tls
          ? tls.connect({ ...(base as net.TcpNetConnectOpts), rejectUnauthorized: false, ...(o.tls.servername && net.isIP(o.tls.servername) === 0 ? { servername: o.tls.servername } : {}) })
          : net.connect(base);
      } catch (e) {
        this.failure = errorCode(e);
        resolve(false);
        return;
      }
      this.sock = s;
      let done = false;
      const settle = (v: boolean) => { if (!done) { done = true; resolve(v); } };
      this.timer = setTimeout(() => {
        if (!this.failure) this.failure = { code: 'timeout', detail: `no answer within ${o.deadlineMs} ms` };
        s.destroy();
        this.ended = true;
        this.wake();
        settle(false);
      }, Math.max(0, o.deadlineMs));
      s.on(o.tls ? 'secureConnect' : 'connect', () => settle(true));
      s.on('data', (d: Buffer) => { this.buf = Buffer.concat([this.buf, d]); this.wake(); });
      s.on('end', () => { this.ended = true; this.wake(); });
      s.on('close', () => { this.ended = true; this.wake(); settle(false); });
      s.on('error', (e) => {
        if (!this.failure) this.failure = errorCode(e);
        this.ended = true;
        this.wake();
        settle(false);
      });
    });
  }

  write(data: string | Buffer): void {
    if (this.sock && !this.ended) this.sock.write(data);
  }

  /** Waits until pred(buffer) is true (returns true), or the peer closes / the deadline passes (returns pred's last value). */
  async readUntil(pred: (b: Buffer, ended: boolean) => boolean): Promise<boolean> {
    for (;;) {
      if (pred(this.buf, this.ended)) return true;
      if (this.ended) return false;
      await new Promise<void>((r) => { this.waiter = r; });
    }
  }

  /** Reads until the peer closes. */
  readAll(): Promise<boolean> { return this.readUntil((_b, ended) => ended); }

  get data(): Buffer { return this.buf; }
  consume(n: number): Buffer { const h = this.buf.subarray(0, n); this.buf = this.buf.subarray(n); return h; }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.sock) { this.sock.removeAllListeners('data'); this.sock.on('error', () => {}); this.sock.destroy(); }
    this.ended = true;
  }
}
