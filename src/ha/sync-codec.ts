/**
 * IPVS connection synchronisation protocol, version 1 (net/netfilter/ipvs/ip_vs_sync.c), as a
 * pure codec: the master multicasts messages of connection entries to 224.0.0.81:8848; a backup
 * with the same syncid (or syncid 0 = accept all) creates/updates the entries.
 *
 * Message: reserved(0) syncid size(be16) nr_conns version(1) spare(2), then entries, each
 * 4-byte aligned from the message start. Entry (v4 36 bytes, v6 72 bytes): type (bit0 = IPv6)
 * protocol ver_size(be16: version<<12 | size) flags(be32) state(be16) cport vport dport
 * fwmark(be32) timeout(be32, seconds) caddr vaddr daddr, then options (type, length, data):
 * 1 SEQ_DATA (24 bytes), 2 PE_DATA, 3 PE_NAME; type | 0x40 marks an optional parameter.
 */

export const SYNC_GROUP = '224.0.0.81';
export const SYNC_PORT = 8848;
export const SYNC_PROTO_VER = 1;
/** Default master message size: 1500 - 20 (IP) - 8 (UDP). */
export const SYNC_DEFAULT_MAXLEN = 1472;

/** IP_VS_CONN_F_* bits carried in sync entries. */
export const CONN_F = {
  FWD_MASK: 0x0007,
  MASQ: 0x0000,
  LOCALNODE: 0x0001,
  TUNNEL: 0x0002,
  DROUTE: 0x0003,
  SYNC: 0x0020,
  HASHED: 0x0040,
  NOOUTPUT: 0x0080,
  INACTIVE: 0x0100,
  SEQ_MASK: 0x0600,
  NO_CPORT: 0x0800,
  TEMPLATE: 0x1000,
  ONE_PACKET: 0x2000,
} as const;

/** Flags a backup keeps from a received entry (IP_VS_CONN_F_BACKUP_MASK). */
export const CONN_F_BACKUP_MASK =
  CONN_F.FWD_MASK | CONN_F.NOOUTPUT | CONN_F.INACTIVE | CONN_F.SEQ_MASK | CONN_F.NO_CPORT | CONN_F.TEMPLATE;

/** Kernel TCP state numbers (IP_VS_TCP_S_*), the order of the `state` field. */
export const TCP_STATE_NUMBERS = [
  'NONE', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT', 'TIME_WAIT', 'CLOSE', 'CLOSE_WAIT',
  'LAST_ACK', 'LISTEN', 'SYNACK',
] as const;

export interface SyncConn {
  readonly af: 4 | 6;
  /** IP protocol number: 6 TCP, 17 UDP, 132 SCTP; templates of fwmark services carry 0. */
  readonly protocol: number;
  readonly flags: number;
  readonly state: number;
  readonly cport: number;
  readonly vport: number;
  readonly dport: number;
  readonly fwmark: number;
  /** Seconds. */
  readonly timeout: number;
  readonly caddr: Uint8Array;
  readonly vaddr: Uint8Array;
  readonly daddr: Uint8Array;
  readonly peName?: string;
  readonly peData?: Uint8Array;
}

export interface SyncMessage {
  readonly syncid: number;
  readonly conns: readonly SyncConn[];
  /** Entries skipped as the kernel would (unknown mandatory option, bad state...), with reasons. */
  readonly skipped: readonly string[];
}

export type SyncDecodeError = 'too-short' | 'bad-size' | 'version-0-unsupported' | 'wrong-syncid';

function entryLength(c: SyncConn): number {
  let len = c.af === 6 ? 72 : 36;
  if (c.peData && c.peData.length > 0) {
    len += c.peData.length + 2;
    if (c.peName) len += Math.min(c.peName.length, 32) + 2;
  }
  return len;
}

/** Encodes connections into one or more messages of at most maxlen bytes. */
export function encodeSyncMessages(syncid: number, conns: readonly SyncConn[], maxlen = SYNC_DEFAULT_MAXLEN): Uint8Array[] {
  const out: Uint8Array[] = [];
  let buf = new Uint8Array(maxlen);
  let dv = new DataView(buf.buffer);
  let head = 8;
  let n = 0;
  const flush = () => {
    if (n === 0) return;
    buf[0] = 0;
    buf[1] = syncid;
    dv.setUint16(2, head);
    buf[4] = n;
    buf[5] = SYNC_PROTO_VER;
    out.push(buf.slice(0, head));
    buf = new Uint8Array(maxlen);
    dv = new DataView(buf.buffer);
    head = 8;
    n = 0;
  };
  for (const c of conns) {
    if (c.flags & CONN_F.ONE_PACKET) continue; // the kernel never syncs one-packet entries
    const len = entryLength(c);
    let pad = (4 - head) & 3;
    if (head + pad + len > maxlen || n === 255) {
      flush();
      pad = 0;
    }
    head += pad;
    const p = head;
    buf[p] = c.af === 6 ? 1 : 0;
    buf[p + 1] = c.protocol;
    dv.setUint16(p + 2, len & 0x0fff);
    dv.setUint32(p + 4, (c.flags & ~CONN_F.HASHED) >>> 0);
    dv.setUint16(p + 8, c.state);
    dv.setUint16(p + 10, c.cport);
    dv.setUint16(p + 12, c.vport);
    dv.setUint16(p + 14, c.dport);
    dv.setUint32(p + 16, c.fwmark >>> 0);
    dv.setUint32(p + 20, Math.floor(c.timeout) >>> 0);
    const alen = c.af === 6 ? 16 : 4;
    buf.set(c.caddr.subarray(0, alen), p + 24);
    buf.set(c.vaddr.subarray(0, alen), p + 24 + alen);
    buf.set(c.daddr.subarray(0, alen), p + 24 + 2 * alen);
    let q = p + 24 + 3 * alen;
    if (c.peData && c.peData.length > 0) {
      buf[q++] = 2;
      buf[q++] = c.peData.length;
      buf.set(c.peData, q);
      q += c.peData.length;
      if (c.peName) {
        const name = new TextEncoder().encode(c.peName).subarray(0, 32);
        buf[q++] = 3;
        buf[q++] = name.length;
        buf.set(name, q);
        q += name.length;
      }
    }
    head = p + len;
    n++;
  }
  flush();
  return out;
}

/** Decodes one message. backupSyncid 0 accepts every syncid, as the kernel does. */
export function decodeSyncMessage(buf: Uint8Array, backupSyncid = 0): SyncMessage | { error: SyncDecodeError } {
  if (buf.length < 4) return { error: 'too-short' };
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const size = dv.getUint16(2);
  if (size !== buf.length) return { error: 'bad-size' };
  const syncid = buf[1]!;
  if (backupSyncid !== 0 && syncid !== backupSyncid) return { error: 'wrong-syncid' };
  if (buf[0] !== 0 || buf.length < 8 || buf[5] !== SYNC_PROTO_VER) return { error: 'version-0-unsupported' };
  const nr = buf[4]!;
  const conns: SyncConn[] = [];
  const skipped: string[] = [];
  let p = 8;
  for (let i = 0; i < nr; i++) {
    p += (4 - p) & 3;
    if (p + 4 > buf.length) { skipped.push(`entry ${i}: truncated`); break; }
    const size = dv.getUint16(p + 2) & 0x0fff;
    const end = p + size;
    if (size < 36 || end > buf.length) { skipped.push(`entry ${i}: bad size ${size}`); break; }
    const type = buf[p]!;
    const af: 4 | 6 | 0 = type & 1 ? 6 : type === 0 ? 4 : 0;
    const alen = af === 6 ? 16 : 4;
    if (af === 0 || p + 24 + 3 * alen > end) { skipped.push(`entry ${i}: bad type ${type}`); p = end; continue; }
    let q = p + 24 + 3 * alen;
    let peData: Uint8Array | undefined;
    let peName: string | undefined;
    let bad = '';
    while (q < end) {
      if (q + 2 > end) { bad = 'option header truncated'; break; }
      const ptype = buf[q]!;
      const plen = buf[q + 1]!;
      q += 2;
      if (plen === 0 || q + plen > end) { bad = 'option length'; break; }
      const t = ptype & ~0x40;
      if (t === 2) peData = buf.slice(q, q + plen);
      else if (t === 3) peName = new TextDecoder().decode(buf.subarray(q, q + plen));
      else if (t !== 1 && !(ptype & 0x40)) { bad = `unknown mandatory option ${t}`; break; }
      q += plen;
    }
    if (bad) { skipped.push(`entry ${i}: ${bad}`); p = end; continue; }
    const flags = ((dv.getUint32(p + 4) & CONN_F_BACKUP_MASK) | CONN_F.SYNC) >>> 0;
    let state = dv.getUint16(p + 8);
    const protocol = buf[p + 1]!;
    if (flags & CONN_F.TEMPLATE) state = 0;
    else if (protocol === 6 && state >= TCP_STATE_NUMBERS.length) { skipped.push(`entry ${i}: invalid TCP state ${state}`); p = end; continue; }
    else if (protocol !== 6 && protocol !== 17 && protocol !== 132) { skipped.push(`entry ${i}: unsupported protocol ${protocol}`); p = end; continue; }
    const a0 = p + 24;
    conns.push({
      af, protocol, flags, state,
      cport: dv.getUint16(p + 10), vport: dv.getUint16(p + 12), dport: dv.getUint16(p + 14),
      fwmark: dv.getUint32(p + 16), timeout: dv.getUint32(p + 20),
      caddr: buf.slice(a0, a0 + alen), vaddr: buf.slice(a0 + alen, a0 + 2 * alen), daddr: buf.slice(a0 + 2 * alen, a0 + 3 * alen),
      ...(peData ? { peData } : {}), ...(peName ? { peName } : {}),
    });
    p = end;
  }
  return { syncid, conns, skipped };
}
