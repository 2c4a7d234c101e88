/**
 * What every keepalived checker block shares: the connection keywords (keepalived's
 * install_checker_common_keywords) and the options a checker inherits from its virtual_server
 * and real_server. Each checker's own keywords live in the file named after it.
 */
import type { Ctx, Table, Stmt } from '../context.ts';

/** Inheritable checker options (virtual_server -> real_server -> checker). */
export interface Inherit {
  retry?: number;
  delay_before_retry?: number;
  warmup?: number;
  connect_timeout?: number;
  delay_loop?: number;
}

/** A checker's options as they are read (becomes a CheckerDef once the block is done). */
export type CheckerDraft = Record<string, unknown>;

/** One checker kind's keywords, beside its checker. */
export interface CheckerKeywords {
  /** The keepalived keywords that open it (`HTTP_GET`, `SSL_GET`, ...). */
  readonly kinds: readonly string[];
  /**
   * Reads the block into `o` (`common` holds the shared keywords, writing into `o` too).
   * Returns false when the checker cannot be built (an error has been reported), or the
   * checkers it makes when that is not just `o` (SMTP_CHECK's host blocks).
   */
  read(c: Ctx, s: Stmt, kind: string, o: CheckerDraft, common: Table): boolean | CheckerDraft[];
}

export function commonTable(c: Ctx, o: CheckerDraft): Table {
  return {
    connect_ip: { run: (s) => { const a = c.ip(s, 0, 'an address'); if (a) o['connect_ip'] = a.addr; c.extra(s, 1); } },
    connect_port: { run: (s) => { const v = c.num(s, 0, 'a port', 0, 65535); if (v !== null) o['connect_port'] = v; c.extra(s, 1); } },
    bindto: { run: (s) => { const a = c.ip(s, 0, 'an address'); if (a) o['bindto'] = a.addr; c.extra(s, 1); } },
    bind_port: { run: (s) => { const v = c.num(s, 0, 'a port', 0, 65535); if (v !== null) o['bind_port'] = v; c.extra(s, 1); } },
    connect_timeout: { run: (s) => { const v = c.num(s, 0, 'seconds', 0, 86400, false); if (v !== null) o['connect_timeout'] = v; c.extra(s, 1); } },
    retry: { run: (s) => { const v = c.num(s, 0, 'a retry count', 0, 1_000_000); if (v !== null) o['retry'] = v; c.extra(s, 1); } },
    nb_get_retry: { run: (s) => {
      const v = c.num(s, 0, 'a retry count', 0, 1_000_000);
      if (v !== null) { o['retry'] = v; c.warn(s.name, "'nb_get_retry' is deprecated: use 'retry' (applied as retry; keepalived 2.2 ignores it outside HTTP_GET/SSL_GET)"); }
      c.extra(s, 1);
    } },
    delay_before_retry: { run: (s) => { const v = c.num(s, 0, 'seconds', 0, 86400, false); if (v !== null) o['delay_before_retry'] = v; c.extra(s, 1); } },
    warmup: { run: (s) => { const v = c.num(s, 0, 'seconds', 0, 86400, false); if (v !== null) o['warmup'] = v; c.extra(s, 1); } },
    delay_loop: { run: (s) => { const v = c.num(s, 0, 'seconds', 0.001, 86400 * 365, false); if (v !== null) o['delay_loop'] = v; c.extra(s, 1); } },
    bind_if: { run: (s) => c.warn(s.name, "'bind_if' is not supported (checks use the routing table); ignored") },
    fwmark: { run: (s) => c.warn(s.name, "checker 'fwmark' is not supported; ignored") },
    log_all_failures: { run: (s) => c.warn(s.name, "'log_all_failures' is not supported (every failure is logged); ignored") },
  };
}
