/**
 * Fixed texts of ipvsadm 1.31: version line, usage (-h), kernel-error messages (libipvs
 * ipvs_strerror table + strerror fallback).
 */
import type { Errno, IpvsCommand } from '../core/types.ts';

export const IPVSADM_VERSION = 'v1.31 2019/12/24';
/** IP_VS_VERSION_CODE ipvsadm was compiled against (printed by -v/-h, not the kernel's). */
export const COMPILED_IPVS_VERSION = '1.2.1';
export const SCHEDULERS = 'rr|wrr|lc|wlc|lblc|lblcr|dh|sh|sed|nq|fo|ovf|mh';
export const PE_LIST = 'sip';

export function versionText(): string {
  return `ipvsadm ${IPVSADM_VERSION} (compiled with popt and IPVS v${COMPILED_IPVS_VERSION})\n`;
}

export function tryHelpText(program: string): string {
  return `Try \`${program} -h' or '${program} --help' for more information.\n`;
}

export function usageText(program: string): string {
  const p = program;
  return (
    versionText() +
    'Usage:\n' +
    `  ${p} -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--pe persistence_engine] [-b sched-flags]\n` +
    `  ${p} -D virtual-service\n` +
    `  ${p} -C\n` +
    `  ${p} -R\n` +
    `  ${p} -S [-n]\n` +
    `  ${p} -a|e virtual-service -r server-address [options]\n` +
    `  ${p} -d virtual-service -r server-address\n` +
    `  ${p} -L|l [virtual-service] [options]\n` +
    `  ${p} -Z [virtual-service]\n` +
    `  ${p} --set tcp tcpfin udp\n` +
    `  ${p} --start-daemon {master|backup} [daemon-options]\n` +
    `  ${p} --stop-daemon {master|backup}\n` +
    `  ${p} -h\n\n` +
    'Commands:\n' +
    'Either long or short options are allowed.\n' +
    '  --add-service     -A        add virtual service with options\n' +
    '  --edit-service    -E        edit virtual service with options\n' +
    '  --delete-service  -D        delete virtual service\n' +
    '  --clear           -C        clear the whole table\n' +
    '  --restore         -R        restore rules from stdin\n' +
    '  --save            -S        save rules to stdout\n' +
    '  --add-server      -a        add real server with options\n' +
    '  --edit-server     -e        edit real server with options\n' +
    '  --delete-server   -d        delete real server\n' +
    '  --list            -L|-l     list the table\n' +
    '  --zero            -Z        zero counters in a service or all services\n' +
    '  --set tcp tcpfin udp        set connection timeout values\n' +
    '  --start-daemon              start connection sync daemon\n' +
    '  --stop-daemon               stop connection sync daemon\n' +
    '  --help            -h        display this help message\n\n' +
    'virtual-service:\n' +
    '  --tcp-service|-t  service-address   service-address is host[:port]\n' +
    '  --udp-service|-u  service-address   service-address is host[:port]\n' +
    '  --sctp-service    service-address   service-address is host[:port]\n' +
    '  --fwmark-service|-f fwmark          fwmark is an integer greater than zero\n' +
    '\n' +
    'Options:\n' +
    '  --ipv6         -6                   fwmark entry uses IPv6\n' +
    `  --scheduler    -s scheduler         one of ${SCHEDULERS},\n` +
    '                                      the default scheduler is wlc.\n' +
    `  --pe            engine              alternate persistence engine may be ${PE_LIST},\n` +
    '                                      not set by default.\n' +
    '  --persistent   -p [timeout]         persistent service\n' +
    '  --netmask      -M netmask           persistent granularity mask\n' +
    '  --real-server  -r server-address    server-address is host (and port)\n' +
    '  --gatewaying   -g                   gatewaying (direct routing) (default)\n' +
    '  --ipip         -i                   ipip encapsulation (tunneling)\n' +
    '  --masquerading -m                   masquerading (NAT)\n' +
    '  --tun-type      type                one of ipip|gue|gre,\n' +
    '                                      the default tunnel type is ipip.\n' +
    '  --tun-port      port                tunnel destination port\n' +
    '  --tun-nocsum                        tunnel encapsulation without checksum\n' +
    '  --tun-csum                          tunnel encapsulation with checksum\n' +
    '  --tun-remcsum                       tunnel encapsulation with remote checksum\n' +
    '  --weight       -w weight            capacity of real server\n' +
    '  --u-threshold  -x uthreshold        upper threshold of connections\n' +
    '  --l-threshold  -y lthreshold        lower threshold of connections\n' +
    '  --connection   -c                   output of current IPVS connections\n' +
    '  --timeout                           output of timeout (tcp tcpfin udp)\n' +
    '  --daemon                            output of daemon information\n' +
    '  --stats                             output of statistics information\n' +
    '  --rate                              output of rate information\n' +
    '  --exact                             expand numbers (display exact values)\n' +
    '  --thresholds                        output of thresholds information\n' +
    '  --persistent-conn                   output of persistent connection info\n' +
    '  --tun-info                          output of tunnel information\n' +
    '  --nosort                            disable sorting output of service/server entries\n' +
    '  --sort                              does nothing, for backwards compatibility\n' +
    '  --ops          -o                   one-packet scheduling\n' +
    '  --numeric      -n                   numeric output of addresses and ports\n' +
    '  --sched-flags  -b flags             scheduler flags (comma-separated)\n' +
    'Daemon Options:\n' +
    '  --syncid sid                        syncid for connection sync (default=255)\n' +
    '  --sync-maxlen length                Max sync message length (default=1472)\n' +
    '  --mcast-interface interface         multicast interface for connection sync\n' +
    '  --mcast-group address               IPv4/IPv6 group (default=224.0.0.81)\n' +
    '  --mcast-port port                   UDP port (default=8848)\n' +
    '  --mcast-ttl ttl                     Multicast TTL (default=1)\n'
  );
}

/** strerror() texts (glibc) for the errnos the engine may answer with. */
const STRERROR: Record<Errno, string> = {
  EEXIST: 'File exists',
  ENOENT: 'No such file or directory',
  ESRCH: 'No such process',
  EINVAL: 'Invalid argument',
  ERANGE: 'Numerical result out of range',
  ENOMEM: 'Cannot allocate memory',
  EPERM: 'Operation not permitted',
  ENODEV: 'No such device',
  EOPNOTSUPP: 'Operation not supported',
  EAFNOSUPPORT: 'Address family not supported by protocol',
  ENOPROTOOPT: 'Protocol not available',
  EMSGSIZE: 'Message too long',
};

/** The libipvs call that failed; ipvs_strerror's table is keyed on it. */
export type IpvsFunc =
  | 'add_service' | 'update_service' | 'del_service' | 'zero_service' | 'flush'
  | 'add_dest' | 'update_dest' | 'del_dest' | 'set_timeout' | 'start_daemon' | 'stop_daemon'
  | 'get_service' | 'get_services' | 'get_dests';

const TABLE: ReadonlyArray<readonly [IpvsFunc | null, Errno, string]> = [
  ['add_service', 'EEXIST', 'Service already exists'],
  ['add_service', 'ENOENT', 'Scheduler or persistence engine not found'],
  ['update_service', 'ESRCH', 'No such service'],
  ['update_service', 'ENOENT', 'Scheduler or persistence engine not found'],
  ['del_service', 'ESRCH', 'No such service'],
  ['zero_service', 'ESRCH', 'No such service'],
  ['add_dest', 'ESRCH', 'Service not defined'],
  ['add_dest', 'EEXIST', 'Destination already exists'],
  ['update_dest', 'ESRCH', 'Service not defined'],
  ['update_dest', 'ENOENT', 'No such destination'],
  ['del_dest', 'ESRCH', 'Service not defined'],
  ['del_dest', 'ENOENT', 'No such destination'],
  ['start_daemon', 'EEXIST', 'Daemon has already run'],
  ['stop_daemon', 'ESRCH', 'No daemon is running'],
  ['get_services', 'ESRCH', 'No such service'],
  ['get_dests', 'ESRCH', 'No such service'],
  ['get_service', 'ESRCH', 'No such service'],
  [null, 'EPERM', 'Permission denied (you must be root)'],
  [null, 'EINVAL', 'Invalid operation.  Possibly wrong module version, address not unicast, ...'],
  [null, 'ENOPROTOOPT', 'Protocol not available'],
  [null, 'ENOMEM', 'Memory allocation problem'],
  [null, 'EOPNOTSUPP', 'Operation not supported with IPv6'],
  [null, 'EAFNOSUPPORT', 'Operation not supported with specified address family'],
  [null, 'EMSGSIZE', 'Module is wrong version'],
];

/** ipvs_strerror(errno) as set by the libipvs call `func`. */
export function ipvsStrerror(func: IpvsFunc, err: Errno): string {
  for (const [f, e, msg] of TABLE) if ((f === null || f === func) && e === err) return msg;
  return STRERROR[err] ?? `Unknown error ${String(err)}`;
}

export function funcOfCommand(cmd: IpvsCommand): IpvsFunc {
  switch (cmd.kind) {
    case 'add-service': return 'add_service';
    case 'edit-service': return 'update_service';
    case 'delete-service': return 'del_service';
    case 'flush': return 'flush';
    case 'add-dest': return 'add_dest';
    case 'edit-dest': return 'update_dest';
    case 'delete-dest': return 'del_dest';
    case 'zero': return 'zero_service';
    case 'set-timeouts': return 'set_timeout';
    case 'start-daemon': return 'start_daemon';
    case 'stop-daemon': return 'stop_daemon';
  }
}

/** The §5.8 message ipvsadm prints (without newline) when `cmd` fails with `err`. */
export function commandErrorMessage(cmd: IpvsCommand, err: Errno): string {
  return ipvsStrerror(funcOfCommand(cmd), err);
}
