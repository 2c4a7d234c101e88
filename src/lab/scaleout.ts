/**
 * The scale-out lab (`tsvs lab up dr|tun --directors N`, docs/SCALE-OUT.md): N active directors
 * dir1..dirN (192.168.10.1..N) on the router's bridge, each `tsvs daemon --forwarder packet
 * --bgp bird` announcing the VIP to the router's BIRD (AS 65001 -> AS 65000), which installs one
 * multipath route and spreads flows over the directors by an L4 hash. Every director runs the same
 * rules file: mh with mh-port (the same real server for a flow whichever director gets it) and
 * --sloppy-tcp on (a director continues a flow it first sees mid-stream). Hold time 3 s (the BGP
 * minimum): the last resort when a director hangs without closing its sessions.
 */
import { writeFileSync } from 'node:fs';

export const SCALE_OUT = {
  routerAs: 65000,
  directorAs: 65001,
  holdSeconds: 3,
  /** The router is configured for this many directors (those not running stay idle), so directors can be added. */
  maxDirectors: 8,
} as const;

/** dirK's address on the router's bridge. */
export const scaleOutDirectorIp = (k: number): string => `192.168.10.${k}`;

/**
 * The rules every director loads (ipvsadm -R format): mh with mh-port over the given real servers,
 * in this order on every director. 'nat': masquerading, what the proxy forwarder carries.
 */
export function scaleOutRules(mode: 'dr' | 'tun' | 'nat', vip: string, port: number, reals: readonly string[]): string {
  const m = mode === 'tun' ? '-i' : mode === 'nat' ? '-m' : '-g';
  return [`-A -t ${vip}:${port} -s mh -b mh-port`, ...reals.map((r) => `-a -t ${vip}:${port} -r ${r}:${port} ${m} -w 1`)].join('\n') + '\n';
}

/** The `tsvs daemon` arguments of a scale-out director (besides the lab's --forwarder packet --iface eth0 --socket). */
export function scaleOutDaemonArgs(rulesFile: string, router: string): string[] {
  return [
    '--rules', rulesFile, '--sloppy-tcp', 'on', '--expire-nodest-conn', 'on',
    '--bgp', 'bird', '--bgp-as', String(SCALE_OUT.directorAs), '--bgp-peer', router, '--bgp-peer-as', String(SCALE_OUT.routerAs),
    '--bgp-hold', String(SCALE_OUT.holdSeconds),
  ];
}

/** Writes the rules file; returns its path. */
export function writeScaleOutRules(path: string, text: string): string {
  writeFileSync(path, text);
  return path;
}

/** The router's BGP peers: dir1..dirMax. */
export function scaleOutRouterPeers(): { name: string; address: string; as: number }[] {
  return Array.from({ length: SCALE_OUT.maxDirectors }, (_, i) => ({ name: `dir${i + 1}`, address: scaleOutDirectorIp(i + 1), as: SCALE_OUT.directorAs }));
}
