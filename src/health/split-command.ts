/** Pure: keepalived's word splitting of script command lines. */
/**
 * Splits a command line the way keepalived does for misc_path / notify scripts: whitespace
 * separated words, "double" and 'single' quotes group, backslash escapes the next character.
 */
export function splitCommand(cmd: string): string[] {
  const out: string[] = [];
  let cur = '';
  let have = false;
  let q: '"' | "'" | null = null;
  for (let i = 0; i < cmd.length; i++) {
    const c = cmd[i]!;
    if (q) {
      if (c === q) q = null;
      else if (c === '\\' && q === '"' && i + 1 < cmd.length) cur += cmd[++i];
      else cur += c;
    } else if (c === '"' || c === "'") { q = c; have = true; }
    else if (c === '\\' && i + 1 < cmd.length) { cur += cmd[++i]; have = true; }
    else if (/\s/.test(c)) { if (have) { out.push(cur); cur = ''; have = false; } }
    else { cur += c; have = true; }
  }
  if (have) out.push(cur);
  return out;
}
