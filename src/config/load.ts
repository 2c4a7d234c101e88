/**
 * The I/O edge of the config readers: a ConfigSource over node:fs, format detection, and
 * `loadConfig(path)`. Everything else in src/config is pure.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { posix, resolve } from 'node:path';
import { sortDiagnostics, type ConfigFormat, type Diagnostic, type LoadResult } from './desired.ts';
import { realScriptHost } from '../os/script-host.ts';
import type { ScriptHost } from '../health/script-security.ts';
import { applyScriptPolicy } from './script-policy.ts';
import { parseKeepalived } from './keepalived.ts';
import type { HostInterface } from './keepalived/context.ts';
import { parseLdirectord } from './ldirectord.ts';
import { hasGlob, segmentMatcher, type ConfigSource } from './source.ts';

const MAX_FILE_BYTES = 16 * 1024 * 1024;

export const fsSource: ConfigSource = {
  read(path) {
    try {
      const st = statSync(path);
      if (!st.isFile() || st.size > MAX_FILE_BYTES) return null;
      return readFileSync(path, 'utf8');
    } catch {
      return null;
    }
  },
  glob(pattern) {
    const segs = posix.normalize(pattern).split('/');
    let bases = [segs[0] === '' ? '/' : '.'];
    for (let i = segs[0] === '' ? 1 : 0; i < segs.length; i++) {
      const seg = segs[i]!;
      if (seg === '') continue;
      const next: string[] = [];
      for (const b of bases) {
        if (!hasGlob(seg)) { next.push(posix.join(b, seg)); continue; }
        const re = segmentMatcher(seg);
        let names: string[] = [];
        try { names = readdirSync(b); } catch { names = []; }
        for (const n of names) if (re.test(n) && !(n.startsWith('.') && !seg.startsWith('.'))) next.push(posix.join(b, n));
      }
      bases = next;
    }
    return bases.filter((p) => { try { return statSync(p).isFile(); } catch { return false; } }).sort();
  },
};

/** keepalived.conf has braces and `virtual_server`/`vrrp_instance`/`global_defs`; ldirectord.cf has `key = value`. */
export function detectFormat(text: string, path = ''): ConfigFormat {
  if (/ldirectord/i.test(path)) return 'ldirectord';
  if (/keepalived/i.test(path)) return 'keepalived';
  const noComments = text.replace(/^\s*[#!].*$/gm, '');
  const ka = (noComments.match(/\b(virtual_server|vrrp_instance|global_defs|real_server|vrrp_script)\b|[{}]/g) ?? []).length;
  const ld = (noComments.match(/^\s*(virtual6?|real6?|checktype|checkinterval|checktimeout|quiescent|scheduler)\s*=/gm) ?? []).length;
  return ld > ka ? 'ldirectord' : 'keepalived';
}

/**
 * The host's interfaces as keepalived sees them (/sys/class/net: ARPHRD_LOOPBACK type 772,
 * IFF_MULTICAST 0x1000); null when /sys cannot be read (nothing is checked then).
 */
export function hostInterfaces(): ReadonlyMap<string, HostInterface> | null {
  try {
    const out = new Map<string, HostInterface>();
    for (const name of readdirSync('/sys/class/net')) {
      const read = (f: string) => { try { return readFileSync(`/sys/class/net/${name}/${f}`, 'utf8').trim(); } catch { return ''; } };
      const flags = parseInt(read('flags'), 16) || 0;
      out.set(name, { loopback: read('type') === '772', multicast: (flags & 0x1000) !== 0 });
    }
    return out;
  } catch {
    return null;
  }
}

export interface LoadOptions {
  readonly format?: ConfigFormat | 'auto';
  /** keepalived `@ID` conditionals; default the host name (as keepalived). */
  readonly configId?: string;
  readonly source?: ConfigSource;
  /** Where keepalived's script checks look (users, file permissions); default the real system. */
  readonly scriptHost?: ScriptHost;
  /** The interfaces keepalived.conf is checked against; default the host's; null = not checked. */
  readonly interfaces?: ReadonlyMap<string, HostInterface> | null;
}

function withInterfaces(m: ReadonlyMap<string, HostInterface> | null): { interfaces?: ReadonlyMap<string, HostInterface> } {
  return m ? { interfaces: m } : {};
}

export function loadConfig(path: string, opts: LoadOptions = {}): LoadResult & { readonly format: ConfigFormat } {
  const src = opts.source ?? fsSource;
  const abs = resolve(path);
  let format = opts.format ?? 'auto';
  if (format === 'auto') format = detectFormat(src.read(abs) ?? '', abs);
  const r = format === 'keepalived'
    ? parseKeepalived(abs, src, { configId: opts.configId ?? hostname().split('.')[0]!, ...withInterfaces(opts.interfaces === undefined ? hostInterfaces() : opts.interfaces) })
    : parseLdirectord(abs, src);
  const read = r.state ?? r.partial?.state;
  if (format === 'keepalived' && read) {
    // keepalived checks its scripts after reading the file: who runs them, and which may not run;
    // in a file with errors too (check_vrrp_script_security runs before chk_min_cfg drops an
    // instance), so the SECURITY VIOLATION (exit 6) is said there as well.
    const p = applyScriptPolicy(read, opts.scriptHost ?? realScriptHost, r.state ? {} : { vrrpRead: (r.partial?.vrrpInstancesRead ?? 0) > 0 });
    // keepalived only logs (to syslog) what it finds wrong with a script (lib/notify.c): keepalived -t
    // says nothing of it and its exit is unaffected; only the SECURITY VIOLATION and errors count.
    const policy = p.diagnostics.map((d): Diagnostic => (d.severity === 'warning' && !d.security ? { ...d, ka: 'none' } : d));
    const diagnostics = sortDiagnostics([...r.diagnostics, ...policy], read.files);
    return { state: r.state && !diagnostics.some((d) => d.severity === 'error') ? p.state : null, diagnostics, format };
  }
  return { state: r.state, diagnostics: r.diagnostics, format };
}
