/** Writes classic pcap files (LINKTYPE_ETHERNET) for cross-checking frames with tcpdump. */
import { writeFileSync } from 'node:fs';

export function writePcap(path: string, frames: readonly Uint8Array[]): void {
  const parts: Buffer[] = [];
  const gh = Buffer.alloc(24);
  gh.writeUInt32LE(0xa1b2c3d4, 0);
  gh.writeUInt16LE(2, 4);
  gh.writeUInt16LE(4, 6);
  gh.writeUInt32LE(262144, 16);
  gh.writeUInt32LE(1, 20);
  parts.push(gh);
  frames.forEach((f, i) => {
    const h = Buffer.alloc(16);
    h.writeUInt32LE(1700000000 + i, 0);
    h.writeUInt32LE(f.length, 8);
    h.writeUInt32LE(f.length, 12);
    parts.push(h, Buffer.from(f.buffer, f.byteOffset, f.byteLength));
  });
  writeFileSync(path, Buffer.concat(parts));
}
