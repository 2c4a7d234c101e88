/**
 * Finds the ipvsadm runner (src/ipvsadm `runIpvsadm`). Until that module exports it, a minimal
 * fallback applies mutating commands through the parser and answers listings with an error.
 */
import type { IpvsBackend } from '../core/types.ts';
import type { IpvsadmResult, RunIpvsadm } from './simulate.ts';

const CANDIDATES = ['../ipvsadm/index.ts', '../ipvsadm/run.ts'];

export async function loadRunIpvsadm(): Promise<RunIpvsadm> {
  for (const c of CANDIDATES) {
    try {
      const mod = (await import(new URL(c, import.meta.url).href)) as { runIpvsadm?: unknown };
      if (typeof mod.runIpvsadm === 'function') return mod.runIpvsadm as RunIpvsadm;
    } catch {
      // not there (yet)
    }
  }
  return fallbackRunIpvsadm;
}

/** Mutating commands only: parse, apply, map errors to ipvsadm's texts and exit codes. */
export async function fallbackRunIpvsadm(argv: string[], backend: IpvsBackend): Promise<IpvsadmResult> {
  const parse = (await import('../ipvsadm/parse.ts')) as typeof import('../ipvsadm/parse.ts');
  const texts = (await import('../ipvsadm/texts.ts')) as typeof import('../ipvsadm/texts.ts');
  const r = parse.parseIpvsadm(argv);
  if (r.kind === 'failure') return { stdout: '', stderr: r.stderr, code: r.code };
  if (r.kind !== 'apply') return { stdout: '', stderr: 'listings need runIpvsadm from src/ipvsadm\n', code: 1 };
  const e = backend.apply(r.command);
  if (e) return { stdout: '', stderr: `${texts.commandErrorMessage(r.command, e)}\n`, code: 255 };
  return { stdout: '', stderr: '', code: 0 };
}
