/**
 * Test helper (run inside a network namespace, as root): sends each frame given on stdin (JSON
 * array of hex strings) out of interface argv[2] through an AF_PACKET socket and prints, per
 * frame, every frame seen on that interface within `argv[3]` ms (JSON lines: {i, frames}).
 * Used by kernel.test.ts to let the real kernel judge the golden outputs.
 */
import koffi from 'koffi';
import { readFileSync } from 'node:fs';

const libc = koffi.load('libc.so.6');
const socket = libc.func('int socket(int, int, int)');
const bind = libc.func('int bind(int, void *, uint32_t)');
const setsockopt = libc.func('int setsockopt(int, int, int, void *, uint32_t)');
const send = libc.func('long send(int, void *, size_t, int)');
const recv = libc.func('long recv(int, void *, size_t, int)');
const ifindex = libc.func('unsigned int if_nametoindex(const char *)');
const close = libc.func('int close(int)');

const dev = process.argv[2]!;
const waitMs = Number(process.argv[3] ?? 300);
const frames = JSON.parse(readFileSync(0, 'utf8')) as string[];
const fd = socket(17, 3, 0x0300) as number; // AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)
if (fd < 0) throw new Error('socket failed');
const sll = Buffer.alloc(20);
sll.writeUInt16LE(17, 0);
sll.writeUInt16BE(3, 2);
sll.writeInt32LE(ifindex(dev) as number, 4);
if ((bind(fd, sll, 20) as number) !== 0) throw new Error('bind failed');
const tv = Buffer.alloc(16);
tv.writeBigInt64LE(0n, 0);
tv.writeBigInt64LE(20000n, 8); // 20 ms receive timeout
setsockopt(fd, 1, 20, tv, 16);
const buf = Buffer.alloc(65536);
const drain = () => { while ((recv(fd, buf, buf.length, 0x40 /* MSG_DONTWAIT */) as number) > 0); };
drain();
frames.forEach((hex, i) => {
  const f = Buffer.from(hex, 'hex');
  if ((send(fd, f, f.length, 0) as number) !== f.length) throw new Error('send failed');
  const seen: string[] = [];
  const until = Date.now() + waitMs;
  while (Date.now() < until) {
    const n = recv(fd, buf, buf.length, 0) as number;
    if (n > 0) seen.push(buf.subarray(0, n).toString('hex'));
  }
  process.stdout.write(JSON.stringify({ i, frames: seen }) + '\n');
});
close(fd);
