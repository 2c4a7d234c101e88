/**
 * The daemon's link to the engine (src/core/engine.ts) and to ipvsadm (src/ipvsadm): one place,
 * so tests can substitute them.
 */
import { Engine } from '../core/engine.ts';
import { runIpvsadm } from '../ipvsadm/index.ts';
import { createNodeResolver } from '../ipvsadm/resolver-node.ts';
import type { DaemonDeps } from './daemon.ts';

export async function loadDeps(): Promise<DaemonDeps> {
  const resolver = createNodeResolver();
  return {
    createEngine: (o) => new Engine(o ?? {}),
    runIpvsadm: (argv, backend, io) => runIpvsadm(argv, backend, { ...io, resolver }),
  };
}
