/**
 * `track_file NAME { file PATH weight N [reverse] init_file [VALUE] [overwrite] }` (also spelled
 * `vrrp_track_file`), read as keepalived 2.2.7 reads it (trackers/track_file.c). The VRRP
 * engine reads the file's integer and weights it into the tracking instances' priority
 * (ha/vrrp-track.ts trackFileStatus); init_file writes the file when the daemon starts.
 */
import { pos, type KaState, type Stmt } from './context.ts';
import { kaInt } from './numbers.ts';

export function parseTrackFile(st: KaState, s: Stmt): void {
  const { c, vrrp } = st;
  const name = c.arg(s, 0, 'a track file name');
  if (!name) return;
  let file = '', weight = 1, reverse = false, weightSet = false;
  let init: { value: number; overwrite: boolean } | undefined;
  c.dispatch(s.body, {
    file: { run: (x) => {
      const t = c.arg(x, 0, 'a path');
      if (!t) return;
      if (file) { c.warn(t, `File already set for track file ${name.text} - ignoring ${t.text}`); return; }
      file = t.text;
    } },
    weight: { run: (x) => {
      const t = c.arg(x, 0, 'a weight');
      if (!t) return;
      if (weightSet && weight !== 1) { c.warn(t, `Weight already set for track file ${name.text} - ignoring ${t.text}`); return; }
      const n = kaInt(c, t, -254, 254);
      if (n === null) c.warn(t, `Weight (${t.text}) for track_file ${name.text} must be between [-254..254] inclusive. Ignoring...`);
      weight = n ?? 1;
      weightSet = true;
      const r = x.args[1];
      if (r) {
        if (r.text === 'reverse') reverse = true;
        else c.warn(r, `track_file ${name.text} unknown weight option ${r.text}`);
      }
    } },
    init_file: { run: (x) => {
      init = { value: 0, overwrite: false };
      for (const t of x.args) {
        if (/^\s*[-\d]/.test(t.text)) {
          const n = kaInt(c, t, -0x80000000, 0x7fffffff);
          if (n === null) { c.warn(t, `Track file ${name.text} init value ${t.text} is invalid`); init.value = 0; }
          else {
            if (n < -254 || n > 254) c.warn(t, `Track file ${name.text} init value ${n} is outside sensible range [-254, 254]`);
            init.value = n;
          }
        } else if (t.text === 'overwrite') init.overwrite = true;
        else c.warn(t, `Unknown track file init option ${t.text}`);
      }
    } },
  }, s.name.text);
  if (s.name.text === 'vrrp_track_file') c.note(s.name, '"vrrp_track_file" is deprecated, please use "track_file"');
  if (!file) { c.warn(name, `No file set for track_file ${name.text} - ignoring`); return; }
  vrrp.trackFiles.push({ name: name.text, file, weight, reverse, ...(init ? { init } : {}), at: pos(name) });
}
