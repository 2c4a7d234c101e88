/**
 * The ring reader's offload step (the I/O-free glue between the ring and src/codec/offload.ts):
 * a frame of ours whose virtio-net header says "partial checksum" has it completed in place before
 * the engine and the rewrite see it; a GSO super-packet is cut into its segments, each handed back
 * to the reader as a frame of its own (so the engine decides, counts and forwards exactly the
 * packets the real server receives, FIN on the last one only); a header we cannot honour, or a
 * frame longer than a ring frame that is not a super-packet (jumbo frames: the send path copies at
 * most TX_COPY_MAX bytes), is dropped and counted by reason.
 *
 * Segments live in an arena that `reset()` recycles once the reader has sent its batch.
 */
import { createFrameMeta, parseFrame, DropReason, type FrameMeta } from '../../codec/frame.ts';
import { createOffloadPlan, createVnetHdr, planOffload, readVnetHdr, writeGsoSegment } from '../../codec/offload.ts';
import type { DropCounters } from '../../codec/counters.ts';

/** Counters this step adds to the forwarder's (ForwarderStats). */
export interface OffloadStats {
  /** Partial checksums completed in place. */
  csumCompleted: number;
  /** GSO super-packets cut into segments, and the segments made of them. */
  gsoFrames: number;
  gsoSegments: number;
  malformed: number;
}

/** Longest frame sent whole from a copy (os/packet-ring TxBatch copy slots are 2 KiB; tunnel headers need room). */
export const TX_COPY_MAX = 2048 - 64;
/** Free bytes before each segment (tunnel headers are built in place: at most 52). */
const SEG_ROOM = 64;
const CHUNK = 1 << 18;
/** At most this many arena chunks (16 MiB) per batch: a batch of 256 super-packets of 64 KiB fits. */
const MAX_CHUNKS = 64;

/** Receives each segment as a frame: buf[off, off + len), `room` writable bytes before it. */
export type SegmentSink = (buf: Uint8Array, off: number, len: number, room: number) => void;

export class OffloadStep {
  private readonly hdr = createVnetHdr();
  private readonly plan = createOffloadPlan();
  /** The super-packet's own parse: the reader reuses its records for the segments. */
  private readonly whole: FrameMeta = createFrameMeta();
  private readonly chunks: Uint8Array[] = [];
  private chunk = 0;
  private used = 0;

  constructor(private readonly stats: OffloadStats, private readonly drops: DropCounters, private readonly sink: SegmentSink) {}

  /**
   * Applies the header at `vnet` to the well-formed frame `m` (classified as ours) in `buf`.
   * Returns true when the frame was consumed (dropped and counted, or handed on as segments);
   * false when the reader goes on with it (its checksum now complete if it was partial).
   */
  take(buf: Uint8Array, m: FrameMeta, vnet: number): boolean {
    const h = readVnetHdr(buf, vnet, this.hdr);
    const p = planOffload(buf, m, h, this.plan);
    if (p.reason !== 0) return this.refuse(p.reason);
    if (p.completed) this.stats.csumCompleted++;
    if (p.segments === 0) {
      if (m.len > TX_COPY_MAX) return this.refuse(DropReason.GIANT);
      return false;
    }
    const w = parseFrame(buf, m.off, m.len, this.whole);
    if (w.reason !== 0) return this.refuse(w.reason);
    this.stats.gsoFrames++;
    const segLen = m.l4Off + m.l4HdrLen - m.off + p.gsoSize;
    for (let i = 0; i < p.segments; i++) {
      const at = this.alloc(SEG_ROOM + segLen);
      if (!at) return this.refuse(DropReason.NO_ROOM);
      const n = writeGsoSegment(buf, w, p.gsoSize, i, at, SEG_ROOM);
      if (n === 0) return this.refuse(DropReason.NO_ROOM);
      this.stats.gsoSegments++;
      this.sink(at, SEG_ROOM, n, SEG_ROOM);
    }
    return true;
  }

  /** Frees every segment (call once the batch they belong to was sent). */
  reset(): void {
    this.chunk = 0;
    this.used = 0;
  }

  private refuse(reason: number): true {
    this.stats.malformed++;
    this.drops.count(reason);
    return true;
  }

  /** A view of `n` bytes valid until reset(), or null when the batch's arena is full. */
  private alloc(n: number): Uint8Array | null {
    for (;;) {
      let c = this.chunks[this.chunk];
      if (!c) {
        if (this.chunks.length >= MAX_CHUNKS || n > CHUNK) return null;
        this.chunks.push(c = new Uint8Array(CHUNK));
      }
      if (this.used + n <= c.length) {
        const v = c.subarray(this.used, this.used + n);
        this.used += n;
        return v;
      }
      this.chunk++;
      this.used = 0;
    }
  }
}
