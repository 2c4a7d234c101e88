/**
 * A stand-alone director without the engine: `static-director.ts <config.json>` runs the packet
 * forwarder (worker threads) with the static decider and installs the nftables table; SIGTERM
 * removes it. Used by `tsvs lab` when the daemon is not there, and by the packet-io tests.
 * Prints one JSON line of forwarder counters on exit.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startWorkers } from '../forwarders/packet/host.ts';
import { installNft, removeNft } from '../forwarders/packet/nft.ts';
import { ipv4FromString } from '../forwarders/packet/frame.ts';
import type { StaticConfig } from './static-decider.ts';

interface DirectorConfig extends StaticConfig {
  readonly ifaces: readonly string[];
  readonly workers?: number;
}

const cfg = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as DirectorConfig;
const rips = cfg.rs.map((r) => ipv4FromString(r.addr));
installNft({
  vips: [{ protocol: cfg.protocol, addr: cfg.vip, port: cfg.vport }],
  masq: cfg.mode === 'nat' ? cfg.rs.map((r) => ({ protocol: cfg.protocol, addr: r.addr, port: r.port || cfg.vport })) : [],
});
const h = await startWorkers({
  ifaces: cfg.ifaces,
  workers: cfg.workers ?? 1,
  inAddrs: [ipv4FromString(cfg.vip)],
  outAddrs: cfg.mode === 'nat' ? rips : [],
  rips: cfg.mode === 'nat' ? [] : rips,
  deciderModule: { path: fileURLToPath(new URL('./static-decider.ts', import.meta.url)), config: cfg },
  log: (m) => process.stderr.write(`static-director: ${m}\n`),
});
process.stdout.write('ready\n');
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await h.stop();
  removeNft();
  process.stdout.write(JSON.stringify(h.stats()) + '\n');
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
