/**
 * keepalived DNS_CHECK: one query (type, default SOA; name, default ".") over UDP; up when a
 * reply with our id, QR set, RCODE NOERROR and at least one answer arrives within connect_timeout.
 */
import { randomInt } from 'node:crypto';
import type { Checker } from '../checker.ts';
import type { DnsCheckDef, DnsType } from '../types.ts';
import { probeAddress, timeoutMs } from './util.ts';
import { udpProbe } from './udp.ts';

export const DNS_TYPES: Record<DnsType, number> = { A: 1, NS: 2, CNAME: 5, SOA: 6, MX: 15, TXT: 16, AAAA: 28 };

export function encodeQuery(id: number, name: string, type: DnsType): Buffer {
  const labels = name.split('.').filter((l) => l.length > 0);
  const qname = Buffer.concat([...labels.map((l) => { const b = Buffer.from(l, 'latin1'); return Buffer.concat([Buffer.from([Math.min(63, b.length)]), b.subarray(0, 63)]); }), Buffer.from([0])]);
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(0x0100, 2); // RD
  h.writeUInt16BE(1, 4);
  const q = Buffer.alloc(4);
  q.writeUInt16BE(DNS_TYPES[type], 0);
  q.writeUInt16BE(1, 2); // IN
  return Buffer.concat([h, qname, q]);
}

/** null when the reply answers query `id`, else a reason. */
export function judgeReply(id: number, m: Buffer): string | null {
  if (m.length < 12) return 'bad response: short DNS reply';
  if (m.readUInt16BE(0) !== id) return 'dns id mismatch';
  const flags = m.readUInt16BE(2);
  if ((flags & 0x8000) === 0) return 'bad response: not a reply';
  const rcode = flags & 0xf;
  if (rcode !== 0) return `dns rcode: ${rcode}`;
  if (m.readUInt16BE(6) === 0) return 'dns no answer';
  return null;
}

export const dnsChecker: Checker<DnsCheckDef> = {
  kinds: ['DNS_CHECK'],
  run(def, ctx) {
    const t0 = performance.now();
    const { host, port } = probeAddress(def, ctx.target);
    const id = randomInt(0, 0x10000);
    return udpProbe({
      host, port, bindto: def.bindto, bindPort: def.bind_port,
      payload: encodeQuery(id, def.name ?? '.', def.dns_type ?? 'SOA'), wantReply: true, deadlineMs: timeoutMs(def),
      accept: (m) => judgeReply(id, m),
    }, t0);
  },
};
