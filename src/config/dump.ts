/**
 * The rules a desired state applies, rendered as `ipvsadm -S -n` lines (what `ipvsadm -R`
 * reads). Config order, not sorted. Thresholds are not shown (as -S).
 */
import { formatIpv4 } from '../core/addr.ts';
import { SVC_F, type DestSpec, type ServiceSpec } from '../core/types.ts';
import { hostPort } from '../core/service-key.ts';
import type { ServiceRule } from './diff.ts';

function svcArg(s: ServiceSpec): string {
  if (s.fwmark > 0) return s.af === 6 ? `-f ${s.fwmark} -6` : `-f ${s.fwmark}`;
  const opt = s.protocol === 'tcp' ? '-t' : s.protocol === 'udp' ? '-u' : '--sctp-service';
  return `${opt} ${hostPort(s.addr, s.port)}`;
}

function schedFlags(s: ServiceSpec): string {
  const names: string[] = [];
  const pre = s.scheduler === 'sh' || s.scheduler === 'mh' ? s.scheduler : null;
  if (s.flags & SVC_F.SCHED1) names.push(pre ? `${pre}-fallback` : 'flag-1');
  if (s.flags & SVC_F.SCHED2) names.push(pre ? `${pre}-port` : 'flag-2');
  if (s.flags & SVC_F.SCHED3) names.push('flag-3');
  return names.join(',');
}

export function renderService(s: ServiceSpec): string {
  let out = `-A ${svcArg(s)} -s ${s.scheduler}`;
  if (s.flags & SVC_F.PERSISTENT) {
    out += ` -p ${s.timeout}`;
    if (s.af === 4 && s.netmask !== 0xffffffff) out += ` -M ${formatIpv4(s.netmask)}`;
    if (s.af === 6 && s.netmask !== 128) out += ` -M ${s.netmask}`;
  }
  if (s.pe) out += ` --pe ${s.pe}`;
  if (s.flags & SVC_F.ONEPACKET) out += ' -o';
  const b = schedFlags(s);
  if (b) out += ` -b ${b}`;
  return out;
}

export function renderDest(s: ServiceSpec, d: DestSpec): string {
  const m = d.fwd === 'masq' ? '-m' : d.fwd === 'tunnel' ? '-i' : d.fwd === 'local' ? '-g' : '-g';
  let out = `-a ${svcArg(s)} -r ${hostPort(d.addr, d.port)} ${m} -w ${d.weight}`;
  if (d.fwd === 'tunnel') {
    if (d.tunType === 'ipip') out += ' --tun-type ipip';
    else if (d.tunType === 'gre') out += ` --tun-type gre --tun-${d.tunCsum}`;
    else out += ` --tun-type gue --tun-port ${d.tunPort} --tun-${d.tunCsum}`;
  }
  return out;
}

export function renderRules(rules: readonly ServiceRule[]): string {
  const lines: string[] = [];
  for (const r of rules) {
    lines.push(renderService(r.spec));
    for (const d of r.dests) lines.push(renderDest(r.spec, d));
  }
  return lines.length ? lines.join('\n') + '\n' : '';
}
