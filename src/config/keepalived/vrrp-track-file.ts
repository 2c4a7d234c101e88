/** `vrrp_track_file NAME { file PATH weight N init_file ... }` (also spelled `track_file`). */
import { pos, type KaState, type Stmt } from './context.ts';

export function parseTrackFile(st: KaState, s: Stmt): void {
  const { c, vrrp } = st;
  const name = c.arg(s, 0, 'a track file name');
  if (!name) return;
  let file = '', weight = 1;
  c.dispatch(s.body, {
    file: { run: (x) => { const t = c.arg(x, 0, 'a path'); if (t) file = t.text; } },
    weight: { run: (x) => { const n = c.num(x, 0, 'a weight', -254, 254); if (n !== null) weight = n; } },
    init_file: { run: () => {} },
  }, s.name.text);
  if (!file) c.err(c.after(s), `${s.name.text} ${name.text} needs 'file'`);
  else vrrp.trackFiles.push({ name: name.text, file, weight, at: pos(name) });
}
