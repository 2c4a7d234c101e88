/**
 * Names of routing tables, protocols, scopes and DS fields as keepalived 2.2.7 resolves them
 * (lib/rttables.c): a number (strtoul base 0) up to the field's maximum, keepalived's built-in
 * names, then the iproute2 files under /etc/iproute2 (read once, when first needed).
 */
import { readFileSync } from 'node:fs';

const IPROUTE2_DIR = '/etc/iproute2/';

const DEFAULTS: Record<string, Readonly<Record<string, number>>> = {
  rt_tables: { default: 253, main: 254, local: 255 },
  rt_protos: { none: 0, redirect: 1, kernel: 2, boot: 3, static: 4, gated: 8, ra: 9, mrt: 10, zebra: 11, bird: 12, dnrouted: 13, xorp: 14, ntk: 15, dhcp: 16, babel: 42 },
  rt_scopes: { global: 0, nowhere: 255, host: 254, link: 253, site: 200 },
  rt_dsfield: {},
  rt_realms: {},
};
const MAX: Record<string, number> = { rt_tables: 0xffffffff, rt_protos: 255, rt_scopes: 255, rt_dsfield: 255, rt_realms: 255 };

const files = new Map<string, Map<string, number>>();

/** strtoul(s, &end, 0) with nothing left over and no sign; null otherwise. */
export function strtoul0(s: string): number | null {
  const t = s.trim();
  let v: number;
  if (/^0[xX][0-9a-fA-F]+$/.test(t)) v = parseInt(t.slice(2), 16);
  else if (/^0[0-7]*$/.test(t)) v = t.length > 1 ? parseInt(t.slice(1), 8) : 0;
  else if (/^[1-9]\d*$/.test(t)) v = Number(t);
  else return null;
  return v;
}

function fileNames(file: string): Map<string, number> {
  let m = files.get(file);
  if (m) return m;
  m = new Map();
  let text = '';
  try { text = readFileSync(IPROUTE2_DIR + file, 'utf8'); } catch { /* no file: the built-in names only */ }
  for (const line of text.split('\n')) {
    const w = line.replace(/#.*/, '').trim().split(/\s+/);
    if (w.length < 2) continue;
    const id = strtoul0(w[0]!);
    if (id === null || id > MAX[file]!) continue;
    m.set(w[1]!, id);
  }
  files.set(file, m);
  return m;
}

function find(file: keyof typeof DEFAULTS, name: string): number | null {
  const n = strtoul0(name);
  if (n !== null) return n <= MAX[file]! ? n : null;
  return DEFAULTS[file]![name] ?? fileNames(file).get(name) ?? null;
}

export const rtTable = (name: string): number | null => find('rt_tables', name);
export const rtProto = (name: string): number | null => find('rt_protos', name);
export const rtScope = (name: string): number | null => find('rt_scopes', name);
export const rtDsfield = (name: string): number | null => find('rt_dsfield', name);
export const rtRealm = (name: string): number | null => find('rt_realms', name);

/** get_realms: `[FROM/]TO`, each a realm number or a name from rt_realms; FROM in the upper 16 bits. */
export function rtRealms(s: string): number | null {
  const i = s.indexOf('/');
  if (i < 0) return rtRealm(s);
  const a = rtRealm(s.slice(0, i)), b = rtRealm(s.slice(i + 1));
  return a === null || b === null ? null : ((a << 16) | b) >>> 0;
}
