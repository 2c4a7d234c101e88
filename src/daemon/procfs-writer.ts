/**
 * `tsvs daemon --procfs DIR`: keeps DIR/net/ip_vs, DIR/net/ip_vs_stats and DIR/net/ip_vs_conn
 * current (src/observe/procfs.ts renders them as the kernel does), so `node_exporter
 * --path.procfs DIR` and scripts written for kernel IPVS read tsvs. Rewritten every interval;
 * each file is replaced by a rename, so a reader sees a whole old or a whole new file. The files
 * are removed on stop: a missing ip_vs_stats means "no IPVS here" to node_exporter, a stale one
 * would be read as live.
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { release } from 'node:os';
import { join } from 'node:path';
import type { Logger } from './log.ts';
import { takeConnections, type ObserveSources } from './observe.ts';
import { DEFAULT_HZ, renderIpVs, renderIpVsConn, renderIpVsStats } from '../observe/procfs.ts';

export const PROCFS_FILES = ['ip_vs', 'ip_vs_stats', 'ip_vs_conn'] as const;

/** The running kernel's CONFIG_HZ (persistent timeouts are printed in jiffies), from /boot/config-*; else Debian's 250. */
export function kernelHz(): number {
  try {
    const m = /^CONFIG_HZ=(\d+)$/m.exec(readFileSync(`/boot/config-${release()}`, 'utf8'));
    if (m) return Number(m[1]);
  } catch { /* no config file: the default */ }
  return DEFAULT_HZ;
}

export class ProcfsWriter {
  private readonly net: string;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private readonly hz = kernelHz();
  private failing = false;

  constructor(readonly dir: string, private readonly src: ObserveSources, private readonly log: Logger, private readonly intervalMs: number) {
    this.net = join(dir, 'net');
  }

  /** Creates DIR/net and writes the files once; throws with a clear message when it cannot. */
  async start(): Promise<void> {
    try {
      mkdirSync(this.net, { recursive: true });
    } catch (e) {
      throw new Error(`--procfs ${this.dir}: cannot create ${this.net}: ${(e as Error).message}`);
    }
    try {
      await this.writeAll();
    } catch (e) {
      throw new Error(`--procfs ${this.dir}: cannot write: ${(e as Error).message}`);
    }
    this.timer = setInterval(() => this.tick(), this.intervalMs);
  }

  private tick(): void {
    if (this.running) return; // a large connection table still being written: skip this round
    this.running = this.writeAll()
      .then(() => {
        if (this.failing) this.log.info({ dir: this.dir }, 'procfs files written again');
        this.failing = false;
      })
      .catch((e: Error) => {
        if (!this.failing) this.log.error({ dir: this.dir, err: e.message }, 'cannot write procfs files');
        this.failing = true;
      })
      .finally(() => { this.running = null; });
  }

  private async writeAll(): Promise<void> {
    const e = this.src.engine;
    const conns = takeConnections(this.src); // settles the packet forwarder and sets the clock first
    const files: Record<(typeof PROCFS_FILES)[number], string> = {
      ip_vs: renderIpVs(e.services(), e.info(), this.hz),
      ip_vs_stats: renderIpVsStats(e.totalStats(), e.totalRates()),
      ip_vs_conn: renderIpVsConn(conns),
    };
    for (const name of PROCFS_FILES) {
      const path = join(this.net, name);
      const tmp = `${path}.${process.pid}.tmp`;
      await writeFile(tmp, files[name], { mode: 0o444 });
      await rename(tmp, path);
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
    for (const name of PROCFS_FILES) rmSync(join(this.net, name), { force: true });
  }
}
