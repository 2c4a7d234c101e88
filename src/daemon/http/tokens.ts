/**
 * `--http-token FILE`: bearer tokens for the HTTP API. One token per line, `admin TOKEN` (may
 * change the rules) or `read TOKEN` (may read); `#` comments and blank lines ignored. Tokens are
 * 16..512 printable characters without blanks. The file must not be readable by group or others
 * (it holds secrets), and must hold at least one token: anything else refuses the start.
 *
 * Tokens are compared as SHA-256 digests with timingSafeEqual (no early exit on the first
 * differing byte).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';

export type Role = 'admin' | 'read';

export interface TokenSet {
  /** The role of the presented token, or null when it matches none. */
  roleOf(token: string): Role | null;
  readonly counts: Readonly<Record<Role, number>>;
}

const digest = (t: string): Buffer => createHash('sha256').update(t, 'utf8').digest();

export function parseTokens(text: string, file = 'token file'): TokenSet {
  const entries: { role: Role; d: Buffer }[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(admin|read)\s+(\S+)$/.exec(line);
    if (!m) throw new Error(`${file}:${i + 1}: expected "admin TOKEN" or "read TOKEN"`);
    const tok = m[2]!;
    if (tok.length < 16 || tok.length > 512 || !/^[\x21-\x7e]+$/.test(tok)) throw new Error(`${file}:${i + 1}: a token is 16..512 printable characters`);
    entries.push({ role: m[1] as Role, d: digest(tok) });
  }
  if (entries.length === 0) throw new Error(`${file}: no tokens (lines "admin TOKEN" / "read TOKEN")`);
  const counts = { admin: entries.filter((e) => e.role === 'admin').length, read: entries.filter((e) => e.role === 'read').length };
  return {
    counts,
    roleOf(token: string): Role | null {
      const d = digest(token);
      let role: Role | null = null;
      // Every entry is compared (no early exit): the time does not tell which one matched.
      for (const e of entries) if (timingSafeEqual(e.d, d) && role !== 'admin') role = e.role;
      return role;
    },
  };
}

export function loadTokens(file: string): TokenSet {
  let st;
  try {
    st = statSync(file);
  } catch (e) {
    throw new Error(`--http-token ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  if (!st.isFile()) throw new Error(`--http-token ${file}: not a regular file`);
  if ((st.mode & 0o077) !== 0) throw new Error(`--http-token ${file}: readable or writable by group or others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`);
  return parseTokens(readFileSync(file, 'utf8'), file);
}
