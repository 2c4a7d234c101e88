/** ldirectord checktype=on / off: no probe; `on` is always up, `off` always down. */
import type { Checker } from '../checker.ts';
import type { LdStaticDef } from '../types.ts';
import { fail, ok } from './util.ts';

export const staticChecker: Checker<LdStaticDef> = {
  kinds: ['on', 'off'],
  async run(def) {
    const t0 = performance.now();
    return def.type === 'on' ? ok(t0, { detail: 'checktype on' }) : fail(t0, 'disabled', 'checktype off');
  },
};
