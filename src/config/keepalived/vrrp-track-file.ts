/**
 * `vrrp_track_file NAME { file PATH weight N init_file ... }` (also spelled `track_file`), read as
 * keepalived reads it. The tsvs VRRP engine does not track files: the block says so.
 */
import { pos, type KaState, type Stmt } from './context.ts';
import { kaInt } from './numbers.ts';

export function parseTrackFile(st: KaState, s: Stmt): void {
  const { c, vrrp } = st;
  const name = c.arg(s, 0, 'a track file name');
  if (!name) return;
  let file = '', weight = 1;
  c.dispatch(s.body, {
    file: { run: (x) => { const t = c.arg(x, 0, 'a path'); if (t) file = t.text; } },
    weight: { run: (x) => {
      const t = c.arg(x, 0, 'a weight');
      if (!t) return;
      const n = kaInt(c, t, -254, 254);
      if (n === null) c.warn(t, `Weight (${t.text}) for track_file ${name.text} must be between [-254..254] inclusive. Ignoring...`);
      else weight = n;
    } },
    init_file: { run: () => {} },
  }, s.name.text);
  if (s.name.text === 'vrrp_track_file') c.note(s.name, '"vrrp_track_file" is deprecated, please use "track_file"');
  if (!file) { c.warn(name, `No file set for track_file ${name.text} - ignoring`); return; }
  vrrp.trackFiles.push({ name: name.text, file, weight, at: pos(name) });
  c.warn(name, `${s.name.text} ${name.text} is accepted but not implemented by the tsvs VRRP engine; ignored`);
}
