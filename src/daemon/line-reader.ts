/**
 * Splits a byte stream into newline-terminated lines with a maximum line length, in linear time:
 * each byte is scanned for the newline once (the partial line is kept as a list of chunks, never
 * re-joined or re-scanned while it grows), and a line over the limit is refused as soon as the
 * limit is passed, not when its newline finally comes. After a refusal the reader ignores
 * everything (the connection is going away).
 */
export class LineReader {
  private parts: Buffer[] = [];
  private partBytes = 0;
  private stopped = false;

  constructor(
    private readonly maxLine: number,
    private readonly onLine: (line: Buffer) => void,
    private readonly onTooBig: (bytesSeen: number) => void,
  ) {}

  /** Bytes of the line being read (received, its newline not yet). */
  get pending(): number {
    return this.partBytes;
  }

  /** True once a line was refused (or stop() was called): nothing more is delivered. */
  get done(): boolean {
    return this.stopped;
  }

  push(chunk: Buffer): void {
    if (this.stopped) return;
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl < 0) break;
      const len = this.partBytes + (nl - start);
      if (len > this.maxLine) {
        this.refuse(len);
        return;
      }
      const tail = chunk.subarray(start, nl);
      const line = this.parts.length === 0 ? tail : Buffer.concat([...this.parts, tail], len);
      this.parts = [];
      this.partBytes = 0;
      start = nl + 1;
      this.onLine(line);
      if (this.stopped) return;
    }
    const rest = chunk.length - start;
    if (rest === 0) return;
    if (this.partBytes + rest > this.maxLine) {
      this.refuse(this.partBytes + rest);
      return;
    }
    this.parts.push(start === 0 ? chunk : chunk.subarray(start));
    this.partBytes += rest;
  }

  /** Drops the partial line and ignores what follows. */
  stop(): void {
    this.stopped = true;
    this.parts = [];
    this.partBytes = 0;
  }

  private refuse(bytes: number): void {
    this.stop();
    this.onTooBig(bytes);
  }
}
