/**
 * The flow machine (src/forwarders/proxy/flow-machine.ts) on its own: sequences of socket events
 * in, the packets reported to the engine out, one table row per behaviour. The relays that use it
 * are tested on real sockets in relay-kinds.test.ts and relay.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { CHOSEN, EOF, FS, FlowMachine, SIDE } from '../../src/forwarders/proxy/flow-machine.ts';
import { TCP_FLAG, type Flow, type FlowPort, type Target, type TargetReceiver } from '../../src/forwarders/proxy/flow.ts';

const { SYN, ACK, FIN, PSH, RST } = TCP_FLAG;
const T: Target = { addr: '10.0.0.2', port: 80 };

function flagNames(f: number): string {
  const n = ([[SYN, 'SYN'], [FIN, 'FIN'], [RST, 'RST'], [PSH, 'PSH'], [ACK, 'ACK']] as const).filter(([b]) => f & b).map(([, s]) => s);
  return n.length ? n.join('|') : '0';
}

/** Records every packet as 'dir FLAGS bytes/pkts'; refuses the flow at the packet `refuse` names. */
class RecordingPort implements FlowPort {
  log: string[] = [];
  constructor(private readonly answer: Target | null, private readonly refuse?: string) {}
  open(_f: Flow, bytes: number): Target | null {
    this.log.push(`in ${flagNames(_f.protocol === 'tcp' ? SYN : 0)} ${bytes}/1`);
    return this.answer;
  }
  packet(_f: Flow, dir: 'in' | 'out', flags: number, bytes: number, pkts: number): boolean {
    const p = `${dir} ${flagNames(flags)} ${bytes}/${pkts}`;
    this.log.push(p);
    return p !== this.refuse;
  }
}

const flow = (af: 4 | 6, protocol: 'tcp' | 'udp' = 'tcp'): Flow => ({ af, protocol, caddr: af === 4 ? '10.0.0.1' : 'fd00::1', cport: 40000, vaddr: af === 4 ? '10.0.0.100' : 'fd00::100', vport: 80, portRef: undefined });

/** A machine whose engine answers are the table's own events (chosen, none), not the SYN's. */
class Probe extends FlowMachine {
  override onTarget(): void {}
}

/**
 * Events: syn, chosen (the port's answer), none (no destination), connected, in:N / out:N (data),
 * eof:in / eof:out, abort, fail:client / fail:server, end, finish, schederr, dgram-in:N, dgram-out:N.
 * Each event's result is recorded (undefined for none).
 */
function run(m: FlowMachine, events: string[]): unknown[] {
  return events.map((e) => {
    const [ev, arg] = e.split(':') as [string, string | undefined];
    switch (ev) {
      case 'syn': return void m.synIn();
      case 'chosen': return m.chosen(T);
      case 'none': return m.chosen(null);
      case 'connected': return m.connected();
      case 'in': return m.data(false, Number(arg));
      case 'out': return m.data(true, Number(arg));
      case 'eof': return m.eof(arg === 'out');
      case 'abort': return m.aborted();
      case 'fail': return m.failed(arg === 'server' ? SIDE.SERVER : SIDE.CLIENT);
      case 'end': return void m.ended();
      case 'finish': return m.finishing();
      case 'schederr': return void m.onScheduleError(new Error('x'));
      case 'dgram-in': return m.datagramIn(Number(arg)) === null ? null : 'target';
      case 'dgram-out': return m.datagramOut(Number(arg));
      default: throw new Error(`unknown event ${e}`);
    }
  });
}

interface Row {
  name: string;
  af?: 4 | 6;
  protocol?: 'tcp' | 'udp';
  /** The engine's answer to open() (default T). */
  answer?: Target | null;
  /** The packet at which the engine refuses the flow. */
  refuse?: string;
  events: string[];
  results: unknown[];
  packets: string[];
  /** State bits at the end. */
  fs: number;
}

const HS = ['in SYN 40/1', 'out SYN|ACK 40/1', 'in ACK 40/1'];
const OPEN = ['syn', 'chosen', 'connected'];
const OPENED = [undefined, CHOSEN.CONNECT, true];
const { TARGET, ESTABLISHED, CLIENT_EOF, SERVER_EOF, CLOSED, FINISHED } = FS;
const BOTH_EOF = CLIENT_EOF | SERVER_EOF;

const rows: Row[] = [
  {
    name: 'orderly close, client first: FIN in, FIN out, then the last ACK in',
    events: [...OPEN, 'in:100', 'out:3000', 'eof:in', 'eof:out', 'end', 'finish'],
    results: [...OPENED, true, true, EOF.HALF, EOF.BOTH, undefined, true],
    packets: [...HS, 'in PSH|ACK 140/1', 'out PSH|ACK 3120/3', 'in FIN|ACK 40/1', 'out FIN|ACK 40/1', 'in ACK 40/1'],
    fs: TARGET | ESTABLISHED | BOTH_EOF | CLOSED | FINISHED,
  },
  {
    name: 'orderly close, real server first: FIN out, FIN in, then the last ACK in',
    events: [...OPEN, 'eof:out', 'eof:in'],
    results: [...OPENED, EOF.HALF, EOF.BOTH],
    packets: [...HS, 'out FIN|ACK 40/1', 'in FIN|ACK 40/1', 'in ACK 40/1'],
    fs: TARGET | ESTABLISHED | BOTH_EOF,
  },
  {
    name: 'a second EOF from the same side reports nothing',
    events: [...OPEN, 'eof:in', 'eof:in'],
    results: [...OPENED, EOF.HALF, EOF.AGAIN],
    packets: [...HS, 'in FIN|ACK 40/1'],
    fs: TARGET | ESTABLISHED | CLIENT_EOF,
  },
  {
    name: 'reads become packets per MSS (1460): exact bytes plus 40 header bytes a packet',
    events: [...OPEN, 'in:1', 'in:1460', 'in:1461', 'out:2920', 'out:65536'],
    results: [...OPENED, true, true, true, true, true],
    packets: [...HS, 'in PSH|ACK 41/1', 'in PSH|ACK 1500/1', 'in PSH|ACK 1541/2', 'out PSH|ACK 3000/2', `out PSH|ACK ${65536 + 45 * 40}/45`],
    fs: TARGET | ESTABLISHED,
  },
  {
    name: 'IPv6: 60 header bytes a packet',
    af: 6,
    events: [...OPEN, 'in:1461', 'eof:in', 'eof:out'],
    results: [...OPENED, true, EOF.HALF, EOF.BOTH],
    packets: ['in SYN 60/1', 'out SYN|ACK 60/1', 'in ACK 60/1', 'in PSH|ACK 1581/2', 'in FIN|ACK 60/1', 'out FIN|ACK 60/1', 'in ACK 60/1'],
    fs: TARGET | ESTABLISHED | BOTH_EOF,
  },
  {
    name: 'no destination: only the SYN, the flow is closed (the relay resets the client)',
    answer: null,
    events: ['syn', 'none', 'abort', 'fail:client'],
    results: [undefined, CHOSEN.NONE, false, false],
    packets: ['in SYN 40/1'],
    fs: CLOSED,
  },
  {
    name: 'the client leaves while the engine schedules: no RST then, RST in once the answer names a server',
    events: ['syn', 'fail:client', 'chosen'],
    results: [undefined, true, CHOSEN.GONE],
    packets: ['in SYN 40/1', 'in RST 40/1'],
    fs: CLOSED,
  },
  {
    name: 'the client leaves while the engine schedules and there is no destination: no RST',
    events: ['syn', 'fail:client', 'none'],
    results: [undefined, true, CHOSEN.GONE],
    packets: ['in SYN 40/1'],
    fs: CLOSED,
  },
  {
    name: 'a scheduling error closes the flow without a packet',
    events: ['syn', 'schederr', 'abort'],
    results: [undefined, undefined, false],
    packets: ['in SYN 40/1'],
    fs: CLOSED,
  },
  {
    name: 'the real server refuses the connect: RST out, and nothing after (not even an EOF read then)',
    events: ['syn', 'chosen', 'fail:server', 'abort', 'fail:client', 'eof:in'],
    results: [undefined, CHOSEN.CONNECT, true, false, false, EOF.AGAIN],
    packets: ['in SYN 40/1', 'out RST 40/1'],
    fs: TARGET | CLOSED,
  },
  {
    name: 'the real server resets mid-stream: RST out',
    events: [...OPEN, 'out:10', 'fail:server'],
    results: [...OPENED, true, true],
    packets: [...HS, 'out PSH|ACK 50/1', 'out RST 40/1'],
    fs: TARGET | ESTABLISHED | CLOSED,
  },
  {
    name: 'the client resets mid-stream: RST in',
    events: [...OPEN, 'in:10', 'fail:client'],
    results: [...OPENED, true, true],
    packets: [...HS, 'in PSH|ACK 50/1', 'in RST 40/1'],
    fs: TARGET | ESTABLISHED | CLOSED,
  },
  {
    name: 'the engine refuses the handshake ACK: connected() says so, the abort reports RST in',
    refuse: 'in ACK 40/1',
    events: [...OPEN.slice(0, 2), 'connected', 'abort', 'abort'],
    results: [undefined, CHOSEN.CONNECT, false, true, false],
    packets: [...HS, 'in RST 40/1'],
    fs: TARGET | ESTABLISHED | CLOSED,
  },
  {
    name: 'the engine refuses the flow mid-stream (destination removed): data() says so, RST in',
    refuse: 'out PSH|ACK 140/1',
    events: [...OPEN, 'out:100', 'abort'],
    results: [...OPENED, false, true],
    packets: [...HS, 'out PSH|ACK 140/1', 'in RST 40/1'],
    fs: TARGET | ESTABLISHED | CLOSED,
  },
  {
    name: 'an abort while the engine schedules (forwarder shutdown) reports RST in',
    events: ['syn', 'abort', 'chosen'],
    results: [undefined, true, CHOSEN.GONE],
    packets: ['in SYN 40/1', 'in RST 40/1', 'in RST 40/1'],
    fs: CLOSED,
  },
  {
    name: 'after an orderly close an abort or a failure reports nothing; the close is reported once',
    events: [...OPEN, 'eof:in', 'eof:out', 'end', 'abort', 'fail:server', 'finish', 'finish'],
    results: [...OPENED, EOF.HALF, EOF.BOTH, undefined, false, false, true, false],
    packets: [...HS, 'in FIN|ACK 40/1', 'out FIN|ACK 40/1', 'in ACK 40/1'],
    fs: TARGET | ESTABLISHED | BOTH_EOF | CLOSED | FINISHED,
  },
  {
    name: 'UDP: a datagram each way, payload plus 28 header bytes, scheduled per datagram',
    protocol: 'udp',
    events: ['dgram-in:100', 'dgram-out:50', 'dgram-in:0'],
    results: ['target', true, 'target'],
    packets: ['in 0 128/1', 'out 0 78/1', 'in 0 28/1'],
    fs: 0,
  },
  {
    name: 'UDP over IPv6: 48 header bytes; no destination is the engine\'s null',
    protocol: 'udp',
    af: 6,
    answer: null,
    events: ['dgram-in:10', 'dgram-out:10'],
    results: [null, true],
    packets: ['in 0 58/1', 'out 0 58/1'],
    fs: 0,
  },
];

for (const r of rows) {
  test(`flow machine: ${r.name}`, () => {
    const port = new RecordingPort(r.answer === undefined ? T : r.answer, r.refuse);
    const m = new Probe(flow(r.af ?? 4, r.protocol), port);
    assert.deepEqual(run(m, r.events), r.results, 'results');
    assert.deepEqual(port.log, r.packets, 'packets');
    assert.equal(m.fs, r.fs, `state ${m.fs} (want ${r.fs})`);
  });
}

/** A machine that records what synIn() delivered to it. */
class Receiver extends FlowMachine implements TargetReceiver {
  got: string[] = [];
  override onTarget(t: Target | null): void {
    this.got.push(t ? `target ${t.addr}:${t.port}` : 'none');
  }
  override onScheduleError(e: Error): void {
    this.got.push(`error ${e.message}`);
  }
}

const answers: [string, FlowPort, string][] = [
  ['a value', { open: () => T, packet: () => true }, 'target 10.0.0.2:80'],
  ['a promise', { open: () => Promise.resolve(T), packet: () => true }, 'target 10.0.0.2:80'],
  ['a callback (openCb is preferred to open)', { open: () => { throw new Error('open called'); }, openCb: (_f, _b, to) => to.onTarget(null), packet: () => true }, 'none'],
  ['a throw', { open: () => { throw new Error('boom'); }, packet: () => true }, 'error boom'],
  ['a rejection', { open: () => Promise.reject(new Error('later')), packet: () => true }, 'error later'],
];
for (const [name, port, want] of answers) {
  test(`flow machine: SYN in asks the port with the SYN's bytes and hands over its answer given as ${name}`, async () => {
    const m = new Receiver(flow(4), port);
    m.synIn();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(m.got, [want]);
  });
}

/** Runs the allocation probe in a child with a young generation no scavenge empties meanwhile. */
function allocationProbe(...args: string[]): { events: number; grew: number; perEvent: number } {
  const r = spawnSync(process.execPath, ['--expose-gc', '--min-semi-space-size=256', '--max-semi-space-size=256', '--import', 'tsx', new URL('./fixtures/flow-machine-alloc.ts', import.meta.url).pathname, ...args], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { events: number; grew: number; perEvent: number };
}

test('flow machine: events allocate nothing (4.8 million events grow the heap by under 0.01 byte each; a port that allocates is seen)', () => {
  const quiet = allocationProbe();
  assert.ok(quiet.perEvent < 0.01, `${quiet.grew} bytes over ${quiet.events} events`);
  const loud = allocationProbe('--allocating-port');
  assert.ok(loud.perEvent > 8, `the probe sees a port's allocations: ${loud.perEvent} bytes/event`);
});
