/**
 * The relay workers' binary event stream (src/forwarders/proxy/event-batch.ts): what a worker
 * writes is what the primary reads, across a real thread boundary (the buffer is transferred),
 * for IPv4 and IPv6 flows, byte counts beyond 32 bits, and batches larger than the first buffer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { EV, EV_WORDS, EventWriter, batchWords, eventIp } from '../../src/forwarders/proxy/event-batch.ts';
import { formatIp } from '../../src/core/addr.ts';
import type { Flow } from '../../src/forwarders/proxy/flow.ts';

const flow = (caddr: string, vaddr: string, af: 4 | 6 = 4): Flow => ({ af, protocol: 'tcp', caddr, cport: 40000, vaddr, vport: 443, portRef: undefined });

/** Decodes a batch into readable events (the primary's walk over it, cluster.ts). */
function decode(a: Float64Array): string[] {
  const out: string[] = [];
  for (let i = 0; i < a.length;) {
    const op = a[i]! as 1 | 2 | 3 | 4;
    if (op === EV.OPEN || op === EV.OPEN_AHEAD) {
      const af = a[i + 2] === 6 ? 6 : 4;
      const c = formatIp(eventIp(a, i + 3, af)), v = formatIp(eventIp(a, i + 8, af));
      out.push(`${op === EV.OPEN ? 'OPEN' : 'AHEAD'} ${a[i + 1]} ${c}:${a[i + 7]} ${v}:${a[i + 12]} ${a[i + 13]}${op === EV.OPEN_AHEAD ? ` t${a[i + 14]}` : ''}`);
    } else if (op === EV.PKT) out.push(`PKT ${a[i + 1]} ${a[i + 2] ? 'out' : 'in'} ${a[i + 3]} ${a[i + 4]} ${a[i + 5]}`);
    else if (op === EV.CLOSED) out.push(`CLOSED ${a[i + 1]}`);
    else throw new Error(`bad op ${op} at ${i}`);
    i += EV_WORDS[op];
  }
  return out;
}

/** Sends a batch over a real MessagePort with its buffer transferred, as a worker does. */
function transfer(w: EventWriter): Float64Array {
  const { port1, port2 } = new MessageChannel();
  const { buf, n } = w.take();
  port1.postMessage({ b: buf, n }, [buf]);
  assert.equal(buf.byteLength, 0, 'the sender no longer holds the buffer');
  const m = receiveMessageOnPort(port2)!.message as { b: ArrayBuffer; n: number };
  port1.close();
  return batchWords(m.b, m.n);
}

test('events survive the trip intact: IPv4, IPv6, tokens, and byte counts beyond 32 bits', () => {
  const w = new EventWriter();
  w.open(1, flow('192.0.2.7', '10.0.0.1'), 60);
  w.open(2, flow('2001:db8::7', '2001:db8::1', 6), 80, 4242);
  w.pkt(1, 0, 0x18, 5_000_000_000, 3_424_658);
  w.pkt(2, 1, 0x11, 60, 1);
  w.closed(1);
  assert.deepEqual(decode(transfer(w)), [
    'OPEN 1 192.0.2.7:40000 10.0.0.1:443 60',
    'AHEAD 2 2001:db8::7:40000 2001:db8::1:443 80 t4242',
    'PKT 1 in 24 5000000000 3424658',
    'PKT 2 out 17 60 1',
    'CLOSED 1',
  ]);
});

test('a batch larger than the first buffer grows and keeps every event in order', () => {
  const w = new EventWriter();
  const N = 5000;
  for (let i = 1; i <= N; i++) {
    w.open(i, flow(`198.51.100.${i % 250}`, '10.0.0.1'), 60, i);
    w.pkt(i, 1, 0x12, 60, 1);
  }
  const got = decode(transfer(w));
  assert.equal(got.length, 2 * N);
  assert.equal(got[0], 'AHEAD 1 198.51.100.1:40000 10.0.0.1:443 60 t1');
  assert.equal(got[2 * N - 2], `AHEAD ${N} 198.51.100.${N % 250}:40000 10.0.0.1:443 60 t${N}`);
  assert.equal(got[2 * N - 1], `PKT ${N} out 18 60 1`);
  // The writer starts over after a take: the next batch holds only what came after.
  w.closed(7);
  assert.deepEqual(decode(transfer(w)), ['CLOSED 7']);
});

test('the primary shares one Ip value per address (no object per connection)', () => {
  const w = new EventWriter();
  w.open(1, flow('192.0.2.7', '10.0.0.1'), 60);
  w.open(2, flow('192.0.2.7', '10.0.0.1'), 60);
  const a = transfer(w);
  assert.equal(eventIp(a, 3, 4), eventIp(a, EV_WORDS[EV.OPEN] + 3, 4));
});
