import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { defaultSocketPath, defaultStatePath } from '../../daemon/paths.ts';
import { LOG_LEVELS, type LogLevel } from '../../daemon/log.ts';
import { parseListenAddr, type ListenAddr } from '../../daemon/http/listen-addr.ts';
import { slowStartSeconds } from '../../daemon/slow-start.ts';

export const summary = 'run the load balancer in the foreground (control socket for tsvsadm)';

const HELP = `usage: tsvs daemon [options]

Runs in the foreground until SIGTERM/SIGINT; SIGHUP reloads --rules.

  --rules FILE            ipvsadm -S format rules loaded when there is no saved state,
                          and on SIGHUP / reload (a bad file is refused whole)
  --socket PATH           control socket (default: $TSVS_SOCKET, /run/tsvs/tsvs.sock as root,
                          else $XDG_RUNTIME_DIR/tsvs/tsvs.sock, else ./.tsvs/tsvs.sock)
  --state FILE            where the running rules are saved after every change and restored
                          from on start (default: /var/lib/tsvs/rules as root, else beside the
                          socket); --no-state to keep nothing
  --forwarder proxy|packet|none
                          proxy (default): TCP/UDP sockets, no root needed; packet (root):
                          NAT/DR/TUN on real packets; none: control only
  --iface IF              packet forwarder: capture on IF (repeatable; default every interface
                          with an IPv4 address except lo)
  --keepalived FILE       run keepalived.conf as it is: virtual_server/real_server with health
                          checks, vrrp_instance failover, lvs_sync_daemon; SIGHUP reloads it
  --ldirectord FILE       run ldirectord.cf as it is (virtual=/real= with checks); SIGHUP reloads
  --workers N             proxy: relay worker processes (default: number of CPUs, 0 =
                          in-process); packet: ring worker threads (default 0: the rings are
                          read in the main thread, beside the engine)
  --fast-path auto|tc|xdp|none
                          packet: forward the packets of direct-routing connections the engine
                          decided in the kernel, on tc ingress or XDP (eBPF; needs clang and
                          libbpf1; docs/PACKET-FORWARDER.md "Kernel fast path"). Default auto:
                          tc when it loads (else none, with a warning); none with --workers N
  --proxy-protocol v1|v2  send a PROXY protocol header to real servers (client address)
  --connect-timeout MS    give up connecting to a real server after MS (default 5000)
  --log-level LEVEL       ${LOG_LEVELS.join('|')} (default info); logs are JSON lines on stderr
  --http [ADDR:]PORT      serve GET /metrics (Prometheus; node_exporter's IPVS names), the API
                          and the dashboard over HTTP; off by default; 127.0.0.1 unless ADDR is
                          given (docs/OBSERVABILITY.md)
  --http-token FILE       API tokens, one per line: "admin TOKEN" (may change rules, drain)
                          or "read TOKEN"; the file must be mode 600. Without it the API's
                          reads are open and its writes refused
  --slow-start S          a real server entering service (added, or its weight raised from 0)
                          ramps its weight up over S seconds (default 0: off, as ipvsadm)
  --procfs DIR            keep DIR/net/ip_vs, ip_vs_stats and ip_vs_conn in the kernel's formats
                          (node_exporter --path.procfs DIR reads them); rewritten every second
`;

export async function run(argv: string[]): Promise<number> {
  let a;
  try {
    a = parseArgs({
      args: argv,
      options: {
        rules: { type: 'string' },
        socket: { type: 'string' },
        state: { type: 'string' },
        'no-state': { type: 'boolean' },
        forwarder: { type: 'string', default: 'proxy' },
        iface: { type: 'string', multiple: true },
        keepalived: { type: 'string' },
        ldirectord: { type: 'string' },
        workers: { type: 'string' },
        'fast-path': { type: 'string' },
        'proxy-protocol': { type: 'string' },
        'connect-timeout': { type: 'string', default: '5000' },
        'log-level': { type: 'string', default: 'info' },
        http: { type: 'string' },
        procfs: { type: 'string' },
        'http-token': { type: 'string' },
        'slow-start': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    process.stderr.write(`tsvs daemon: ${(e as Error).message}\n${HELP}`);
    return 2;
  }
  if (a.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const bad = (m: string): number => {
    process.stderr.write(`tsvs daemon: ${m}\n`);
    return 2;
  };
  if (a.forwarder !== 'proxy' && a.forwarder !== 'packet' && a.forwarder !== 'none') return bad(`unknown forwarder '${a.forwarder}' (proxy|packet|none)`);
  if (a.forwarder === 'packet' && process.getuid?.() !== 0) return bad('--forwarder packet needs root (raw packet sockets, nftables); use --forwarder proxy without root');
  if (a.keepalived && a.ldirectord) return bad('give either --keepalived or --ldirectord, not both');
  if ((a.keepalived || a.ldirectord) && a.rules) return bad('--rules cannot be combined with --keepalived/--ldirectord (the config file is the source of truth)');
  if (!LOG_LEVELS.includes(a['log-level'] as LogLevel)) return bad(`unknown log level '${a['log-level']}'`);
  const pp = a['proxy-protocol'];
  if (pp !== undefined && pp !== 'v1' && pp !== 'v2') return bad(`--proxy-protocol must be v1 or v2, not '${pp}'`);
  const { availableParallelism } = await import('node:os');
  const workers = a.workers === undefined ? availableParallelism() : Number(a.workers);
  if (!Number.isInteger(workers) || workers < 0 || workers > 64) return bad(`--workers must be an integer 0..64`);
  const fp = a['fast-path'];
  if (fp !== undefined && fp !== 'auto' && fp !== 'tc' && fp !== 'xdp' && fp !== 'none') return bad(`--fast-path must be auto, tc, xdp or none, not '${fp}'`);
  const fastPath = fp === 'tc' || fp === 'xdp' ? fp : undefined;
  // auto: the packet forwarder's default path tries tc and falls back to none.
  const autoFastPath = (fp === undefined || fp === 'auto') && a.forwarder === 'packet' && !(a.workers !== undefined && workers > 0);
  if (fastPath && a.forwarder !== 'packet') return bad(`--fast-path ${fastPath} needs --forwarder packet`);
  if (fastPath && a.workers !== undefined && workers > 0) return bad(`--fast-path ${fastPath} works with the default packet path (drop --workers)`);
  const cto = Number(a['connect-timeout']);
  if (!Number.isInteger(cto) || cto < 1) return bad('--connect-timeout must be a positive integer (ms)');
  let http: ListenAddr | null = null;
  if (a.http !== undefined) {
    const h = parseListenAddr(a.http);
    if ('error' in h) return bad(`--http: ${h.error}`);
    http = h;
  }
  if (a.procfs !== undefined && a.procfs.trim() === '') return bad('--procfs needs a directory');
  if (a['http-token'] !== undefined && !http) return bad('--http-token needs --http');
  let slowStartS: number | undefined;
  if (a['slow-start'] !== undefined) {
    try {
      slowStartS = slowStartSeconds(a['slow-start'], null);
    } catch (e) {
      return bad((e as Error).message);
    }
  }
  const socketPath = a.socket ? resolve(a.socket) : defaultSocketPath();
  const stateFile = a['no-state'] ? null : a.state ? resolve(a.state) : defaultStatePath(socketPath);
  process.env['TSVS_LOG_LEVEL'] = a['log-level'];
  const { runDaemon } = await import('../../daemon/daemon.ts');
  const { loadDeps } = await import('../../daemon/deps.ts');
  const code = await runDaemon(
    {
      socketPath,
      rulesFile: a.rules ? resolve(a.rules) : null,
      stateFile,
      forwarder: a.forwarder,
      ifaces: a.iface ?? [],
      configFile: a.keepalived ? resolve(a.keepalived) : a.ldirectord ? resolve(a.ldirectord) : null,
      configFormat: a.ldirectord ? 'ldirectord' : 'keepalived',
      logLevel: a['log-level'] as LogLevel,
      proxyProtocol: (pp as 'v1' | 'v2' | undefined) ?? null,
      workers: a.forwarder === 'proxy' ? workers : 0,
      ...(a.forwarder === 'packet' && a.workers !== undefined ? { packetWorkers: workers } : {}),
      ...(fastPath ? { fastPath } : autoFastPath ? { fastPath: 'auto' as const } : {}),
      tickMs: 200,
      connectTimeoutMs: cto,
      ...(slowStartS !== undefined ? { slowStartS } : {}),
      ...(http || a.procfs ? { observe: { http, procfsDir: a.procfs ? resolve(a.procfs) : null, httpTokenFile: a['http-token'] ? resolve(a['http-token']) : null } } : {}),
    },
    await loadDeps(),
  );
  // Exit now: do not wait for sockets of aborted relays to finish closing, or for loader threads.
  process.exit(code);
}
