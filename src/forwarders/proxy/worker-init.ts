/**
 * What a relay worker is started with (./cluster.ts -> ./worker.ts): a thread gets it in
 * workerData.tsvsRelay, a cluster worker process as JSON after RELAY_ARG in its argv. Options
 * travel here, never through the environment.
 */
import type { RelayKind } from '../../dataplane/options.ts';

export interface RelayWorkerInit {
  readonly relay: RelayKind;
  readonly speculate: boolean;
  /** The daemon's log level. */
  readonly logLevel: string;
  /** Threads: the daemon's admission table (./admission.ts), shared. */
  readonly admission?: SharedArrayBuffer;
  /** Processes: this worker's share of the per-service maximum (each process admits on its own). */
  readonly maxconn?: number;
}

export const RELAY_ARG = '--tsvs-relay';
