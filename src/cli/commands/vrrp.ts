/**
 * `tsvs vrrp --keepalived FILE`: runs the file's vrrp_instance blocks (like `keepalived --vrrp`),
 * in the foreground, until SIGTERM/SIGINT (a master resigns with priority 0 on the way out).
 */
import { loadConfig } from '../../config/load.ts';
import { formatDiagnostic } from '../../config/desired.ts';
import { mailSettings, startVrrp } from '../../ha/vrrp-service.ts';
import { createScriptRunner } from '../../health/io.ts';
import { createLogger } from '../../daemon/log.ts';
import { KA_DUMP_DIR_DEFAULT, onKaDumpSignals } from '../../daemon/ka-dump.ts';
import { resolve } from 'node:path';

export const summary = 'run the VRRP instances of a keepalived.conf (director failover)';

const usage = 'usage: tsvs vrrp --keepalived FILE [--log-level info|debug|warn] [--dump-dir DIR]\n' +
  '  SIGUSR1 writes DIR/keepalived.data, SIGUSR2 DIR/keepalived.stats (keepalived\'s formats; DIR: ' + KA_DUMP_DIR_DEFAULT + ')\n';

export async function run(argv: string[]): Promise<number> {
  let file = '';
  let level = 'info';
  let dumpDir = KA_DUMP_DIR_DEFAULT;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--keepalived' || a === '-f') file = argv[++i] ?? '';
    else if (a === '--log-level') level = argv[++i] ?? 'info';
    else if (a === '--dump-dir') {
      dumpDir = argv[++i] ?? '';
      if (!dumpDir) { process.stderr.write(`tsvs vrrp: --dump-dir needs a directory\n${usage}`); return 2; }
    }
    else if (a === '-h' || a === '--help') { process.stdout.write(usage); return 0; }
    else { process.stderr.write(`tsvs vrrp: unexpected argument '${a}'\n${usage}`); return 2; }
  }
  if (!file) { process.stderr.write(`tsvs vrrp: --keepalived FILE is required\n${usage}`); return 2; }
  const r = loadConfig(file, { format: 'keepalived' });
  for (const d of r.diagnostics) process.stderr.write(`${formatDiagnostic(d)}\n`);
  if (!r.state) return 1;
  if (r.state.vrrp.instances.length === 0) { process.stderr.write(`tsvs vrrp: ${file} has no vrrp_instance\n`); return 1; }
  const log = createLogger(level as 'info');
  let svc;
  try {
    svc = startVrrp(r.state.vrrp, { info: (o, m) => log.info(o, m), warn: (o, m) => log.warn(o, m) }, undefined, createScriptRunner(r.state.scripts ?? null), undefined, mailSettings(r.state.global));
  } catch (e) {
    process.stderr.write(`tsvs vrrp: ${(e as Error).message}\n`);
    return 1;
  }
  const vrrp = svc;
  onKaDumpSignals(resolve(dumpDir), { vrrp: () => vrrp.status() }, log);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  await svc.stop();
  return 0;
}
