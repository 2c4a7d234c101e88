/**
 * The ipvsadm runner (src/ipvsadm `runIpvsadm`) for `tsvs simulate`, loaded on first use so the
 * simulator's own module graph stays small.
 */
import type { RunIpvsadm } from './simulate.ts';

export async function loadRunIpvsadm(): Promise<RunIpvsadm> {
  const mod = await import('../ipvsadm/index.ts');
  return mod.runIpvsadm;
}
