/**
 * IP fragments to the VIP (DR lab, root, the kernel fast path): a UDP service on the VIP and a
 * client sending datagrams larger than the path's MTU (its kernel sends each in 3 fragments). The
 * kernel fast path leaves fragments to user space; the packet ring's defragmenting fanout
 * reassembles them, and a reassembled datagram longer than the egress MTU is not forwarded (the
 * forwarder does not fragment again; the kernel IPVS, after nf_defrag, would send it in fragments:
 * a known gap, docs/PACKET-FORWARDER.md). What must hold: each such datagram is counted, once, by
 * its reason in status drops; nothing stalls (datagrams that fit, sent before and after, are
 * answered by the real servers). Figures printed.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { labNs, LAB, labForwarderStatus } from '../../src/lab/topology.ts';
import { figures, labSuite } from './helpers.ts';

const root = process.getuid?.() === 0;
const skip = root ? false : 'needs root (network namespaces, AF_PACKET, tc, BPF)';
const prefix = `tsvs-fr${process.pid % 10000}`;
const DATAGRAMS = 20;
const SIZE = 3000;

/** Sends `n` UDP datagrams of `size` bytes from the client to VIP:53 at once; the answers' first field (the real server's name) and length, within 1.5 s. */
function udpRound(n: number, size: number): string[] {
  const js = `const d=require('node:dgram').createSocket('udp4');const out=[];
d.on('message',(m)=>out.push(m.toString('latin1',0,m.indexOf(58))+' '+m.length));
d.bind(0,()=>{for(let i=0;i<${n};i++)d.send(Buffer.alloc(${size},'x'),53,'${LAB.vip}')});
setTimeout(()=>{console.log(JSON.stringify(out));process.exit(0)},1500);`;
  const r = spawnSync('ip', ['netns', 'exec', labNs(prefix).client, process.execPath, '-e', js], { encoding: 'utf8', timeout: 20_000 });
  return JSON.parse(r.stdout || '[]') as string[];
}

describe('IP fragments to the VIP (DR lab): reassembled, counted', { skip, timeout: 90_000 }, () => {
  labSuite(prefix, 'dr', { fastPath: 'tc', commands: [
    ['-A', '-u', `${LAB.vip}:53`, '-s', 'rr'],
    ...LAB.rs.map((r) => ['-a', '-u', `${LAB.vip}:53`, '-r', `${r}:53`, '-g']),
  ] });

  it(`${DATAGRAMS} datagrams of ${SIZE} bytes (3 fragments each): each counted once by its reason, not forwarded; datagrams that fit are answered before and after`, async () => {
    const small0 = udpRound(4, 100);
    assert.equal(small0.length, 4, `small datagrams answered: ${small0.join(',')}`);
    const st0 = (await labForwarderStatus(prefix))!;
    const answers = udpRound(DATAGRAMS, SIZE);
    const small1 = udpRound(4, 100);
    const st1 = (await labForwarderStatus(prefix))!;
    const drops: Record<string, number> = Object.fromEntries(Object.entries(st1.drops).map(([k, v]): [string, number] => [k, v - (st0.drops[k] ?? 0)]).filter(([, v]) => v > 0));
    const counted = Object.values(drops).reduce((a, b) => a + b, 0);
    figures('fragments to the VIP', {
      datagrams: DATAGRAMS, size: SIZE, answered: answers.length, counted, drops: JSON.stringify(drops).replace(/[{}"]/g, '') || 'none',
      malformed: (st1.counters['malformed'] ?? 0) - (st0.counters['malformed'] ?? 0), smallAnsweredAfter: small1.length,
    });
    assert.deepEqual(drops, { giant: DATAGRAMS }, 'each reassembled datagram counted once, by its reason');
    assert.deepEqual(answers, [], 'none forwarded');
    assert.equal(small1.length, 4, `datagrams that fit are answered after: ${small1.join(',')}`);
    assert.ok(small1.every((a) => (LAB.names as readonly string[]).includes(a.split(' ')[0]!)), 'by a real server');
  });
});
