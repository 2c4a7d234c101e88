/**
 * Where the modules that run as a thread or a process of their own live, and the package's
 * files: one place, so moving a module touches one line here.
 *
 * Shipped code is the compiled JavaScript in dist/ (`npm run build`, which mirrors src/), and its
 * threads and processes run the compiled modules beside it with plain node. The tests run the
 * TypeScript sources under tsx; then a thread or process runs the TypeScript too, with tsx
 * registered by its absolute path (so any working directory works), never the compiled copy,
 * which may be older than the sources.
 */
import { fileURLToPath } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** This file is <package>/src/os/entries.ts (under tsx) or <package>/dist/os/entries.js. */
const SELF = import.meta.url;
const FROM_SOURCE = SELF.endsWith('.ts');
const CODE_ROOT = new URL('../', SELF);
const PACKAGE_ROOT = new URL('../../', SELF);

/** Runnable modules, relative to src/ (or dist/), without extension. */
export const ENTRIES = {
  /** A packet forwarder ring worker (thread). */
  packetWorker: 'forwarders/packet/worker',
  /** A proxy relay worker (thread, or cluster process). */
  proxyWorker: 'forwarders/proxy/worker',
  /** The real server's tunnel decapsulation agent (process). */
  tunnelAgent: 'lab/ipip-agent',
} as const;
export type EntryName = keyof typeof ENTRIES;

/** The absolute path of a file shipped with the package (e.g. 'bpf/tsvs_fastpath.c', 'bin/tsvs.mjs'). */
export function packageFile(rel: string): string {
  return fileURLToPath(new URL(rel, PACKAGE_ROOT));
}

/** The module file of an entry: the compiled .js, or the .ts source when running from source. */
export function entryFile(name: EntryName): string {
  return fileURLToPath(new URL(`${ENTRIES[name]}${FROM_SOURCE ? '.ts' : '.js'}`, CODE_ROOT));
}

/** Node options a process running an entry needs besides the file (tsx when running from source). */
export function entryExecArgv(): string[] {
  return FROM_SOURCE ? ['--import', import.meta.resolve('tsx')] : [];
}

/** The argv (after the node executable) that runs an entry as a process. */
export function entryNodeArgs(name: EntryName, args: readonly string[] = []): string[] {
  return [...entryExecArgv(), entryFile(name), ...args];
}

/**
 * Starts an entry as a worker thread. From source, a small shim registers tsx inside the thread
 * (a thread does not inherit the loader) and then imports the entry, named by the last argv.
 */
export function startThread(name: EntryName, options: WorkerOptions = {}): Worker {
  if (!FROM_SOURCE) return new Worker(entryFile(name), options);
  return new Worker(packageFile('scripts/tsx-thread.mjs'), { ...options, argv: [...(options.argv ?? []), entryFile(name)] });
}
