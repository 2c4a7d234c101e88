/** Pieces several VRRP blocks share: address lines, track lists, notify scripts, accepted-but-ignored keywords. */
import { canonicalIp, parseIp } from '../../core/addr.ts';
import type { NotifyKeyword, VrrpAddress, VrrpTrack } from '../desired.ts';
import { sameFor, setUser, type Ctx, type Table, type Stmt } from './context.ts';

/** `ADDR[/PREFIX] [dev X] [brd X] [scope X] [label X] [words...]`. */
export function parseAddrLine(c: Ctx, l: Stmt): VrrpAddress | null {
  const m = /^([^/]+)(?:\/(\d+))?$/.exec(l.name.text);
  const ip = m ? parseIp(m[1]!) : null;
  if (!m || !ip) { c.err(l.name, `expected an address[/prefix], got '${l.name.text}'`); return null; }
  const maxP = ip.af === 4 ? 32 : 128;
  const prefix = m[2] !== undefined ? Number(m[2]) : maxP;
  if (prefix > maxP) { c.err(l.name, `prefix length ${prefix} is larger than ${maxP}`); return null; }
  const a: { addr: string; prefix: number; dev?: string; brd?: string; scope?: string; label?: string; extra: string[] } = { addr: canonicalIp(m[1]!)!, prefix, extra: [] };
  for (let i = 0; i < l.args.length; i++) {
    const k = l.args[i]!.text;
    if (k === 'dev' || k === 'brd' || k === 'scope' || k === 'label' || k === 'broadcast') {
      const v = l.args[i + 1];
      if (!v) { c.err(c.after(l), `expected a value after '${k}'`); break; }
      a[k === 'broadcast' ? 'brd' : k] = v.text;
      i++;
    } else a.extra.push(k);
  }
  return a;
}

export function addrBlock(c: Ctx, s: Stmt, out: VrrpAddress[]): void {
  for (const l of s.block ?? []) { const a = parseAddrLine(c, l); if (a) out.push(a); }
}

/** `track_interface` / `track_script` lines: `NAME [weight N] [reverse]`. */
export function trackBlock(c: Ctx, s: Stmt, out: VrrpTrack[]): void {
  for (const l of s.block ?? []) {
    const t: { name: string; weight?: number; reverse?: boolean } = { name: l.name.text };
    for (let i = 0; i < l.args.length; i++) {
      if (l.args[i]!.text === 'weight') { const v = c.num(l, i + 1, 'a weight', -254, 254); if (v !== null) t.weight = v; i++; }
      else if (l.args[i]!.text === 'reverse') t.reverse = true;
      else c.warn(l.args[i]!, `unexpected '${l.args[i]!.text}' in ${s.name.text}; ignored`);
    }
    out.push(t);
  }
}

export type Notify = Partial<Record<NotifyKeyword, string>>;

/** notify, notify_master, ...: `KEYWORD SCRIPT [USER [GROUP]]` into `n`, who runs it into `users`. */
export function notifyHandlers(c: Ctx, n: Notify, users: Notify): Table {
  return sameFor(['notify', 'notify_master', 'notify_backup', 'notify_fault', 'notify_stop'], (k) => ({
    run: (x: Stmt) => { const v = c.script(x, 'a script'); if (v) { n[k as NotifyKeyword] = v.cmd; setUser(users, k as NotifyKeyword, v.user); } },
  }));
}

/** Keywords keepalived knows that the tsvs VRRP engine does not implement: each warns. */
export function ignoredVrrp(c: Ctx, names: readonly string[]): Table {
  return sameFor(names, (k) => ({ run: (x: Stmt) => c.warn(x.name, `'${k}' is accepted but not implemented by the tsvs VRRP engine; ignored`) }));
}
