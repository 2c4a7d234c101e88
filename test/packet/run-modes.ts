// The two ways the kernel fast path program's tests run it (BPF_PROG_TEST_RUN): on a socket
// buffer without a receive checksum (CHECKSUM_NONE, as veths deliver), and again as a NIC that
// delivers CHECKSUM_COMPLETE (mlx5 and most 25G+ NICs) hands it over: skb->csum holds the sum of
// the packet from the network header on, every write the program makes to those bytes must move
// it by as much, and the kernel fails the run (EBADMSG) when it does not
// (BPF_F_TEST_SKB_CHECKSUM_COMPLETE, Linux 6.11+). A stale skb->csum is what the stack checks the
// TCP/UDP checksum against after a redirect to a veth ("hw csum failure", every packet verified
// again in software), and what GRO and a later tc/XDP program rely on.
import { release } from 'node:os';
import { buildFrame } from '../../src/codec/build.ts';
import { KernelFastPath } from '../../src/os/bpf.ts';

export interface RunMode {
  /** Appended to the describe block's name. */
  suffix: string;
  /** testRun's options in this mode. */
  opts: { checksumComplete: boolean };
  /** node:test's skip: false, or why the mode cannot run here. */
  skip: string | false;
}

/** Whether this kernel takes BPF_F_TEST_SKB_CHECKSUM_COMPLETE (false), or why not. */
function checksumCompleteSkip(): string | false {
  const fp = KernelFastPath.open([], 'tc', { staleMs: 500, orphanMs: 30_000 });
  try {
    const frame = buildFrame({ src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' }, { ip: { src: '192.0.2.1', dst: '192.0.2.2', ttl: 64 }, udp: { sport: 1, dport: 2, payload: new Uint8Array(4) } });
    fp.testRun(frame, undefined, { checksumComplete: true });
    return false;
  } catch (e) {
    if (/errno 22\b/.test(String(e))) return `kernel ${release()} refuses BPF_F_TEST_SKB_CHECKSUM_COMPLETE (EINVAL: it came in Linux 6.11)`;
    throw e;
  } finally {
    fp.close();
  }
}

/** The modes for a describe block that needs root (`rootSkip`: false as root, else why not). */
export function runModes(rootSkip: string | false): RunMode[] {
  return [
    { suffix: '', opts: { checksumComplete: false }, skip: rootSkip },
    { suffix: ', again as CHECKSUM_COMPLETE (skb->csum consistent)', opts: { checksumComplete: true }, skip: rootSkip || checksumCompleteSkip() },
  ];
}
