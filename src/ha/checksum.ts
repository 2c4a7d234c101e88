/** RFC 1071 one's-complement sum helpers (kept local so src/ha does not depend on src/packet). */
export function checksumAdd(sum: number, b: Uint8Array, off: number, len: number): number {
  let s = sum;
  let i = off;
  const end = off + len;
  for (; i + 1 < end; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if (i < end) s += b[i]! << 8;
  return s;
}

export function checksumFinish(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return ~s & 0xffff;
}
