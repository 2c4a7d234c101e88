/**
 * ldirectord.cf reader into the desired state.
 *
 * Layout, as ldirectord 4.12's read_config reads it: `key = value` lines starting in the first
 * column (keys are case-sensitive); `virtual = ADDR:PORT` (or a firewall mark, or `virtual6 =
 * [v6]:port`) opens a section whose option lines start with at least 4 spaces (a tab counts as
 * 4); the first line that does not (a blank line too) ends the section and is read as a
 * top-level line. In a section `#` starts a comment anywhere; at the top level a line whose first
 * non-blank is `#` is a comment. Any other word is ldirectord's "Unknown command" (an error:
 * ldirectord stops there). `real = HOST[->HOST2][:PORT] gate|masq|ipip [WEIGHT]
 * ["request", "receive"]`; trailing words after a real server's weight are ignored with a
 * warning. Hostnames are not resolved (pure reader): they are errors.
 */
import { canonicalIp, parseIp } from '../core/addr.ts';
import { SVC_F, type Af, type DestSpec, type FwdMethod, type Protocol, type ServiceSpec } from '../core/types.ts';
import type { CheckerDef } from '../health/types.ts';
import { hostPort, serviceKeyString } from '../core/service-key.ts';
import {
  DEFAULTS, deepFreeze, emptyVrrp,
  type Diagnostic, type LoadResult, type RealServerConfig, type SorryServerConfig, type SourcePos, type VirtualServiceConfig,
} from './desired.ts';
import type { ConfigSource } from './source.ts';
import { sortDiagnostics } from './desired.ts';

const METHODS: Record<string, FwdMethod> = { gate: 'route', masq: 'masq', ipip: 'tunnel' };

/** Port -> ldirectord service name when `service` is not given. */
const SERVICE_BY_PORT: Record<number, string> = {
  21: 'ftp', 22: 'none', 25: 'smtp', 53: 'dns', 80: 'http', 110: 'pop', 119: 'nntp', 143: 'imap', 389: 'ldap',
  443: 'https', 465: 'smtp', 993: 'imaps', 995: 'pops', 1812: 'radius', 3306: 'mysql', 5060: 'sip', 5432: 'pgsql',
};
const PORT_BY_NAME: Record<string, number> = {
  ftp: 21, ssh: 22, smtp: 25, domain: 53, http: 80, www: 80, pop3: 110, nntp: 119, imap: 143, ldap: 389, https: 443,
  smtps: 465, imaps: 993, pop3s: 995, mysql: 3306, sip: 5060, postgresql: 5432, radius: 1812,
};
const SERVICES = new Set(['dns', 'ftp', 'http', 'https', 'http_proxy', 'imap', 'imaps', 'ldap', 'mysql', 'nntp', 'none', 'oracle', 'pgsql', 'pop', 'pops', 'radius', 'simpletcp', 'sip', 'smtp', 'submission']);

/** Keys valid at the top level. */
const GLOBAL_KEYS = new Set([
  'checktimeout', 'negotiatetimeout', 'connecttimeout', 'checkinterval', 'failurecount', 'autoreload', 'callback', 'fallback',
  'fallback6', 'fallbackcommand', 'fork', 'logfile', 'emailalert', 'emailalertfreq', 'emailalertstatus', 'emailalertfrom', 'execute',
  'quiescent', 'readdquiescent', 'maintenancedir', 'cleanstop', 'supervised', 'smtp', 'checkcount',
  // tsvs's own (src/daemon/observers.ts): the HTTP listener, its tokens, the /proc files.
  'tsvs_http', 'tsvs_http_token', 'tsvs_procfs', 'tsvs_slow_start',
]);
/** Keys valid inside a virtual section. */
const VIRTUAL_KEYS = new Set([
  'real', 'real6', 'checktype', 'checkcommand', 'checktimeout', 'connecttimeout', 'negotiatetimeout', 'checkinterval', 'failurecount',
  'checkport', 'request', 'receive', 'httpmethod', 'virtualhost', 'login', 'passwd', 'database', 'secret', 'scheduler', 'persistent',
  'netmask', 'protocol', 'service', 'fallback', 'fallback6', 'fallbackcommand', 'quiescent', 'emailalert', 'emailalertfreq',
  'emailalertstatus', 'monitorfile', 'cleanstop', 'checkcount', 'load', 'ops', 'schedflags', 'smtp', 'servicename', 'comment',
]);
/** Keys that only make sense in a virtual section (to say where one belongs). */
const VIRTUAL_ONLY = new Set([...VIRTUAL_KEYS].filter((k) => !GLOBAL_KEYS.has(k)));

interface Line {
  key: string; value: string; file: string; line: number; col: number; valueCol: number; indented: boolean;
  /** The value as ldirectord compares it: up to the end of the line, trailing blanks and CR kept. */
  exact: string;
}

interface Section { head: Line; virtual6: boolean; opts: Line[] }

/**
 * glibc's inet_aton, which ldirectord's getaddrinfo(HOST, 0, AF_INET) falls back to for a
 * numeric host: 1 to 4 parts (decimal, 0octal or 0xhex), the last filling the bytes left, so
 * '5060' is 0.0.19.196 and '10.1' is 10.0.0.1. Null when it is not such a number.
 */
export function inetAton(s: string): string | null {
  const parts = s.split('.');
  if (parts.length > 4) return null;
  const vals: number[] = [];
  for (const p of parts) {
    const v = /^0[xX][0-9a-fA-F]*$/.test(p) ? parseInt(p.slice(2) || '0', 16) : /^0[0-7]*$/.test(p) ? parseInt(p, 8) : /^[1-9]\d*$/.test(p) ? Number(p) : NaN;
    if (Number.isNaN(v)) return null;
    vals.push(v);
  }
  const last = vals.pop()!;
  if (vals.some((v) => v > 255) || last >= 2 ** (8 * (4 - vals.length))) return null;
  let n = last;
  vals.forEach((v, i) => { n += v * 2 ** (8 * (3 - i)); });
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/**
 * ldirectord's real-server pattern (_ld_read_config_real_resolve), unanchored as it is there: a
 * value it cannot match from its start is matched further on, the text before skipped. So
 * 'real=192.168.6.2::5060 gate' (ldirectord's own sample) is the host '5060' with no port.
 * Returns the offset ldirectord starts reading at, or null when it does not match at all.
 */
export function ldirectordRealStart(value: string): number | null {
  const m = /(\d+\.\d+\.\d+\.\d+|[A-Za-z0-9.-]+|\[[0-9A-fa-f:]+\])(->(\d+\.\d+\.\d+\.\d+|[A-Za-z0-9.-]+|\[[0-9A-fa-f:]+\]))?(:(\d+|[A-Za-z0-9\-_]+))?\s+(.*)/.exec(value);
  return m ? m.index : null;
}

/**
 * ldirectord's config_error prints one error and exits: what it would have said of later lines is
 * never said. So do we: the problems after the first error's line are dropped (in place), and a
 * note says how many, so that fixing one error at a time goes as it goes with ldirectord.
 */
function stopAtFirstError(diags: Diagnostic[]): void {
  const first = diags.filter((d) => d.severity === 'error').reduce((a, d) => (d.line < a.line ? d : a));
  const kept = diags.filter((d) => d.line <= first.line);
  const dropped = diags.length - kept.length;
  diags.splice(0, diags.length, ...kept);
  if (dropped > 0) diags.push({ severity: 'warning', file: first.file, line: first.line, col: first.col, ka: 'none', message: `ldirectord stops at this error; ${dropped} later problem(s) not reported (fix it and run again)` });
}

function stripComment(raw: string): string {
  let inQ = false;
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i]!;
    if (ch === '"') inQ = !inQ;
    else if (ch === '#' && !inQ && (i === 0 || /\s/.test(raw[i - 1]!))) return raw.slice(0, i);
  }
  return raw;
}

function unquote(v: string): string {
  const t = v.trim();
  if (t.length >= 2 && ((t[0] === '"' && t[t.length - 1] === '"') || (t[0] === "'" && t[t.length - 1] === "'"))) return t.slice(1, -1);
  return t;
}

export function parseLdirectord(path: string, src: ConfigSource): LoadResult {
  const diags: Diagnostic[] = [];
  const err = (p: { file: string; line: number; col: number }, message: string) => { if (diags.length < 500) diags.push({ severity: 'error', file: p.file, line: p.line, col: p.col, message }); };
  const warn = (p: { file: string; line: number; col: number }, message: string) => { if (diags.length < 500) diags.push({ severity: 'warning', file: p.file, line: p.line, col: p.col, message }); };
  /** What ldirectord does silently and tsvs does the same: said, never failing the file. */
  const note = (p: { file: string; line: number; col: number }, message: string) => { if (diags.length < 500) diags.push({ severity: 'warning', file: p.file, line: p.line, col: p.col, message, ka: 'none' }); };

  const text = src.read(path);
  if (text === null) {
    return { state: null, diagnostics: [{ severity: 'error', file: path, line: 0, col: 0, message: 'cannot read the configuration file' }] };
  }

  // ---- lines (ldirectord's read_config layout) ----
  const globals: Line[] = [];
  const sections: Section[] = [];
  let cur: Section | null = null;
  const rawLines = text.split('\n');
  const keyValue = (body: string, lineNo: number, indent: number, indented: boolean, exactBody: string): Line | null => {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(body);
    if (!m) return null;
    const exact = /^[A-Za-z_][A-Za-z0-9_]*\s*=\s*([^\n]*)$/.exec(exactBody)?.[1] ?? m[2]!;
    return { key: m[1]!, value: m[2]!, file: path, line: lineNo, col: indent + 1, valueCol: indent + body.indexOf(m[2]!, m[1]!.length) + 1, indented, exact };
  };
  for (let i = 0; i < rawLines.length; i++) {
    const lineNo = i + 1;
    const full = rawLines[i]!;
    const raw = full.replace(/\r$/, '');
    if (cur) {
      if (/^\s*#/.test(raw)) continue;
      const opt = /^ {4,}(.+)/.exec(full.replace(/#.*/, '').replace(/\t/g, '    '));
      if (opt) {
        const body = opt[1]!.replace(/\s+$/, '');
        const indent = raw.length - raw.trimStart().length;
        const ln = keyValue(body, lineNo, indent, true, opt[1]!);
        if (!ln || !VIRTUAL_KEYS.has(ln.key)) {
          err({ file: path, line: lineNo, col: indent + 1 }, `Unknown command "${body}"${ln && GLOBAL_KEYS.has(ln.key) ? ` ('${ln.key}' is a global option)` : ''}`);
          continue;
        }
        cur.opts.push(ln);
        continue;
      }
      // The section ends here; this line is read as a top-level one.
      cur = null;
    }
    if (/^\s*$/.test(raw) || /^\s*#/.test(raw)) continue;
    const v = /^virtual(6)?\s*=\s*(.*?)\s*$/.exec(stripComment(raw));
    if (v) {
      const ln: Line = { key: v[1] ? 'virtual6' : 'virtual', value: v[2]!, file: path, line: lineNo, col: 1, valueCol: raw.indexOf(v[2]!, 7) + 1, indented: false, exact: v[2]! };
      cur = { head: ln, virtual6: v[1] !== undefined, opts: [] };
      sections.push(cur);
      continue;
    }
    const body = stripComment(raw).replace(/\s+$/, '');
    const ln = /^\S/.test(raw) ? keyValue(body, lineNo, 0, false, full) : null;
    if (!ln || !GLOBAL_KEYS.has(ln.key)) {
      const indent = raw.length - raw.trimStart().length;
      const hint = ln && VIRTUAL_ONLY.has(ln.key) ? ` ('${ln.key}' belongs in a virtual section, indented)` : /^\s/.test(raw) ? ' (an indented line outside a virtual section)' : '';
      if (ln?.key === 'timeout') err({ file: path, line: lineNo, col: 1 }, 'timeout directive deprecated in favour of checktimeout and negotiatetimeout');
      err({ file: path, line: lineNo, col: indent + 1 }, `Unknown command ${raw.trim()}${hint}`);
      continue;
    }
    globals.push(ln);
  }

  // ---- globals ----
  const g = {
    checktimeout: DEFAULTS.checktimeout as number, negotiatetimeout: DEFAULTS.negotiatetimeout as number, connecttimeout: undefined as number | undefined,
    checkinterval: DEFAULTS.checkinterval as number, failurecount: DEFAULTS.failurecount as number, quiescent: DEFAULTS.ldirectordQuiescent as boolean,
    fallback: undefined as Line | undefined,
  };
  const options: Record<string, string> = {};
  const num = (l: Line, min: number, max: number, integer = true): number | null => {
    const v = unquote(l.value);
    const ok = integer ? /^\d+$/.test(v) : /^(\d+\.?\d*|\.\d+)$/.test(v);
    if (!ok || Number(v) < min || Number(v) > max) { err({ file: l.file, line: l.line, col: l.valueCol }, `expected ${integer ? 'an integer' : 'a number'} ${min}..${max} for '${l.key}', got '${l.value}'`); return null; }
    return Number(v);
  };
  /** ldirectord compares the rest of the line with "yes" and "no" exactly (a trailing blank or CR fails). */
  const yesno = (l: Line): boolean | null => {
    if (l.exact === 'yes') return true;
    if (l.exact === 'no') return false;
    err({ file: l.file, line: l.line, col: l.valueCol }, `${l.key} must be 'yes' or 'no'`);
    return null;
  };
  for (const l of globals) {
    if (!GLOBAL_KEYS.has(l.key)) {
      if (VIRTUAL_KEYS.has(l.key)) err(l, `'${l.key}' belongs in a virtual section: indent it under a 'virtual =' line`);
      else warn(l, `unknown global keyword '${l.key}'; ignored`);
      continue;
    }
    options[l.key] = unquote(l.value);
    switch (l.key) {
      case 'checktimeout': { const v = num(l, 1, 86400, false); if (v !== null) g.checktimeout = v; break; }
      case 'negotiatetimeout': { const v = num(l, 1, 86400, false); if (v !== null) g.negotiatetimeout = v; break; }
      case 'connecttimeout': err(l, 'connecttimeout directive deprecated in favour of negotiatetimeout'); break;
      case 'checkinterval': { const v = num(l, 1, 86400, false); if (v !== null) g.checkinterval = v; break; }
      case 'failurecount': { const v = num(l, 1, 1_000_000); if (v !== null) g.failurecount = v; break; }
      case 'quiescent': { const v = yesno(l); if (v !== null) g.quiescent = v; break; }
      case 'autoreload': case 'fork': case 'cleanstop': case 'supervised': case 'readdquiescent': { const v = yesno(l); if (v !== null) options[l.key] = v ? 'yes' : 'no'; break; }
      case 'fallback': case 'fallback6': g.fallback = l; break;
      case 'checkcount': warn(l, "checkcount option is deprecated and slated for removal.  please see 'failurecount'"); options[l.key] = unquote(l.value); break;
      default: options[l.key] = unquote(l.value);
    }
  }

  // ---- addresses ----
  const parseHostPort = (l: Line, text: string, col: number, wantV6: boolean, defPort: number | null, what: string): { addr: string; af: Af; port: number } | null => {
    const t = text.trim();
    let host: string, portTxt: string | undefined;
    const br = /^\[([^\]]+)\](?::(\S+))?$/.exec(t);
    if (br) { host = br[1]!; portTxt = br[2]; }
    else if ((t.match(/:/g) ?? []).length > 1) { host = t; portTxt = undefined; }
    else { const k = t.lastIndexOf(':'); host = k >= 0 ? t.slice(0, k) : t; portTxt = k >= 0 ? t.slice(k + 1) : undefined; }
    const at = { file: l.file, line: l.line, col };
    let ip = parseIp(host);
    const aton = !ip && !wantV6 ? inetAton(host) : null;
    if (aton !== null) {
      // ldirectord resolves it with getaddrinfo, which reads it as inet_aton does.
      note(at, `${what}: '${host}' is read as the address ${aton} (numbers-and-dots, as ldirectord's getaddrinfo reads it)`);
      host = aton;
      ip = parseIp(host);
    }
    if (!ip) {
      if (/^[A-Za-z0-9.-]+$/.test(host)) err(at, `${what}: host name '${host}' is not resolved by tsvs; expected an IP address`);
      else err(at, `${what}: expected ${wantV6 ? '[IPv6]:port' : 'IP:port'}, got '${t}'`);
      return null;
    }
    if (wantV6 && ip.af !== 6) warn(at, `${what}: '${host}' is IPv4 in a ${l.key} line`);
    let port: number;
    if (portTxt === undefined || portTxt === '') {
      if (defPort === null) { err({ file: l.file, line: l.line, col: col + t.length }, `${what}: expected ':PORT' after '${host}'`); return null; }
      port = defPort;
    } else if (/^\d+$/.test(portTxt) && Number(portTxt) <= 65535) port = Number(portTxt);
    else if (PORT_BY_NAME[portTxt.toLowerCase()] !== undefined) port = PORT_BY_NAME[portTxt.toLowerCase()]!;
    else { err(at, `${what}: expected a port number or service name, got '${portTxt}'`); return null; }
    return { addr: canonicalIp(host)!, af: ip.af, port };
  };

  // ---- sections ----
  const services: VirtualServiceConfig[] = [];
  const seenSvc = new Map<string, number>();
  for (const sec of sections) {
    const h = sec.head;
    const headVal = unquote(h.value);
    let fwmark = 0;
    let vaddr: { addr: string; af: Af; port: number } | null = null;
    // ldirectord: ADDR:PORT, else leading digits are a firewall mark ('10.0.0.1' alone is mark 10).
    const leading = /^\d+\.\d+\.\d+\.\d+:|^[0-9A-Za-z._+-]+:|^\[/.test(headVal) ? null : /^(\d+)/.exec(headVal);
    if (leading) {
      fwmark = Number(leading[1]);
      if (fwmark < 1 || fwmark > 0xffffffff) { err({ file: h.file, line: h.line, col: h.valueCol }, `expected a firewall mark 1..4294967295, got '${headVal}'`); continue; }
    } else {
      vaddr = parseHostPort(h, headVal, h.valueCol, sec.virtual6, null, h.key);
      if (!vaddr) continue;
    }
    const o = {
      checktype: DEFAULTS.ldirectordChecktype as string, checktypeLine: undefined as Line | undefined, checkcommand: undefined as string | undefined,
      checktimeout: g.checktimeout, negotiatetimeout: g.negotiatetimeout, connecttimeout: g.connecttimeout, checkinterval: g.checkinterval,
      failurecount: g.failurecount, checkport: undefined as number | undefined, request: undefined as string | undefined,
      receive: undefined as string | undefined, httpmethod: undefined as 'GET' | 'HEAD' | undefined, virtualhost: undefined as string | undefined,
      service: undefined as string | undefined, scheduler: DEFAULTS.ldirectordScheduler as string, persistent: 0, netmask: undefined as Line | undefined,
      protocol: (fwmark > 0 ? 'fwm' : 'tcp') as string, quiescent: g.quiescent, fallback: g.fallback,
      login: undefined as string | undefined, passwd: undefined as string | undefined, database: undefined as string | undefined, secret: undefined as string | undefined, ops: false,
    };
    const extra: Record<string, string> = {};
    for (const k of ['fallbackcommand', 'emailalert', 'emailalertfreq', 'emailalertstatus'] as const) if (options[k] !== undefined) extra[k] = options[k]!;
    const realLines: Line[] = [];
    for (const l of sec.opts) {
      if (!VIRTUAL_KEYS.has(l.key)) {
        if (GLOBAL_KEYS.has(l.key)) warn(l, `'${l.key}' is a global option; inside a virtual section it is ignored`);
        else warn(l, `unknown keyword '${l.key}' in virtual section; ignored`);
        continue;
      }
      const v = unquote(l.value);
      const vat = { file: l.file, line: l.line, col: l.valueCol };
      switch (l.key) {
        case 'real': case 'real6': realLines.push(l); break;
        case 'checktype': {
          const t = v.toLowerCase();
          if (['connect', 'negotiate', 'ping', 'external', 'external-perl', 'off', 'on'].includes(t) || /^\d+$/.test(t)) { o.checktype = t; o.checktypeLine = l; }
          else err(vat, `expected connect|negotiate|ping|external|external-perl|on|off|N for checktype, got '${v}'`);
          break;
        }
        case 'checkcommand': o.checkcommand = v; break;
        case 'checktimeout': { const n = num(l, 1, 86400, false); if (n !== null) o.checktimeout = n; break; }
        case 'negotiatetimeout': { const n = num(l, 1, 86400, false); if (n !== null) o.negotiatetimeout = n; break; }
        case 'connecttimeout': err(l, 'connecttimeout directive deprecated in favour of negotiatetimeout'); break;
        case 'checkinterval': { const n = num(l, 1, 86400, false); if (n !== null) o.checkinterval = n; break; }
        case 'failurecount': { const n = num(l, 1, 1_000_000); if (n !== null) o.failurecount = n; break; }
        case 'checkport': { const n = num(l, 1, 65535); if (n !== null) o.checkport = n; break; }
        case 'request': o.request = v; break;
        case 'receive': o.receive = v; try { new RegExp(v); } catch (e) { err(vat, `receive is not a valid regular expression: ${(e as Error).message}`); } break;
        case 'httpmethod': if (v.toUpperCase() === 'GET' || v.toUpperCase() === 'HEAD') o.httpmethod = v.toUpperCase() as 'GET' | 'HEAD'; else err(vat, `expected GET|HEAD for httpmethod, got '${v}'`); break;
        case 'virtualhost': o.virtualhost = v; break;
        case 'service': if (SERVICES.has(v.toLowerCase())) o.service = v.toLowerCase(); else err(vat, `expected a service (${[...SERVICES].join('|')}), got '${v}'`); break;
        case 'scheduler': if (/^[a-z][a-z0-9]{0,14}$/.test(v)) o.scheduler = v; else err(vat, `expected a scheduler name, got '${v}'`); break;
        case 'persistent': { const n = num(l, 1, 0x7fffffff); if (n !== null) o.persistent = n; break; }
        case 'netmask': o.netmask = l; break;
        case 'protocol': {
          const t = v.toLowerCase();
          if (t === 'tcp' || t === 'udp' || t === 'fwm' || t === 'sctp') o.protocol = t;
          else err(vat, `expected tcp|udp|fwm for protocol, got '${v}'`);
          break;
        }
        case 'quiescent': { const b = yesno(l); if (b !== null) o.quiescent = b; break; }
        case 'fallback': case 'fallback6': o.fallback = l; break;
        case 'login': o.login = v; break;
        case 'passwd': o.passwd = v; break;
        case 'database': o.database = v; break;
        case 'secret': o.secret = v; break;
        case 'checkcount': warn(l, "checkcount option is deprecated and slated for removal.  please see 'failurecount'"); break;
        case 'ops': if (v === 'yes') o.ops = true; else if (v !== 'no') err(vat, "ops must be 'yes' or 'no'"); break;
        // Names and notes for people (ldirectord keeps them, does nothing with them).
        case 'servicename': case 'comment': extra[l.key] = v; break;
        default: extra[l.key] = v;
      }
    }
    if (fwmark > 0 && o.protocol !== 'fwm') { err(h, `virtual = ${fwmark} is a firewall mark: protocol must be fwm, not ${o.protocol}`); continue; }
    if (fwmark === 0 && o.protocol === 'fwm') { err(h, `protocol = fwm needs a firewall mark number in 'virtual =', got '${headVal}'`); continue; }
    const af: Af = vaddr ? vaddr.af : sec.virtual6 ? 6 : 4;
    let netmask: number = af === 4 ? DEFAULTS.netmask4 : DEFAULTS.netmask6;
    if (o.netmask) {
      const v = unquote(o.netmask.value);
      const nat = { file: o.netmask.file, line: o.netmask.line, col: o.netmask.valueCol };
      if (af === 4) { const ip = parseIp(v); if (!ip || ip.af !== 4) err(nat, `expected a dotted IPv4 netmask, got '${v}'`); else netmask = ip.words[0]!; }
      else { if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 128) err(nat, `expected an IPv6 prefix length 1..128, got '${v}'`); else netmask = Number(v); }
    }
    const protocol: Protocol = fwmark > 0 ? 'tcp' : (o.protocol as Protocol);
    const spec: ServiceSpec = {
      af, fwmark, protocol, addr: fwmark > 0 ? (af === 6 ? '::' : '0.0.0.0') : vaddr!.addr, port: fwmark > 0 ? 0 : vaddr!.port,
      scheduler: o.scheduler, flags: (o.persistent > 0 ? SVC_F.PERSISTENT : 0) | (o.ops ? SVC_F.ONEPACKET : 0), timeout: o.persistent, netmask, pe: '',
    };
    const key = serviceKeyString(spec);
    if (seenSvc.has(key)) { err(h, `virtual service ${key} is defined twice (first at line ${seenSvc.get(key)})`); continue; }
    seenSvc.set(key, h.line);

    // The checker every real server of this section gets (per-real request/receive override negotiate).
    const service = o.service ?? (fwmark > 0 ? 'none' : SERVICE_BY_PORT[spec.port] ?? 'none');
    const common = { failurecount: o.failurecount, ...(o.checkport !== undefined ? { connect_port: o.checkport } : {}) };
    const makeChecker = (req?: string, rcv?: string): CheckerDef | null => {
      let t = o.checktype;
      // checktype = N: ldirectord's "combined" check (negotiate, then N connects, and again).
      const every = /^\d+$/.test(t) ? Number(t) : undefined;
      if (every !== undefined) t = 'negotiate';
      switch (t) {
        case 'connect': return { type: 'connect', checktimeout: o.connecttimeout ?? o.checktimeout, ...common };
        case 'ping': return { type: 'ping', checktimeout: o.checktimeout, ...common };
        case 'on': case 'off': return { type: t, ...common };
        case 'external': case 'external-perl':
          if (t === 'external-perl' && o.checktypeLine) warn(o.checktypeLine, 'checktype = external-perl runs checkcommand as an external program');
          // ldirectord's default check command.
          if (!o.checkcommand) o.checkcommand = '/bin/true';
          return { type: 'external', checkcommand: o.checkcommand, checktimeout: o.checktimeout, ...common };
        default: {
          const request = req ?? o.request;
          const receive = rcv ?? o.receive;
          if (service === 'none' && request === undefined && receive === undefined) return { type: 'connect', checktimeout: o.connecttimeout ?? o.checktimeout, ...common };
          return {
            type: 'negotiate', service, request: request ?? (service === 'http' || service === 'https' ? '/' : ''), receive: receive ?? '',
            negotiatetimeout: o.negotiatetimeout, ...(o.virtualhost !== undefined ? { virtualhost: o.virtualhost } : {}),
            ...(o.httpmethod !== undefined ? { httpmethod: o.httpmethod } : {}), ...common,
            ...(every !== undefined ? { every, checktimeout: o.connecttimeout ?? o.checktimeout } : {}),
          };
        }
      }
    };

    const reals: RealServerConfig[] = [];
    const seenReal = new Set<string>();
    let defaultFwd: FwdMethod | null = null;
    for (const l of realLines) {
      let v = l.value.trim();
      const start = ldirectordRealStart(v);
      if (start !== null && start > 0) {
        note({ file: l.file, line: l.line, col: l.valueCol }, `${l.key}: ldirectord skips '${v.slice(0, start)}' and reads the real server from '${v.slice(start)}'; so does tsvs`);
        v = v.slice(start);
      }
      const m = /^(\S+)(?:\s+(\S+))?(?:\s+(\S+))?(.*)$/.exec(v);
      if (!m) { err(l, `expected 'real = IP:PORT gate|masq|ipip [WEIGHT]'`); continue; }
      const hostPart = m[1]!;
      let methodTok: string | undefined = m[2];
      let weightTok: string | undefined = m[3];
      let rest = m[4]!.trim();
      // Allow the weight to be omitted: "real=1.2.3.4:80 gate "req", "rcv"".
      if (methodTok !== undefined && methodTok.startsWith('"')) { rest = [methodTok, weightTok ?? '', rest].join(' ').trim(); methodTok = undefined; weightTok = undefined; }
      if (weightTok !== undefined && weightTok.startsWith('"')) { rest = `${weightTok} ${rest}`.trim(); weightTok = undefined; }
      let fwd: FwdMethod = DEFAULTS.ldirectordFwd;
      const vcol = l.valueCol;
      if (methodTok === undefined) warn(l, `real server without gate|masq|ipip; gate (DR) is used`);
      else if (METHODS[methodTok.toLowerCase()]) fwd = METHODS[methodTok.toLowerCase()]!;
      else { err({ file: l.file, line: l.line, col: vcol + v.indexOf(methodTok, hostPart.length) }, `expected gate|masq|ipip after the real server address, got '${methodTok}'`); continue; }
      let weight: number = DEFAULTS.weight;
      if (weightTok !== undefined) {
        if (/^\d+$/.test(weightTok) && Number(weightTok) <= 65535) weight = Number(weightTok);
        else {
          const wm = /^(\d+)(.+)$/.exec(weightTok);
          if (wm && Number(wm[1]) <= 65535) { weight = Number(wm[1]); warn(l, `trailing text '${wm[2]}' after the weight ignored`); }
          else { err({ file: l.file, line: l.line, col: vcol + v.indexOf(weightTok, hostPart.length) }, `expected a weight 0..65535, got '${weightTok}'`); continue; }
        }
      }
      let req: string | undefined, rcv: string | undefined;
      if (rest) {
        const rr = /^"((?:[^"\\]|\\.)*)"\s*,\s*"((?:[^"\\]|\\.)*)"\s*(.*)$/.exec(rest);
        if (rr) {
          req = rr[1]; rcv = rr[2];
          if (rr[3]) warn(l, `trailing text '${rr[3]}' after request/receive ignored`);
        } else warn(l, `trailing text '${rest}' after the real server ignored`);
      }
      // Ranges: a.b.c.d->a.b.c.e[:port]
      const rm = /^([^-]+)->([^:\]]+|\[[^\]]+\])(:\S+)?$/.exec(hostPart);
      const hosts: string[] = [];
      if (rm) {
        const a = parseIp(rm[1]!), b = parseIp(rm[2]!.replace(/^\[|\]$/g, ''));
        if (!a || !b || a.af !== 4 || b.af !== 4 || b.words[0]! < a.words[0]! || b.words[0]! - a.words[0]! > 4096) { err({ file: l.file, line: l.line, col: vcol }, `expected an IPv4 range like 10.0.0.1->10.0.0.9, got '${hostPart}'`); continue; }
        for (let x = a.words[0]!; x <= b.words[0]!; x++) hosts.push(`${canonicalIp(`${x >>> 24}.${(x >>> 16) & 255}.${(x >>> 8) & 255}.${x & 255}`)}${rm[3] ?? ''}`);
      } else hosts.push(hostPart);
      for (const hp of hosts) {
        const r = parseHostPort(l, hp, vcol, l.key === 'real6', fwmark > 0 ? 0 : spec.port, l.key);
        if (!r) continue;
        if (r.af !== af) { err({ file: l.file, line: l.line, col: vcol }, `real server ${r.addr} is IPv${r.af} but the virtual service is IPv${af}`); continue; }
        let port = r.port;
        if (fwmark === 0 && (fwd === 'route' || fwd === 'tunnel') && port !== spec.port) {
          warn(l, `real server port ${port} differs from the service port ${spec.port}: ${fwd === 'route' ? 'gate' : 'ipip'} cannot change ports; ${spec.port} is used`);
          port = spec.port;
        }
        const k = hostPort(r.addr, port);
        // ldirectord takes it silently; its second ipvsadm -a fails at run time: the first one stays.
        if (seenReal.has(k)) { note(l, `real server ${k} is listed twice; the first one is used`); continue; }
        seenReal.add(k);
        const checker = makeChecker(req, rcv);
        if (!checker) continue;
        const dest: DestSpec = { af: r.af, addr: r.addr, port, fwd, weight, uThreshold: 0, lThreshold: 0, tunType: 'ipip', tunPort: 0, tunCsum: 'nocsum' };
        defaultFwd ??= fwd;
        reals.push({ key: k, dest, inhibit_on_failure: o.quiescent, checkers: [checker], at: { file: l.file, line: l.line, col: l.col } });
      }
    }
    let sorry: SorryServerConfig | undefined;
    if (o.fallback) {
      const fl = o.fallback;
      const parts = unquote(fl.value).split(/\s+/);
      const r = parseHostPort(fl, parts[0] ?? '', fl.valueCol, fl.key === 'fallback6', fwmark > 0 ? 0 : spec.port, 'fallback');
      const mtok = parts[1];
      let fwd: FwdMethod = defaultFwd ?? DEFAULTS.ldirectordFwd;
      if (mtok !== undefined) {
        if (METHODS[mtok.toLowerCase()]) fwd = METHODS[mtok.toLowerCase()]!;
        else err(fl, `expected gate|masq|ipip after the fallback address, got '${mtok}'`);
      }
      if (r && r.af === af) {
        const port = fwmark === 0 && (fwd === 'route' || fwd === 'tunnel') ? spec.port : r.port;
        sorry = { addr: r.addr, port, fwd, weight: 1 };
      } else if (r) warn(fl, `fallback ${r.addr} is IPv${r.af}; not used for the IPv${af} service ${key}`);
    }
    // ldirectord says nothing of these: notes.
    if (!reals.length && !sorry) diags.push({ severity: 'warning', file: h.file, line: h.line, col: h.col, message: `virtual service ${key} has no real servers`, ka: 'none' });
    const pos: SourcePos = { file: h.file, line: h.line, col: h.col };
    services.push({
      key, spec, lb_kind: defaultFwd ?? DEFAULTS.ldirectordFwd, delay_loop: o.checkinterval,
      alpha: false, omega: false, quorum: DEFAULTS.quorum, hysteresis: DEFAULTS.hysteresis,
      inhibit_on_failure: o.quiescent, ha_suspend: false,
      ...(o.virtualhost !== undefined ? { virtualhost: o.virtualhost } : {}),
      ...(sorry ? { sorry_server: sorry } : {}),
      sorry_server_inhibit: false, extra, reals, at: pos,
    });
  }
  if (!sections.length) diags.push({ severity: 'warning', file: path, line: 1, col: 0, message: "no 'virtual =' section: nothing to balance", ka: 'none' });
  const hasErrors = diags.some((d) => d.severity === 'error');
  if (hasErrors) stopAtFirstError(diags);
  return {
    state: hasErrors ? null : deepFreeze({
      format: 'ldirectord' as const, files: [path],
      global: { notification_email: options['emailalert'] ? [options['emailalert']] : [], lvs_flush: false, options },
      services, vrrp: emptyVrrp(),
    }),
    diagnostics: sortDiagnostics(diags, [path]),
  };
}
