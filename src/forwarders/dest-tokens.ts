/**
 * Small integer tokens for the engine's destination records: what a decision made ahead carries
 * through shared memory (a relay worker's ring, proxy/ahead-ring.ts; the kernel fast path's
 * ring, packet/fastpath-ahead.ts) and hands back to the engine (processPacket(..., ahead)). One
 * token per record, kept for the daemon's lifetime (destinations are few).
 */
export class DestTokens<D extends object> {
  private readonly byToken = new Map<number, D>();
  private readonly tokenOf = new WeakMap<D, number>();
  private next = 1;

  token(dest: D): number {
    let t = this.tokenOf.get(dest);
    if (t === undefined) {
      t = this.next++;
      this.tokenOf.set(dest, t);
      this.byToken.set(t, dest);
    }
    return t;
  }

  dest(token: number): D | undefined {
    return this.byToken.get(token);
  }
}
