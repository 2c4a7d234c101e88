/**
 * The lab's director process until `tsvs daemon --forwarder packet` is wired: the real daemon
 * (src/daemon: control socket for tsvsadm, the one Engine, its clock tick) with the packet
 * forwarder attached to the daemon's engine and re-synced whenever the rules change.
 * argv: socketPath statusFile iface...  Writes forwarder status JSON to statusFile every 250 ms.
 */
import { writeFileSync } from 'node:fs';
import { Daemon } from '../daemon/daemon.ts';
import { loadDeps } from '../daemon/deps.ts';
import { startPacketForwarder, type PacketEngine } from '../forwarders/packet/index.ts';

const [socketPath, statusFile, ...ifaces] = process.argv.slice(2);
const d = new Daemon({
  socketPath: socketPath!, rulesFile: null, stateFile: null, forwarder: 'none', logLevel: 'warn', proxyProtocol: null,
  workers: 0, tickMs: 200, connectTimeoutMs: 5000,
}, await loadDeps());
await d.start();
const engine = d.engine as unknown as PacketEngine;
const fwd = await startPacketForwarder(engine, { ifaces: ifaces.length ? ifaces : ['eth0'], workers: 2, now: d.now });
let sig = '';
const timer = setInterval(() => {
  const s = JSON.stringify(engine.services().map((x) => [x.fwmark, x.protocol, x.addr, x.port, x.dests.map((y) => [y.addr, y.port, y.fwd])]));
  if (s !== sig) {
    sig = s;
    void fwd.sync([]);
  }
  writeFileSync(statusFile!, JSON.stringify(fwd.status()));
}, 250);
process.stdout.write('ready\n');
let stopping = false;
const stop = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  clearInterval(timer);
  await fwd.close();
  await d.stop('SIGTERM');
  writeFileSync(statusFile!, JSON.stringify(fwd.status()));
  process.stdout.write(JSON.stringify(fwd.status().counters) + '\n');
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
