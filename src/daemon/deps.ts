/**
 * The daemon's link to the engine (src/core/engine.ts) and to ipvsadm (src/ipvsadm): one place,
 * so tests can substitute them.
 */
import type { IpvsBackend } from '../core/types.ts';
import type { DaemonDeps, EngineLike } from './daemon.ts';
import type { IpvsadmResult } from './protocol.ts';

interface EngineModule { Engine: new () => EngineLike }
interface IpvsadmModule { runIpvsadm(argv: string[], backend: IpvsBackend, io: { stdin?: string; resolver?: unknown }): Promise<IpvsadmResult> }
interface ResolverModule { [k: string]: unknown }

async function load<T>(spec: string): Promise<T> {
  return (await import(new URL(spec, import.meta.url).href)) as T;
}

export async function loadDeps(): Promise<DaemonDeps> {
  const { Engine } = await load<EngineModule>('../core/engine.ts');
  const ipvsadm = await load<IpvsadmModule>('../ipvsadm/index.ts');
  const resMod = await load<ResolverModule>('../ipvsadm/resolver-node.ts').catch(() => ({}) as ResolverModule);
  const resolverFactory = Object.values(resMod).find((v) => typeof v === 'function') as (() => unknown) | undefined;
  const resolverObj = Object.values(resMod).find((v) => typeof v === 'object' && v !== null);
  const resolver = resolverObj ?? (resolverFactory ? resolverFactory() : undefined);
  return {
    createEngine: () => new Engine(),
    runIpvsadm: (argv, backend, io) => ipvsadm.runIpvsadm(argv, backend, resolver ? { ...io, resolver } : io),
  };
}
