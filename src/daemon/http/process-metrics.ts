/**
 * Process metrics (CPU, memory, event loop lag, GC, handles: process_* and nodejs_*) from
 * prom-client, the maintained Prometheus client library for Node, in a registry of their own:
 * its collectors start only when the HTTP listener does.
 */
import { Registry, collectDefaultMetrics } from 'prom-client';

export class ProcessMetrics {
  private readonly registry = new Registry();

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  stop(): void {
    // The event loop monitor and GC observer end with the registry's metrics.
    this.registry.clear();
  }
}
