/**
 * Problems matched by meaning: each program's messages are mapped to one vocabulary of problem
 * kinds, so "Unknown keyword 'priorty'" (keepalived) and "unknown keyword 'priorty' in
 * vrrp_instance; ignored" (tsvs) count as the same problem while the words differ. The first
 * matching row wins. A message no row matches becomes kind `?: <text>`: it shows up as a
 * difference and asks for a row here.
 *
 * Kinds said by one program only (keepalived's `route-no-interface`, tsvs's `tsvs-unsupported`,
 * ...) are kept: they are what the parser work has to add or drop.
 */
import type { Message } from './oracles.ts';

type Row = readonly [RegExp, string];

/** Script checks (keepalived's check_script_secure; tsvs says them in keepalived's words). */
const SCRIPT_ROWS: readonly Row[] = [
  [/Disabling (?:track|misc) script .* since not found|Cannot find script .* in path - disabling|cannot be accessed - No such file|Unable to access script/, 'script-not-found'],
  [/due to insecure|is (?:world|group) writable|resolves to /, 'script-insecure'],
  [/Invalid user\/group|Failed to set uid\/gid|Unable to set uid\/gid|Unable to set default user|Failed to set default user|Error setting global script uid|Script user '.*' does not exist/, 'script-user'],
];

/** keepalived 2.2.7 -t messages (see keepalived's report_config_error and log_message calls). */
export const KEEPALIVED_KINDS: readonly Row[] = [
  [/^Please use global lvs_sync_daemon$/, ''], // second line of the lvs_sync_daemon_interface message
  [/^free\(\): invalid pointer$/, ''], // keepalived's own crash, reported as the crash verdict
  // Said of no sorry server (the empty name): after alloc_vs refused the virtual server's address,
  // vs_end_handler (check_parser.c) takes the empty list's head for a virtual server and reads
  // garbage; keepalived aborts right after (free(): invalid pointer). Not a problem of the file.
  [/^Address family of virtual server and sorry server  don't match - skipping sorry server\.$/, ''],
  [/^Unknown keyword '[{}]'$/, 'unexpected-brace'], // a stray brace is read as a keyword
  [/^Unknown keyword '/, 'unknown-keyword'],
  [/^There are \d+ missing '}'s or extra '{'s$/, 'unclosed-block'],
  [/^Unexpected '\{' - ignoring$|^Extra '}' found$/, 'unexpected-brace'],
  [/^Unterminated quote|^Unmatched quote|missing terminating "$/, 'unterminated-quote'],
  [/^\*\*\* Configuration line starting .* is missing a parameter/, 'missing-value'],
  [/^Missing '\{' at beginning of configuration block$|^'\{' missing from beginning of block/, 'missing-brace'],
  [/^Config files missing /, 'include-missing'],
  [/^VRRP parsed invalid IP |^Invalid rule (?:to|from) address |^Invalid virtual server (?:group )?IP address|^Invalid real server ip address/, 'bad-address'],
  [/^Unknown configuration entry '.*' for ip address - ignoring$/, 'ip-option-unknown'],
  [/is deprecated/, 'deprecated'],
  [/has no real servers - ignoring$/, 'no-real-servers'],
  [/no protocol set - defaulting to UDP$/, 'no-protocol'],
  [/no scheduler set, setting default/, 'no-scheduler'],
  [/no forwarding method set, setting default/, 'no-lb-kind'],
  [/protocol specified for fwmark - protocol will be ignored$/, 'fwmark-protocol-ignored'],
  [/^Warning - quorum \d+ for .* exceeds total weight/, 'quorum-reduced'],
  [/ports don't match - resetting$/, 'port-mismatch'],
  [/is duplicated - removing second rs$/, 'duplicate-real-server'],
  [/No VIP specified/, 'vrrp-no-vip'],
  [/the virtual router id must be set$/, 'vrrp-no-vrid'],
  [/^Virtual router .* specified in sync group .* doesn't exist - ignoring$/, 'sync-group-unknown-instance'],
  [/^Sync group .* (?:has no virtual router|has only \d+ virtual router|no matching virtual router found)/, 'sync-group-small'],
  [/track script .* not found, ignoring/, 'track-script-unknown'],
  [/^No script set for vrrp_script .* - removing$/, 'vrrp-script-no-script'],
  [/checker (?:has no urls specified|url has no path)/, 'checker-no-url'],
  [/^FILE_CHECK has no track_file|^track_file .* not found$/, 'track-file-unknown'],
  [/unknown track_script .* weight option|unknown track_interace .* weight option|unknown track script option/, 'track-option'],
  [/ignoring .* due to SYNC group$/, 'sync-group-tracking'],
  [/^Warning - cannot track route .* with no interface specified/, 'route-no-interface'],
  [/^Rule has no preference specified/, 'rule-no-preference'],
  [/Authentication specified but no password given/, 'auth-no-password'],
  [/Initial state master is incompatible with AH authentication/, 'ah-initial-master'],
  [/nopreempt will not work with initial state MASTER/, 'nopreempt-master'],
  [/Strict mode does not support authentication/, 'strict-mode'],
  [/^SECURITY VIOLATION/, 'script-security'],
  ...SCRIPT_ROWS,
  [/cannot use a loopback interface/, 'vrrp-on-lo'],
  [/doesn't exist$|^Non-existent interface|Unknown interface!$/, 'missing-interface'],
  [/^Cannot specify ipaddress device more than once/, 'ip-option-unknown'],
  [/^virtual server group .* has no entries - removing$/, 'vsg-empty'],
  [/^Address family of virtual server and sorry server +don't match/, 'sorry-server-family'],
  [/^\(.*\): fwmark .* family .* unknown - ignoring$/, 'bad-value'],
  [/^PARSER : unknown \[.*\] routing method|^Invalid lvs_scheduler|outside range|^invalid number|^negative number|persistence_timeout invalid|not valid|invalid - ignoring|is invalid$|^Invalid hex string|^digest .* character length|^Invalid scope|must be between/, 'bad-value'],
];

/** ldirectord 4.12 (config_error / config_warn texts). */
export const LDIRECTORD_KINDS: readonly Row[] = [
  [/^Unknown command /, 'unknown-keyword'],
  [/^duplicate virtual server$/, 'duplicate-virtual-server'],
  [/deprecated/, 'deprecated'],
  [/^invalid address .*could not resolve host|^invalid address for virtual service$/, 'bad-address'],
  [/must be |^invalid /, 'bad-value'],
];

/** tsvs config-test diagnostics ("error: ..." / "warning: ..."), both readers. */
export const TSVS_KINDS: Row[] = [
  // keyword level
  [/^warning: keyword '.*' is spelled '.*'|^warning: keyword '.*' accepted as '/, 'keyword-case-accepted'],
  [/^warning: unknown (?:global )?keyword |^warning: '.*' is not a keepalived keyword|^error: '.*' belongs in a virtual section/, 'unknown-keyword'],
  [/is obsolete .*; ignored$/, 'unknown-keyword'], // keepalived 2.2.7 reads nat_mask and the like as unknown keywords
  [/^error: expected 'keyword = value', got /, 'unknown-keyword'], // ldirectord: Unknown command
  [/^warning: '.*' is not indented; taken as part of the virtual section/, 'unindented-accepted'],
  [/^warning: unexpected argument '.*' to '.*'; ignored$|^warning: trailing text .* ignored$/, 'extra-argument'],
  [/^warning: unexpected block after |^error: unexpected '}'/, 'unexpected-brace'],
  [/^error: unexpected end of file: expected '}'/, 'unclosed-block'],
  [/^error: unterminated quoted string/, 'unterminated-quote'],
  [/^warning: include '.*' matches no file$|^error: cannot read included file /, 'include-missing'],
  [/ deprecated/, 'deprecated'],
  [/SECURITY VIOLATION/, 'script-security'],
  ...SCRIPT_ROWS,
  [/is not supported|is accepted but not implemented/, 'tsvs-unsupported'],
  [/^warning: only the first 'host' block of SMTP_CHECK/, 'smtp-host-ignored'],
  [/accepted as '/, 'value-case-accepted'],
  // services
  [/has no real servers/, 'no-real-servers'],
  [/no 'protocol' set; UDP is used/, 'no-protocol'],
  [/^warning: protocol specified for a fwmark service; ignored$/, 'fwmark-protocol-ignored'],
  [/^warning: quorum \d+ of .* exceeds the total weight/, 'quorum-reduced'],
  [/cannot change ports; \d+ is used$/, 'port-mismatch'],
  [/^warning: real server .* is duplicated in /, 'duplicate-real-server'],
  [/is defined twice/, 'duplicate-virtual-server'],
  [/^error: virtual_server_group '.*' is not defined$/, 'vsg-undefined'],
  [/^warning: virtual_server_group '.*' is empty$/, 'vsg-empty'],
  [/needs at least one 'url|^error: expected 'path' in url block$/, 'checker-no-url'],
  [/^warning: fallback .* is IPv\d; not used for the IPv\d service/, 'sorry-server-family'],
  [/^warning: no 'virtual =' section: nothing to balance$/, 'no-services'],
  [/^warning: the configuration is empty$/, 'no-services'],
  // vrrp
  [/has no virtual_ipaddress$/, 'vrrp-no-vip'],
  [/^error: vrrp_instance .*: expected 'virtual_router_id|^error: expected a virtual router id after/, 'vrrp-no-vrid'],
  [/has no 'interface'; the default interface will be used$/, 'vrrp-no-interface'],
  [/uses virtual_router_id \d+ on .*, already used by /, 'vrid-conflict'],
  [/^warning: vrrp_sync_group .* names instance '.*' which is not defined/, 'sync-group-unknown-instance'],
  [/^warning: vrrp_sync_group .* has fewer than \d+ instances$/, 'sync-group-small'],
  [/tracks script '.*' which is not defined/, 'track-script-unknown'],
  [/^error: vrrp_script .* needs 'script'$/, 'vrrp-script-no-script'],
  [/^warning: unexpected '.*' in track_(?:script|interface); ignored$/, 'track-option'],
  // values
  [/^error: expected 'IP PORT', 'IP-RANGE PORT' or 'fwmark N' in virtual_server_group/, 'bad-address'], // keepalived: Invalid virtual server group IP address
  [/^error: expected an address|^error: expected the real server address|^error: expected an IPv\d range like|^error: real: expected IP:port|host name '.*' is not resolved/, 'bad-address'],
  [/^error: expected .* after '|^error: virtual: expected '.*' after /, 'missing-value'],
  [/^error: address range .* is too large/, 'range-too-large'],
  [/^error: expected |^error: bad address range |^error: protocol = fwm needs|^error: checktype = external needs|^warning: checktype = \d+ /, 'bad-value'],
];

/**
 * tsvs config-test says keepalived.conf and ldirectord.cf problems in the peers' own words
 * (issue 14 item 2), so their rows apply to its messages too (after the "error: " / "warning: "
 * it adds); they come after TSVS_KINDS' own rows.
 */
TSVS_KINDS.push(...[...KEEPALIVED_KINDS, ...LDIRECTORD_KINDS].map(([re, kind]): Row => [new RegExp(re.source.replace(/(^|\|)\^/g, '$1^(?:error|warning): '), re.flags), kind]));

/** The kinds of a program's messages (a set: the same problem said twice counts once). */
export function kindsOf(messages: readonly Message[], table: readonly Row[]): Map<string, Message[]> {
  const out = new Map<string, Message[]>();
  for (const m of messages) {
    const row = table.find(([re]) => re.test(m.text));
    const kind = row ? row[1] : `?: ${m.text.slice(0, 70)}`;
    if (kind === '') continue;
    out.set(kind, [...(out.get(kind) ?? []), m]);
  }
  return out;
}
