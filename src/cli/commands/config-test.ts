/**
 * `tsvs config-test FILE [--type keepalived|ldirectord|auto] [--dump] [--config-id ID] [--quiet]`
 * Like `keepalived -t`: prints every error and warning (file:line[:col]), then a short summary
 * of what was understood, or with --dump the rules it would apply (ipvsadm -S format, every
 * real server up except alpha ones).
 *
 * Exit codes: for keepalived.conf, keepalived -t's (0 clean; 2 a missing parameter; 4 the file
 * cannot be run: missing file, include_check failures; 5 any other problem keepalived reports, and
 * anything tsvs does not do as keepalived does; 6 script security), a note (what keepalived does
 * silently) never failing it. For ldirectord.cf: 0, or 1 when the file is refused. 2 on usage.
 */
import type { ConfigFormat } from '../../config/desired.ts';
import { formatDiagnostic, keepalivedTestExit, KA_EXIT, summarize } from '../../config/desired.ts';
import { targetRules } from '../../config/diff.ts';
import { renderRules } from '../../config/dump.ts';
import { loadConfig } from '../../config/load.ts';
import { withDaemonOptionChecks } from '../../daemon/options.ts';

export const summary = 'check a keepalived.conf or ldirectord.cf and print every problem (like keepalived -t)';

/** keepalived's KEEPALIVED_CHK_EXIT_CONFIG_TEST_SECURITY (lib/scheduler.h). */
export const EXIT_SECURITY = KA_EXIT.security;

const USAGE = 'usage: tsvs config-test FILE [--type keepalived|ldirectord|auto] [--dump] [--config-id ID] [--quiet]\n';

export async function run(argv: string[]): Promise<number> {
  let file: string | undefined;
  let type: ConfigFormat | 'auto' = 'auto';
  let dump = false, quiet = false;
  let configId: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' || a === '--help') { process.stdout.write(USAGE); return 0; }
    else if (a === '--dump' || a === '-S') dump = true;
    else if (a === '--quiet' || a === '-q') quiet = true;
    else if (a === '--type' || a.startsWith('--type=')) {
      const v = a.includes('=') ? a.slice(7) : argv[++i];
      if (v !== 'keepalived' && v !== 'ldirectord' && v !== 'auto') { process.stderr.write(`tsvs config-test: --type must be keepalived, ldirectord or auto\n${USAGE}`); return 2; }
      type = v;
    } else if (a === '--config-id' || a === '-i') {
      configId = argv[++i];
      if (configId === undefined) { process.stderr.write(`tsvs config-test: --config-id needs a value\n${USAGE}`); return 2; }
    } else if (a.startsWith('-') && a !== '-') { process.stderr.write(`tsvs config-test: unknown option '${a}'\n${USAGE}`); return 2; }
    else if (file === undefined) file = a;
    else { process.stderr.write(`tsvs config-test: only one FILE\n${USAGE}`); return 2; }
  }
  if (!file) { process.stderr.write(USAGE); return 2; }
  const r = withDaemonOptionChecks(loadConfig(file, { format: type, ...(configId !== undefined ? { configId } : {}) }));
  for (const d of r.diagnostics) {
    if (quiet && d.severity === 'warning') continue;
    process.stderr.write(formatDiagnostic(d) + '\n');
  }
  const errors = r.diagnostics.filter((d) => d.severity === 'error').length;
  const warnings = r.diagnostics.filter((d) => d.severity === 'warning' && d.ka !== 'none').length;
  const exit = r.format === 'keepalived' ? keepalivedTestExit(r.diagnostics, !r.state) : r.state ? 0 : 1;
  if (!r.state) {
    process.stderr.write(`${file}: ${r.format}: ${errors} error(s), ${warnings} warning(s): configuration refused\n`);
    return exit;
  }
  if (dump) {
    process.stdout.write(renderRules(targetRules(r.state)));
    return exit;
  }
  const s = summarize(r.state);
  process.stdout.write(
    `${file}: ${r.format} configuration ${exit === 0 ? 'OK' : 'loaded'} (${warnings} warning(s)); ${r.state.files.length} file(s)\n` +
      `  ${s.services} virtual service(s), ${s.reals} real server(s), ${s.checkers} checker(s)` +
      (r.format === 'keepalived' ? `, ${s.vrrpInstances} vrrp instance(s), ${s.syncGroups} sync group(s), ${s.vrrpScripts} vrrp script(s)` : '') + '\n',
  );
  if (!quiet) {
    for (const v of r.state.services) {
      const kinds = [...new Set(v.reals.flatMap((x) => x.checkers.map((c) => c.type)))].join(',') || 'none';
      process.stdout.write(`  ${v.key.padEnd(28)} ${v.spec.scheduler.padEnd(5)} ${String(v.reals.length).padStart(3)} real(s)  checks: ${kinds}${v.sorry_server ? `  sorry ${v.sorry_server.addr}:${v.sorry_server.port}` : ''}${v.group ? `  group ${v.group}` : ''}\n`);
    }
    for (const i of r.state.vrrp.instances) {
      process.stdout.write(`  vrrp ${i.name}: ${i.state} vrid ${i.virtual_router_id} prio ${i.priority} on ${i.interface ?? '(default)'} vip ${i.virtual_ipaddress.map((a) => `${a.addr}/${a.prefix}`).join(' ')}\n`);
    }
  }
  if (exit === EXIT_SECURITY) process.stderr.write(`${file}: script security problem(s): keepalived -t fails (exit ${EXIT_SECURITY})\n`);
  else if (exit !== 0) process.stderr.write(`${file}: problem(s) keepalived -t reports: exit ${exit}\n`);
  return exit;
}
