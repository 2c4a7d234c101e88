/**
 * The daemon's descriptor limits (docs/CONTROL-API.md "Descriptor limits"): the soft
 * RLIMIT_NOFILE raised to the hard one at start, a reserve kept for the control socket, health
 * checkers, the HTTP listener and the rest, and, in proxy mode, the admission table every relay
 * thread admits new connections against (its budget follows the listening sockets).
 */
import type { ServiceKey } from '../core/types.ts';
import type { ProxyOptions } from '../dataplane/options.ts';
import { Admission, connectionBudget, descriptorReserve, type AdmissionStatus } from '../forwarders/proxy/admission.ts';
import { raiseNofile, type NofileLimit } from '../os/rlimit.ts';

export interface LimitsStatus {
  nofile: NofileLimit & { atStart: NofileLimit };
  reserve: number;
  proxy: AdmissionStatus | null;
}

export class DescriptorLimits {
  readonly nofile: { before: NofileLimit; after: NofileLimit };
  /** Proxy mode: shared by the main thread's forwarder or the relay threads. */
  readonly admission: Admission | null;

  constructor(private readonly forwarder: 'proxy' | 'packet' | 'none', private readonly proxy: ProxyOptions, log: { info(o: object, m: string): void; warn(o: object, m: string): void }) {
    this.nofile = raiseNofile();
    const { before, after } = this.nofile;
    log.info({ soft: after.soft, hard: after.hard, softAtStart: before.soft, reserve: descriptorReserve(after.soft) }, 'descriptor limit');
    if (after.soft < 1024) log.warn({ soft: after.soft }, 'descriptor limit below 1024: raise the hard limit (systemd LimitNOFILE, ulimit -Hn)');
    this.admission = forwarder === 'proxy' ? new Admission() : null;
    this.listenersChanged([]);
  }

  /** After every rule change: the listening sockets take descriptors from the proxy's budget. */
  listenersChanged(keys: readonly ServiceKey[]): void {
    if (!this.admission) return;
    let listening = 0;
    for (const k of keys) if (k.fwmark === 0 && (k.protocol === 'tcp' || k.protocol === 'udp')) listening++;
    // Relay threads each hold a descriptor of every TCP listening socket besides the main thread's.
    const perService = this.proxy.workers > 0 && this.proxy.workerMode === 'threads' ? this.proxy.workers + 1 : 1;
    this.admission.configure(connectionBudget(this.nofile.after.soft, listening * perService), this.proxy.maxconn);
  }

  status(): LimitsStatus {
    return {
      nofile: { ...this.nofile.after, atStart: this.nofile.before },
      reserve: descriptorReserve(this.nofile.after.soft),
      proxy: this.admission?.status() ?? null,
    };
  }
}
