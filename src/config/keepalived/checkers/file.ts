/**
 * FILE_CHECK keywords (keepalived check_file.c): `track_file NAME` (a track_file block defined
 * before it), `weight N [reverse|noreverse]` (default: the track_file's own). A block without a
 * track_file that exists is ignored, as keepalived ignores it.
 */
import type { CheckerKeywords } from './common.ts';
import { kaInt } from '../numbers.ts';

const WEIGHT_LIMIT = 0x7fffffff;

export const fileKeywords: CheckerKeywords = {
  kinds: ['FILE_CHECK'],
  read(c, s, kind, o) {
    let weight: number | null = null;
    let reverse = false;
    c.dispatch(s.body, {
      track_file: { run: (x) => {
        const t = c.arg(x, 0, 'a track_file name');
        if (!t) return;
        const f = c.trackFile(t.text);
        if (!f) { c.warn(t, `track_file ${t.text} not found`); return; }
        o['track_file'] = f.name;
        o['file'] = f.file;
        o['weight'] = f.weight;
        o['reverse'] = f.reverse;
      } },
      weight: { run: (x) => {
        const t = x.args[0];
        if (!t) { c.warn(x.name, 'track file weight missing'); return; }
        const n = kaInt(c, t, -WEIGHT_LIMIT, WEIGHT_LIMIT);
        if (n === null) { c.warn(t, `weight for track file must be in [${-WEIGHT_LIMIT}..${WEIGHT_LIMIT}] inclusive. Ignoring...`); return; }
        const r = x.args[1];
        if (r && r.text !== 'reverse' && r.text !== 'noreverse') { c.warn(r, `unknown track file weight option ${r.text} - ignoring`); return; }
        weight = n;
        reverse = r?.text === 'reverse';
      } },
    }, kind);
    if (o['file'] === undefined) { c.warn(c.after(s), 'FILE_CHECK has no track_file specified - ignoring'); return []; }
    // The checker's own weight wins over the track_file's (file_end_handler).
    if (weight !== null) { o['weight'] = weight; o['reverse'] = reverse; }
    return true;
  },
};
