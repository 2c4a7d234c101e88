/** An interface's addresses as iproute2 reports them (`ip -j addr show dev IF`); [] when unknown. */
import { execFileSync } from 'node:child_process';

export interface IfAddr {
  readonly local: string;
  readonly prefixlen: number;
  readonly scope?: string;
  readonly tentative?: boolean;
  readonly dadfailed?: boolean;
}

export function interfaceAddrs(dev: string, family: 4 | 6): IfAddr[] {
  try {
    const out = JSON.parse(execFileSync('ip', ['-j', `-${family}`, 'addr', 'show', 'dev', dev], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as { addr_info?: IfAddr[] }[];
    return out.flatMap((l) => l.addr_info ?? []);
  } catch {
    return [];
  }
}
