/**
 * Drafts expected-disagreements entries for the files a run found unlisted or changed
 * (`run.ts --suggest`): files grouped by how they disagree and why, the why put together from
 * the phrases below, file lists compressed with {a,b} alternatives. Paste the draft into
 * expected.ts and read every reason before committing it: the phrases say what is known of each
 * problem kind, not what a given file needs.
 */
import type { Aspect, Row } from './compare.ts';

/** Why the peer reports a kind tsvs does not. */
const PEER_ONLY: Readonly<Record<string, string>> = {
  'route-no-interface': 'keepalived warns that a route without a device cannot be tracked; tsvs reads static/virtual routes and does not apply them',
  'rule-no-preference': 'keepalived warns on a rule without a preference; tsvs reads rules and does not apply them',
  'ah-initial-master': 'keepalived refuses initial state MASTER with AH authentication; tsvs does not check it',
  'script-security': 'scripts configured without enable_script_security: keepalived -t says SECURITY VIOLATION (exit 6); tsvs does not check script security',
  deprecated: 'keepalived warns on deprecated syntax (lvs_sync_daemon_interface in vrrp_instance, "or"/"gw" in routes, connecttimeout) that tsvs takes silently',
  'nopreempt-master': 'keepalived clears nopreempt on an initial MASTER and warns; tsvs does not',
  'sync-group-tracking': 'keepalived ignores tracking weights of instances in a sync group and warns; tsvs does not',
  'bad-address': 'an address keepalived refuses (e.g. rule address 192.168.100./24) is accepted by tsvs',
  'bad-value': 'a value keepalived refuses (persistence_timeout 0, vrrp_script interval 0.5, vrrp_garp_interval 0, lb_algo WRR, ldirectord values with trailing blanks) is accepted by tsvs',
  'no-scheduler': 'no lb_algo: keepalived logs that it defaults (which fails -t); tsvs defaults silently',
  'no-lb-kind': 'no lb_kind: keepalived logs that it defaults to NAT (which fails -t); tsvs defaults silently',
  'no-protocol': 'no protocol: keepalived logs that it defaults to UDP; tsvs does not here',
  'auth-no-password': 'a one-line authentication block: keepalived reads its first keyword only (no password: no authentication); tsvs reads the whole block',
  'ip-option-unknown': 'a one-line virtual_ipaddress / static_ipaddress block: keepalived reads the line as one address with options; tsvs reads every address',
  'unknown-keyword': 'keepalived/ldirectord reads a keyword as unknown (case-sensitive keywords, a keyword after a one-line block, an unindented ldirectord option) where tsvs does not',
  'unexpected-brace': 'keepalived reports a brace tsvs takes in its stride (an unknown keyword with a block, a brace read as a keyword)',
  'unclosed-block': 'keepalived counts braces left open where tsvs does not',
  'strict-mode': 'vrrp_strict with authentication: keepalived drops the authentication and warns; tsvs does not check vrrp_strict',
  'vrrp-on-lo': 'VRRP on lo: keepalived refuses it; tsvs does not check',
  'missing-interface': 'keepalived reports an interface that does not exist (lo for VRRP, a tracked name that is not one)',
  'track-file-unknown': 'a FILE_CHECK without track_file: keepalived reports it; tsvs does not support FILE_CHECK',
  'track-script-unknown': 'keepalived reports a tracked script that is not defined; tsvs does not here',
  'vrrp-script-no-script': 'keepalived removes a vrrp_script without a script; tsvs does not here',
  'vrrp-no-vrid': 'keepalived says the virtual router id must be set; tsvs does not here',
  'vrrp-no-vip': 'keepalived says no VIP is specified; tsvs does not here',
  'vsg-empty': 'keepalived removes an empty virtual_server_group; tsvs does not here',
  'sync-group-small': 'keepalived reports a sync group left with fewer than two instances; tsvs does not here',
  'no-real-servers': 'keepalived drops a virtual server without real servers with a message; tsvs does not here',
  'sorry-server-family': 'keepalived drops a sorry server of the other family; tsvs does not here',
};

/** Why tsvs reports a kind the peer does not. */
const TSVS_ONLY: Readonly<Record<string, string>> = {
  'unknown-keyword': 'tsvs reads as unknown a keyword the peer knows (ldirectord servicename/comment)',
  'keyword-case-accepted': 'tsvs accepts a keyword in the wrong case with a warning; the peer reads it as unknown',
  'value-case-accepted': 'tsvs accepts a value in the wrong case with a warning; keepalived refuses it',
  'unindented-accepted': 'tsvs takes an unindented ldirectord option as part of the virtual section; ldirectord says unknown command',
  'extra-argument': 'tsvs warns on extra words after a keyword\'s arguments (one-line blocks among them); keepalived ignores them silently',
  'include-missing': 'tsvs warns on an include glob that matches nothing; keepalived does not when the directory exists',
  'smtp-host-ignored': 'tsvs builds one SMTP checker from the first host block only (and warns); keepalived builds one per host',
  deprecated: 'tsvs warns on deprecated syntax keepalived takes silently (SMTP_CHECK host blocks, nb_get_retry)',
  'no-protocol': 'tsvs warns on a virtual server without protocol; keepalived drops it first (no real servers) or says nothing',
  'vrrp-no-interface': 'tsvs warns on a vrrp_instance without interface; keepalived does not',
  'vrrp-no-vip': 'tsvs warns on a vrrp_instance without virtual_ipaddress where keepalived does not',
  'vrrp-no-vrid': 'tsvs says virtual_router_id is missing where keepalived stops earlier or says otherwise',
  'vrid-conflict': 'tsvs refuses two instances with one virtual_router_id on one interface; keepalived does not check it',
  'range-too-large': 'tsvs refuses an address range over 4096 addresses; keepalived accepts it',
  'vsg-undefined': 'tsvs refuses a virtual_server naming an undefined group; keepalived accepts the file',
  'duplicate-virtual-server': 'tsvs refuses a virtual server defined twice; keepalived accepts it',
  'no-services': 'tsvs warns that nothing is configured; the peer is silent',
  'tsvs-unsupported': 'tsvs says it does not implement a keyword keepalived accepts (vrrp_track_file, FILE_CHECK)',
  'track-option': 'tsvs warns on an unexpected word in track_script / track_interface where keepalived says nothing or otherwise',
  'track-script-unknown': 'tsvs reports a tracked script that is not defined where keepalived says otherwise',
  'sync-group-small': 'tsvs warns on a sync group with fewer than two instances where keepalived does not',
  'sync-group-unknown-instance': 'tsvs reports a sync group member that is not defined where keepalived does not',
  'fwmark-protocol-ignored': 'tsvs warns on protocol in a fwmark service where keepalived (cut short) does not',
  'no-real-servers': 'tsvs reports a service without real servers where the peer does not',
  'missing-value': 'tsvs says a value is missing where the peer reads the line otherwise',
  'bad-value': 'tsvs refuses or warns on a value the peer accepts (ldirectord checktype=N, external without checkcommand)',
  'bad-address': 'tsvs refuses an address the peer accepts (ldirectord 192.168.6.2::5060)',
};

const ASPECT_WHY: Readonly<Record<Exclude<Aspect, 'agree'>, string>> = {
  'tsvs-accepts': 'the peer fails its check on any logged problem; config-test exits 0 on warnings',
  'tsvs-rejects': 'tsvs refuses what the peer accepts',
  exit: 'both refuse with other exit codes',
  problems: 'both give the same verdict; the problems differ',
};

const strip = (k: string): string => k.replace(/@\d+$/, '');
const peerHas = (r: Row, ...ks: string[]): boolean => r.peerOnly.some((k) => ks.includes(strip(k)));
const tsvsHas = (r: Row, ...ks: string[]): boolean => r.tsvsOnly.some((k) => ks.includes(strip(k)));

/**
 * Causes, most telling first: a file goes to the first cause that fits it. Each is one entry of
 * the expected table (its files listed by aspect).
 */
export const CAUSES: readonly { readonly reason: string; readonly fits: (r: Row) => boolean }[] = [
  {
    reason: 'keepalived 2.2.7 -t dies of a signal on this file (a refusal) and tsvs accepts it, or does not say what keepalived said before it died.',
    fits: (r) => r.peerVerdict === 'crash',
  },
  {
    reason: 'Scripts without enable_script_security in a file that also has an error: keepalived reports both and exits 6 (the security error wins); config-test refuses the file for the error (exit 1) without checking its scripts.',
    fits: (r) => r.aspect === 'exit' && peerHas(r, 'script-security'),
  },
  {
    reason: 'tsvs refuses what keepalived accepts: an address range over 4096 addresses, a virtual_server naming an undefined group, a virtual server defined twice, an include of a missing file (keepalived warns "Config files missing" and goes on).',
    fits: (r) => r.reader === 'keepalived' && r.aspect === 'tsvs-rejects',
  },
  {
    reason: 'tsvs refuses what ldirectord accepts: virtual= without a port, checktype=external without checkcommand, real=192.168.6.2::5060 (the sample\'s SIP service).',
    fits: (r) => r.reader === 'ldirectord' && r.aspect === 'tsvs-rejects',
  },
  {
    reason: 'The whole file on one line: keepalived starts a keyword only at the start of a line or after a brace, and takes every other word up to the next brace as its arguments, so most keywords are lost (unknown keywords, no VIP, no virtual_router_id); tsvs reads every keyword.',
    fits: (r) => r.id.includes('/gen/oneline-file/') || /seed-003-keepalived\.oneline\.conf$|\/instance-oneline\.conf$/.test(r.id),
  },
  {
    reason: 'One-line blocks (`authentication { auth_type PASS auth_pass x }`, `virtual_ipaddress { a b }`): inside the braces keepalived takes the first word as the keyword and the rest as its arguments (no password: no authentication; one address with unknown options); tsvs reads every keyword. This is the split brain of issue 14.',
    fits: (r) => r.id.includes('/gen/oneline-blocks/') || peerHas(r, 'auth-no-password', 'ip-option-unknown'),
  },
  {
    reason: 'Keywords are case-sensitive in keepalived (Unknown keyword) and ldirectord (Unknown command); tsvs accepts another case with a warning.',
    fits: (r) => tsvsHas(r, 'keyword-case-accepted'),
  },
  {
    reason: 'Values are case-sensitive in keepalived (lb_algo WRR, lb_kind dr are refused); tsvs accepts another case with a warning.',
    fits: (r) => tsvsHas(r, 'value-case-accepted'),
  },
  {
    reason: 'Static and virtual routes and rules: keepalived checks them (a route without a device cannot be tracked, a rule without a preference, the malformed rule address 192.168.100./24, deprecated "or"/"gw"); tsvs reads them and applies none (issue 14 item 3).',
    fits: (r) => peerHas(r, 'route-no-interface', 'rule-no-preference') || (peerHas(r, 'bad-address') && /rules|static-rule/.test(r.id)),
  },
  {
    reason: 'VRRP checks keepalived makes and tsvs does not (issue 14): AH authentication with initial MASTER, nopreempt with initial MASTER, tracking weights in a sync group, vrrp_strict with authentication, VRRP on lo, vrrp_garp_interval 0.',
    fits: (r) => peerHas(r, 'ah-initial-master', 'nopreempt-master', 'sync-group-tracking', 'strict-mode', 'vrrp-on-lo') || r.id.endsWith('garp-interval-zero.conf'),
  },
  {
    reason: 'Deprecated syntax keepalived warns on (lvs_sync_daemon_interface in a vrrp_instance) and ldirectord refuses (connecttimeout); tsvs takes it silently.',
    fits: (r) => peerHas(r, 'deprecated'),
  },
  {
    reason: 'keepalived logs the defaults it applies for a virtual_server without lb_algo or lb_kind (which fails -t); tsvs applies them silently.',
    fits: (r) => peerHas(r, 'no-scheduler', 'no-lb-kind'),
  },
  {
    reason: 'Values keepalived refuses and tsvs accepts: persistence_timeout 0 (keepalived: 1..2678400), vrrp_script interval 0.5 (keepalived 2.2.7: whole seconds).',
    fits: (r) => r.reader === 'keepalived' && peerHas(r, 'bad-value'),
  },
  {
    reason: 'ldirectord takes trailing blanks or a carriage return as part of a value (autoreload=yes followed by a blank or \\r is refused); tsvs trims them.',
    fits: (r) => r.reader === 'ldirectord' && peerHas(r, 'bad-value'),
  },
  {
    reason: 'SMTP_CHECK with host blocks: keepalived builds one checker per host; tsvs uses the first host block only and warns (issue 14 item 3).',
    fits: (r) => tsvsHas(r, 'smtp-host-ignored'),
  },
  {
    reason: 'ldirectord knows servicename and comment; tsvs warns that they are unknown keywords.',
    fits: (r) => r.reader === 'ldirectord' && tsvsHas(r, 'unknown-keyword') && r.aspect === 'problems',
  },
  {
    reason: 'Unindented ldirectord options after virtual= are unknown commands to ldirectord (it refuses the file); tsvs takes them as part of the virtual section with a warning.',
    fits: (r) => tsvsHas(r, 'unindented-accepted'),
  },
  {
    reason: 'ldirectord stops at its first error; tsvs goes on and also reports what follows from it (a virtual section left without real servers).',
    fits: (r) => r.reader === 'ldirectord' && r.aspect === 'problems' && tsvsHas(r, 'no-real-servers'),
  },
  {
    reason: 'tsvs warns that a file configures nothing (no virtual section, an empty file); ldirectord is silent.',
    fits: (r) => tsvsHas(r, 'no-services'),
  },
  {
    reason: 'tsvs warns on words after a keyword\'s arguments (`state BACKUP extra`, an e-mail address cut in two); keepalived ignores them silently.',
    fits: (r) => tsvsHas(r, 'extra-argument'),
  },
  {
    reason: 'An include glob that matches nothing in an existing directory: tsvs warns, keepalived is silent.',
    fits: (r) => tsvsHas(r, 'include-missing'),
  },
  {
    reason: 'An unknown keyword with a block at the top level, a stray brace: keepalived also reports the braces (Unexpected \'{\', Unknown keyword \'}\'); tsvs reports the unknown keyword only. keepalived 2.2.7 does not know `~SEQ(N, 11, 13)` with blanks either and reads the real_server after it as unknown; tsvs reads the ~SEQ word as an unknown keyword with the block.',
    fits: (r) => peerHas(r, 'unexpected-brace', 'unclosed-block') && !r.id.includes('/gen/truncated-') && !r.id.endsWith('variables-undefined.conf'),
  },
  {
    reason: 'keepalived -t and ldirectord fail on any logged problem; config-test exits 0 when it only warns (the same problems on both sides).',
    fits: (r) => r.aspect === 'tsvs-accepts' && !r.peerOnly.length,
  },
  {
    reason: 'config-test reports scripts it cannot find (MISC_CHECK misc_path, notify_* and quorum scripts: "Script ... cannot be accessed", "Disabling misc script ..."); keepalived -t does not: of missing scripts it reports only the tracked vrrp_scripts it disables.',
    fits: (r) => tsvsHas(r, 'script-not-found'),
  },
  {
    reason: 'Truncated files: both refuse; keepalived reports the consequences of the cut (no VIP, sync groups and checkers left half-built) differently from tsvs.',
    fits: (r) => r.id.includes('/gen/truncated-'),
  },
  {
    reason: 'A virtual_server without its port, or without its block: keepalived reads it as a service with no real servers; tsvs says what is missing.',
    fits: (r) => r.id.endsWith('readers-error-block-expected.conf') || r.id.endsWith('readers-error-missing-port.conf'),
  },
  {
    reason: 'keepalived drops a virtual_server without real servers before it defaults its protocol; tsvs also warns that no protocol is set.',
    fits: (r) => r.id.endsWith('readers-error-unknown-scheduler.conf'),
  },
  {
    reason: 'A virtual_router_id keepalived refuses: it also says the id must be set (and checks no VIP of the instance); tsvs says the value is wrong and, for an instance without addresses, that it has no virtual_ipaddress.',
    fits: (r) => r.id.endsWith('readers-error-vrid-out-of-range.conf') || r.id.endsWith('numbers-out-of-range.conf'),
  },
  {
    reason: 'A keyword without its value: keepalived stops at the first one (exit 2, "missing a parameter"); tsvs reports each and that the instance has no virtual_router_id.',
    fits: (r) => r.id.endsWith('missing-values.conf'),
  },
  {
    reason: 'An undefined ${VAR} stays in the text and its braces open a block: keepalived reads the rest of the instance as unknown keywords (no VIP left); tsvs refuses the value and ignores the block.',
    fits: (r) => r.id.endsWith('variables-undefined.conf'),
  },
  {
    reason: 'vrrp_track_file: keepalived accepts it; tsvs says it does not implement it (issue 14 item 3).',
    fits: (r) => tsvsHas(r, 'tsvs-unsupported') && r.aspect === 'problems',
  },
  {
    reason: 'A word after a tracked script\'s name (`frobnicate_widget 42`): keepalived takes the name and ignores the rest; tsvs also warns that the word is unexpected.',
    fits: (r) => tsvsHas(r, 'track-option'),
  },
];

export function reasonOf(r: Row): string {
  const c = CAUSES.find((x) => x.fits(r));
  if (c) return c.reason;
  const parts = [ASPECT_WHY[r.aspect as Exclude<Aspect, 'agree'>]];
  for (const k of r.peerOnly.map(strip)) parts.push(PEER_ONLY[k] ?? `${k}: said by the peer only`);
  for (const k of r.tsvsOnly.map(strip)) parts.push(TSVS_ONLY[k] ?? `${k}: said by tsvs only`);
  return parts.join('; ') + '.';
}

/** ka/gen/T/BASE ids of one BASE folded into ka/gen/{T1,T2}/BASE. */
export function compress(ids: readonly string[]): string[] {
  const byBase = new Map<string, string[]>();
  const plain: string[] = [];
  for (const id of ids) {
    const m = /^(ka|ld)\/gen\/([^/]+)\/(.*)$/.exec(id);
    if (!m) { plain.push(id); continue; }
    const key = `${m[1]}/gen/\u0000/${m[3]}`;
    byBase.set(key, [...(byBase.get(key) ?? []), m[2]!]);
  }
  const out = [...plain];
  for (const [key, ts] of byBase) out.push(key.replace('\u0000', ts.length > 1 ? `{${ts.join(',')}}` : ts[0]!));
  return out;
}

const quote = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** TypeScript source of the entries for `rows` (those not agreeing): one per reason, files by aspect. */
export function suggest(rows: readonly Row[]): string {
  const groups = new Map<string, Map<string, string[]>>();
  for (const r of rows) {
    if (r.aspect === 'agree') continue;
    const reason = reasonOf(r);
    const g = groups.get(reason) ?? new Map<string, string[]>();
    g.set(r.aspect, [...(g.get(r.aspect) ?? []), r.id]);
    groups.set(reason, g);
  }
  const rank = (reason: string): number => { const i = CAUSES.findIndex((c) => c.reason === reason); return i < 0 ? CAUSES.length : i; };
  const out: string[] = [];
  for (const [reason, g] of [...groups].sort((a, b) => rank(a[0]) - rank(b[0]))) {
    const files = [...g].map(([aspect, ids]) => `      '${aspect}': [\n${compress(ids).map((f) => `        '${f}',`).join('\n')}\n      ],`);
    out.push(`  {\n    reason: ${quote(reason)},\n    files: {\n${files.join('\n')}\n    },\n  },`);
  }
  return out.join('\n') + '\n';
}
