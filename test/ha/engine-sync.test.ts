import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine, type PacketIn } from '../../src/core/engine.ts';
import { parseIp } from '../../src/core/addr.ts';
import { runIpvsadm } from '../../src/ipvsadm/index.ts';
import { encodeSyncMessages, decodeSyncMessage } from '../../src/ha/sync-codec.ts';
import { toSyncConn, fromSyncConn } from '../../src/ha/sync-daemon.ts';

const ip = (s: string) => parseIp(s)!;
const SYN = 0x02, ACK = 0x10;
const pkt = (src: string, sport: number, flags: number, dport = 80): PacketIn => ({
  dir: 'in', af: 4, protocol: 'tcp', saddr: ip(src), sport, daddr: ip('10.0.0.1'), dport, tcpFlags: flags, bytes: 60, mark: 0,
});

async function director(rules: string[], master: boolean): Promise<Engine> {
  const e = new Engine({ now: 0 });
  for (const r of rules) {
    const res = await runIpvsadm(r.split(' '), e, {});
    assert.equal(res.code, 0, `${r}: ${res.stderr}`);
  }
  if (master) assert.equal((await runIpvsadm(['--start-daemon', 'master', '--mcast-interface', 'lo'], e, {})).code, 0);
  else assert.equal((await runIpvsadm(['--start-daemon', 'backup', '--mcast-interface', 'lo'], e, {})).code, 0);
  return e;
}

/** Master -> bytes on the wire -> backup, as the sync daemons do it. */
function replicate(from: Engine, to: Engine): number {
  const msgs = encodeSyncMessages(0, from.drainSync().map(toSyncConn));
  let n = 0;
  for (const m of msgs) {
    const d = decodeSyncMessage(m, 0);
    assert.ok(!('error' in d));
    for (const c of d.conns) if (to.importSync(fromSyncConn(c))) n++;
  }
  return n;
}

const rules = ['-A -t 10.0.0.1:80 -s rr', '-a -t 10.0.0.1:80 -r 192.168.10.1:80 -g', '-a -t 10.0.0.1:80 -r 192.168.10.2:80 -g'];

test('a backup that took over forwards established connections to the same real servers', async () => {
  const m = await director(rules, true);
  const b = await director(rules, false);
  const chosen = new Map<number, string>();
  for (let i = 0; i < 6; i++) {
    const v = m.processPacket(pkt(`172.16.0.${i + 1}`, 40000 + i, SYN));
    chosen.set(i, v.dest!.addr);
    m.processPacket(pkt(`172.16.0.${i + 1}`, 40000 + i, ACK));
  }
  assert.equal(new Set(chosen.values()).size, 2);
  assert.ok(replicate(m, b) >= 6);
  // Without the sync the backup would pass a mid-stream ACK untouched (no connection).
  for (let i = 0; i < 6; i++) {
    const v = b.processPacket(pkt(`172.16.0.${i + 1}`, 40000 + i, ACK));
    assert.equal(v.action, 'forward');
    assert.equal(v.dest!.addr, chosen.get(i));
    assert.equal(v.state, 'ESTABLISHED');
  }
  const est = b.connections().filter((c) => c.state === 'ESTABLISHED');
  assert.equal(est.length, 6);
  const listing = await runIpvsadm(['-L', '-n'], b, {});
  assert.match(listing.stdout, /192\.168\.10\.1:80 +Route +1 +3 +0/);
});

test('persistence templates are synced: a client keeps its real server on the backup', async () => {
  const prules = ['-A -t 10.0.0.1:80 -s rr -p 600', '-a -t 10.0.0.1:80 -r 192.168.10.1:80 -g', '-a -t 10.0.0.1:80 -r 192.168.10.2:80 -g'];
  const m = await director(prules, true);
  const b = await director(prules, false);
  const first = m.processPacket(pkt('172.16.9.9', 50000, SYN)).dest!.addr;
  replicate(m, b);
  const tpl = b.connections().find((c) => c.template);
  assert.ok(tpl, 'template present on the backup');
  assert.equal(tpl.daddr, first);
  // a new connection from the same client on the backup follows the template
  for (let p = 0; p < 4; p++) assert.equal(b.processPacket(pkt('172.16.9.9', 50100 + p, SYN)).dest!.addr, first);
});

test('state changes are synced again; nothing is queued when no master daemon runs', async () => {
  const m = await director(rules, true);
  const b = await director(rules, false);
  m.processPacket(pkt('172.16.0.1', 40000, SYN));
  replicate(m, b);
  assert.equal(b.connections()[0]!.state, 'SYN_RECV');
  m.processPacket(pkt('172.16.0.1', 40000, ACK));
  replicate(m, b);
  assert.equal(b.connections()[0]!.state, 'ESTABLISHED');
  m.processPacket(pkt('172.16.0.1', 40000, ACK));
  assert.equal(m.drainSync().length, 0, 'no state change, nothing to send');
  const plain = new Engine({ now: 0 });
  for (const r of rules) await runIpvsadm(r.split(' '), plain, {});
  plain.processPacket(pkt('172.16.0.1', 40000, SYN));
  assert.equal(plain.drainSync().length, 0);
});

test('a tuple the master bound to another real server replaces the backup\'s old entry (ip_vs_proc_conn); the old entry\'s expiry record is ignored', async () => {
  const master = await director(rules, true);
  const backup = await director(rules, false);
  // First connection from port 5000, closed: FIN_WAIT on both.
  const first = master.processPacket(pkt('172.16.0.9', 5000, SYN)).dest!.addr;
  master.processPacket(pkt('172.16.0.9', 5000, ACK));
  master.processPacket(pkt('172.16.0.9', 5000, ACK | 0x01));
  replicate(master, backup);
  assert.equal(backup.connections().find((c) => c.cport === 5000)!.daddr, first);
  // The master starts a new connection on the same tuple on the other server (bound ahead).
  const other = master.services()[0]!.dests.find((d) => d.addr !== first)!;
  const rt = (master as unknown as { destById: { addr: string; port: number }[] }).destById.find((d) => d && d.addr === other.addr)!;
  const v = master.processPacket(pkt('172.16.0.9', 5000, SYN), undefined, rt as never);
  assert.equal(v.dest!.addr, other.addr);
  replicate(master, backup);
  const mine = backup.connections().filter((c) => c.cport === 5000 && !c.template);
  assert.deepEqual(mine.map((c) => [c.daddr, c.state]), [[other.addr, 'SYN_RECV']], 'one entry, on the master\'s new server');
  // After a takeover the backup forwards the client's next packet there.
  assert.equal(backup.processPacket(pkt('172.16.0.9', 5000, ACK)).dest!.addr, other.addr);
});
