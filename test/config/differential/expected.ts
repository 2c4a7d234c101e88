/**
 * Known disagreements between tsvs config-test and the real programs, one entry per cause with
 * its reason and its files listed by how they disagree (see Aspect in compare.ts). The
 * differential test fails when a file disagrees without an entry here, when a file listed here
 * disagrees in another way than listed (or agrees: the listing is then stale and must go), and
 * when a pattern matches no file. So this table is always the true list of what the parser work
 * (issue 14) has left to do.
 *
 * `files` holds ids (see corpus.ts) or patterns: `{a,b}` stands for a or b, `*` for any
 * characters but `/`, `**` for any characters. The first entry that matches a file is the one
 * that applies to it. `run.ts --suggest` drafts entries for a run's unlisted files.
 */
import type { Aspect, Row } from './compare.ts';

export type Disagreement = Exclude<Aspect, 'agree'>;

/** One cause of disagreement: why, and the files it explains, listed by how they disagree. */
export interface Expected {
  readonly reason: string;
  readonly files: Readonly<Partial<Record<Disagreement, readonly string[]>>>;
}

export const EXPECTED_DISAGREEMENTS: readonly Expected[] = [
  {
    reason: 'keepalived 2.2.7 -t crashes on this file (segfault, abort or SIGTERM to itself)',
    files: {
      'peer-crash': [
        'ka/from-tests/readers-error-http-get-without-url.conf',
        'ka/from-tests/readers-error-unterminated-quote.conf',
        'ka/semantic/script-security.conf',
        'ka/gen/truncated-half/samples/keepalived.conf.SSL_GET',
        'ka/gen/truncated-mid-word/samples/keepalived.conf.misc_check_arg',
      ],
    },
  },
  {
    reason: 'Scripts without enable_script_security in a file that also has an error: keepalived reports both and exits 6 (the security error wins); config-test refuses the file for the error (exit 1) without checking its scripts.',
    files: {
      'exit': [
        'ka/gen/{oneline-blocks,oneline-file,unknown-keyword-block,misspelt-swapped,truncated-half}/samples/keepalived.conf.vrrp.localcheck',
        'ka/gen/{oneline-blocks,oneline-file}/project/ka-dr-vrrp.conf',
      ],
    },
  },
  {
    reason: 'tsvs refuses what keepalived accepts: an address range over 4096 addresses, a virtual_server naming an undefined group, a virtual server defined twice, an include of a missing file (keepalived warns "Config files missing" and goes on).',
    files: {
      'tsvs-rejects': [
        'ka/from-tests/config-fuzz-group-ranges.conf',
        'ka/from-tests/readers-error-undefined-group.conf',
        'ka/lexical/include-missing.conf',
        'ka/semantic/duplicate-virtual-server.conf',
      ],
    },
  },
  {
    reason: 'tsvs refuses what ldirectord accepts: virtual= without a port, checktype=external without checkcommand, real=192.168.6.2::5060 (the sample\'s SIP service).',
    files: {
      'tsvs-rejects': [
        'ld/samples/sections/section-18-192.168.6.240:5060.cf',
        'ld/from-tests/readers-error-external-without-command.cf',
        'ld/from-tests/readers-error-missing-port.cf',
      ],
    },
  },
  {
    reason: 'The whole file on one line: keepalived starts a keyword only at the start of a line or after a brace, and takes every other word up to the next brace as its arguments, so most keywords are lost (unknown keywords, no VIP, no virtual_router_id); tsvs reads every keyword.',
    files: {
      'problems': [
        'ka/project/seed-003-keepalived.oneline.conf',
        'ka/lexical/instance-oneline.conf',
        'ka/gen/oneline-file/samples/keepalived.conf.SSL_GET',
        'ka/gen/oneline-file/samples/keepalived.conf.conditional_conf',
        'ka/gen/oneline-file/samples/keepalived.conf.sample',
        'ka/gen/oneline-file/samples/keepalived.conf.vrrp',
        'ka/gen/oneline-file/samples/keepalived.conf.vrrp.lvs_syncd',
        'ka/gen/oneline-file/samples/keepalived.conf.vrrp.routes',
        'ka/gen/oneline-file/samples/keepalived.conf.vrrp.rules',
        'ka/gen/oneline-file/samples/keepalived.conf.vrrp.scripts',
        'ka/gen/oneline-file/samples/keepalived.conf.vrrp.static_ipaddress',
        'ka/gen/oneline-file/samples/keepalived.conf.vrrp.sync',
        'ka/gen/oneline-file/project/seed-003-keepalived.conf',
      ],
      'tsvs-accepts': [
        'ka/gen/oneline-file/samples/keepalived.conf.HTTP_GET.port',
        'ka/gen/oneline-file/samples/keepalived.conf.IPv6',
        'ka/gen/oneline-file/samples/keepalived.conf.PING_CHECK',
        'ka/gen/oneline-file/samples/keepalived.conf.SMTP_CHECK',
        'ka/gen/oneline-file/samples/keepalived.conf.UDP_CHECK',
        'ka/gen/oneline-file/samples/keepalived.conf.fwmark',
        'ka/gen/oneline-file/samples/keepalived.conf.inhibit',
        'ka/gen/oneline-file/samples/keepalived.conf.misc_check',
        'ka/gen/oneline-file/samples/keepalived.conf.misc_check_arg',
        'ka/gen/oneline-file/samples/keepalived.conf.quorum',
        'ka/gen/oneline-file/samples/keepalived.conf.status_code',
        'ka/gen/oneline-file/samples/keepalived.conf.track_interface',
        'ka/gen/oneline-file/samples/keepalived.conf.virtual_server_group',
        'ka/gen/oneline-file/samples/keepalived.conf.virtualhost',
        'ka/gen/oneline-file/project/ka-group.conf',
        'ka/gen/oneline-file/project/ka-nat-http.conf',
        'ka/gen/oneline-file/project/ka-tun-fwmark.conf',
      ],
    },
  },
  {
    reason: 'One-line blocks (`authentication { auth_type PASS auth_pass x }`, `virtual_ipaddress { a b }`): inside the braces keepalived takes the first word as the keyword and the rest as its arguments (no password: no authentication; one address with unknown options); tsvs reads every keyword. This is the split brain of issue 14.',
    files: {
      'tsvs-accepts': [
        'ka/lexical/authentication-oneline.conf',
        'ka/lexical/virtual-ipaddress-oneline.conf',
        'ka/gen/oneline-blocks/samples/keepalived.conf.SSL_GET',
        'ka/gen/oneline-blocks/samples/keepalived.conf.fwmark',
        'ka/gen/oneline-blocks/samples/keepalived.conf.sample',
        'ka/gen/oneline-blocks/samples/keepalived.conf.track_interface',
        'ka/gen/oneline-blocks/samples/keepalived.conf.vrrp',
        'ka/gen/oneline-blocks/samples/keepalived.conf.vrrp.lvs_syncd',
        'ka/gen/oneline-blocks/samples/keepalived.conf.vrrp.routes',
        'ka/gen/oneline-blocks/samples/keepalived.conf.vrrp.rules',
        'ka/gen/oneline-blocks/samples/keepalived.conf.vrrp.scripts',
        'ka/gen/oneline-blocks/samples/keepalived.conf.vrrp.static_ipaddress',
        'ka/gen/oneline-blocks/project/ka-group.conf',
        'ka/gen/oneline-blocks/project/ka-nat-http.conf',
        'ka/gen/oneline-blocks/project/seed-003-keepalived.conf',
      ],
      'problems': [
        'ka/gen/oneline-blocks/samples/keepalived.conf.HTTP_GET.port',
        'ka/gen/oneline-blocks/samples/keepalived.conf.IPv6',
        'ka/gen/oneline-blocks/samples/keepalived.conf.SMTP_CHECK',
        'ka/gen/oneline-blocks/samples/keepalived.conf.UDP_CHECK',
        'ka/gen/oneline-blocks/samples/keepalived.conf.conditional_conf',
        'ka/gen/oneline-blocks/samples/keepalived.conf.inhibit',
        'ka/gen/oneline-blocks/samples/keepalived.conf.misc_check',
        'ka/gen/oneline-blocks/samples/keepalived.conf.misc_check_arg',
        'ka/gen/oneline-blocks/samples/keepalived.conf.quorum',
        'ka/gen/oneline-blocks/samples/keepalived.conf.status_code',
        'ka/gen/oneline-blocks/samples/keepalived.conf.virtual_server_group',
        'ka/gen/oneline-blocks/samples/keepalived.conf.virtualhost',
        'ka/gen/oneline-blocks/samples/keepalived.conf.vrrp.sync',
        'ka/gen/oneline-blocks/project/ka-tun-fwmark.conf',
      ],
    },
  },
  {
    reason: 'Keywords are case-sensitive in keepalived (Unknown keyword) and ldirectord (Unknown command); tsvs accepts another case with a warning.',
    files: {
      'tsvs-accepts': [
        'ka/from-tests/readers-warning-case-mismatched-keyword.conf',
        'ka/lexical/misspelt-keywords.conf',
        'ka/gen/misspelt-capitalised/samples/keepalived.conf.IPv6',
        'ka/gen/misspelt-capitalised/samples/keepalived.conf.fwmark',
        'ka/gen/misspelt-capitalised/samples/keepalived.conf.quorum',
        'ka/gen/misspelt-capitalised/samples/keepalived.conf.track_interface',
        'ka/gen/misspelt-capitalised/samples/keepalived.conf.vrrp.lvs_syncd',
        'ka/gen/misspelt-capitalised/samples/keepalived.conf.vrrp.routes',
        'ka/gen/misspelt-capitalised/samples/keepalived.conf.vrrp.rules',
        'ka/gen/misspelt-capitalised/samples/keepalived.conf.vrrp.scripts',
        'ka/gen/misspelt-capitalised/samples/keepalived.conf.vrrp.static_ipaddress',
        'ka/gen/misspelt-capitalised/samples/keepalived.conf.vrrp.sync',
        'ka/gen/misspelt-capitalised/project/ka-dr-vrrp.conf',
        'ka/gen/misspelt-capitalised/project/ka-nat-http.conf',
        'ka/gen/misspelt-capitalised/project/ka-tun-fwmark.conf',
        'ka/gen/misspelt-capitalised/project/seed-003-keepalived.conf',
        'ld/gen/misspelt-capitalised/samples/ldirectord.cf',
        'ld/gen/misspelt-capitalised/project/ld-fwmark-udp.cf',
        'ld/gen/misspelt-capitalised/project/ld-web.cf',
      ],
      'problems': [
        'ka/gen/misspelt-capitalised/samples/keepalived.conf.conditional_conf',
        'ka/gen/misspelt-capitalised/samples/keepalived.conf.vrrp.localcheck',
      ],
    },
  },
  {
    reason: 'Values are case-sensitive in keepalived (lb_algo WRR, lb_kind dr are refused); tsvs accepts another case with a warning.',
    files: {
      'tsvs-accepts': [
        'ka/lexical/misspelt-values.conf',
      ],
    },
  },
  {
    reason: 'Static and virtual routes and rules: keepalived checks them (a route without a device cannot be tracked, a rule without a preference, the malformed rule address 192.168.100./24, deprecated "or"/"gw"); tsvs reads them and applies none (issue 14 item 3).',
    files: {
      'tsvs-accepts': [
        'ka/samples/keepalived.conf.track_interface',
        'ka/samples/keepalived.conf.vrrp.routes',
        'ka/samples/keepalived.conf.vrrp.rules',
        'ka/samples/keepalived.conf.vrrp.static_ipaddress',
        'ka/semantic/route-without-interface.conf',
        'ka/semantic/static-rule-bad-address.conf',
        'ka/gen/{glued-open-brace,glued-close-brace,comments,whitespace,crlf,unknown-keyword-top,unknown-keyword-block,misspelt-swapped,include-glob,conditionals,variables}/samples/keepalived.conf.track_interface',
        'ka/gen/{glued-open-brace,glued-close-brace,comments,whitespace,crlf,unknown-keyword-top,misspelt-swapped,include-glob,conditionals,variables}/samples/keepalived.conf.vrrp.routes',
        'ka/gen/{glued-open-brace,glued-close-brace,comments,whitespace,crlf,unknown-keyword-top,misspelt-swapped,include-glob,conditionals,variables}/samples/keepalived.conf.vrrp.rules',
        'ka/gen/{glued-open-brace,glued-close-brace,comments,whitespace,crlf,unknown-keyword-top,misspelt-swapped,include-glob,conditionals,variables}/samples/keepalived.conf.vrrp.static_ipaddress',
      ],
      'problems': [
        'ka/gen/unknown-keyword-block/samples/keepalived.conf.vrrp.routes',
        'ka/gen/{unknown-keyword-block,truncated-half}/samples/keepalived.conf.vrrp.rules',
        'ka/gen/unknown-keyword-block/samples/keepalived.conf.vrrp.static_ipaddress',
      ],
    },
  },
  {
    reason: 'VRRP checks keepalived makes and tsvs does not (issue 14): AH authentication with initial MASTER, nopreempt with initial MASTER, tracking weights in a sync group, vrrp_strict with authentication, VRRP on lo, vrrp_garp_interval 0.',
    files: {
      'tsvs-accepts': [
        'ka/samples/keepalived.conf.SSL_GET',
        'ka/project/ka-dr-vrrp.conf',
        'ka/semantic/ah-initial-master.conf',
        'ka/semantic/garp-interval-zero.conf',
        'ka/semantic/nopreempt-master.conf',
        'ka/semantic/vrrp-on-lo.conf',
        'ka/semantic/vrrp-strict-pass.conf',
        'ka/gen/{glued-open-brace,glued-close-brace,comments,whitespace,crlf,unknown-keyword-top,unknown-keyword-block,misspelt-capitalised,misspelt-swapped,include-glob,conditionals,variables}/samples/keepalived.conf.SSL_GET',
        'ka/gen/{glued-open-brace,glued-close-brace,comments,whitespace,crlf,unknown-keyword-top,unknown-keyword-block,misspelt-swapped,include-glob,conditionals,variables}/project/ka-dr-vrrp.conf',
      ],
      'problems': [
        'ka/gen/truncated-half/project/ka-dr-vrrp.conf',
        'ka/gen/truncated-mid-word/samples/keepalived.conf.SSL_GET',
      ],
    },
  },
  {
    reason: 'Deprecated syntax keepalived warns on (lvs_sync_daemon_interface in a vrrp_instance) and ldirectord refuses (connecttimeout); tsvs takes it silently.',
    files: {
      'tsvs-accepts': [
        'ka/samples/keepalived.conf.vrrp.lvs_syncd',
        'ld/lexical/connecttimeout-deprecated.cf',
        'ka/gen/{glued-open-brace,glued-close-brace,comments,whitespace,crlf,unknown-keyword-top,unknown-keyword-block,misspelt-swapped,include-glob,conditionals,variables}/samples/keepalived.conf.vrrp.lvs_syncd',
      ],
      'problems': [
        'ka/gen/truncated-half/samples/keepalived.conf.vrrp.lvs_syncd',
      ],
    },
  },
  {
    reason: 'keepalived logs the defaults it applies for a virtual_server without lb_algo or lb_kind (which fails -t); tsvs applies them silently.',
    files: {
      'tsvs-accepts': [
        'ka/from-tests/config-diff-alpha.conf',
        'ka/from-tests/config-diff-sorry.conf',
        'ka/from-tests/readers-warning-dr-port-mismatch-reset.conf',
        'ka/from-tests/readers-warning-duplicate-real-server-removed.conf',
        'ka/from-tests/readers-warning-no-protocol-udp-as-keepalived.conf',
        'ka/from-tests/readers-warning-quorum-above-total-weight.conf',
        'ka/from-tests/readers-warning-unknown-keyword-in-real-server.conf',
        'ka/from-tests/readers-warning-unsupported-file-check.conf',
      ],
      'problems': [
        'ka/from-tests/readers-error-bad-digest.conf',
        'ka/from-tests/readers-error-bad-lb-kind.conf',
        'ka/from-tests/readers-error-weight-not-a-number.conf',
      ],
    },
  },
  {
    reason: 'Values keepalived refuses and tsvs accepts: persistence_timeout 0 (keepalived: 1..2678400), vrrp_script interval 0.5 (keepalived 2.2.7: whole seconds).',
    files: {
      'tsvs-accepts': [
        'ka/project/seed-003-keepalived.conf',
        'ka/gen/{glued-open-brace,glued-close-brace,comments,whitespace,crlf,unknown-keyword-top,unknown-keyword-block,misspelt-swapped,include-glob,conditionals,variables}/project/seed-003-keepalived.conf',
      ],
      'problems': [
        'ka/from-tests/ha-vrrp-tracking.conf',
      ],
    },
  },
  {
    reason: 'ldirectord takes trailing blanks or a carriage return as part of a value (autoreload=yes followed by a blank or \\r is refused); tsvs trims them.',
    files: {
      'tsvs-accepts': [
        'ld/gen/{whitespace,crlf}/samples/ldirectord.cf',
        'ld/gen/{whitespace,crlf}/project/ld-web.cf',
        'ld/gen/{whitespace,crlf}/project/seed-004-ldirectord.cf',
        'ld/gen/crlf/project/seed-001-ldirectord.cf',
      ],
    },
  },
  {
    reason: 'SMTP_CHECK with host blocks: keepalived builds one checker per host; tsvs uses the first host block only and warns (issue 14 item 3).',
    files: {
      'problems': [
        'ka/samples/keepalived.conf.SMTP_CHECK',
        'ka/semantic/smtp-check-hosts.conf',
        'ka/gen/{glued-open-brace,glued-close-brace,comments,whitespace,crlf,unknown-keyword-block,misspelt-capitalised,misspelt-swapped,include-glob,conditionals,variables}/samples/keepalived.conf.SMTP_CHECK',
      ],
      'tsvs-accepts': [
        'ka/gen/unknown-keyword-top/samples/keepalived.conf.SMTP_CHECK',
      ],
    },
  },
  {
    reason: 'ldirectord knows servicename and comment; tsvs warns that they are unknown keywords.',
    files: {
      'problems': [
        'ld/samples/ldirectord.cf',
        'ld/samples/sections/section-01-1.cf',
        'ld/samples/sections/section-02-192.168.6.240:80.cf',
        'ld/samples/sections/section-03-192.168.6.240:443.cf',
        'ld/samples/sections/section-04-192.168.6.240:21.cf',
        'ld/samples/sections/section-05-192.168.6.240:25.cf',
        'ld/samples/sections/section-06-192.168.6.240:587.cf',
        'ld/samples/sections/section-07-192.168.6.240:110.cf',
        'ld/samples/sections/section-08-192.168.6.240:143.cf',
        'ld/samples/sections/section-09-192.168.84.5:389.cf',
        'ld/samples/sections/section-10-192.168.84.5:119.cf',
        'ld/samples/sections/section-11-192.168.84.5:53.cf',
        'ld/samples/sections/section-12-192.168.10.74:3306.cf',
        'ld/samples/sections/section-13-192.168.10.74:5432.cf',
        'ld/samples/sections/section-14-192.168.10.74:1521.cf',
        'ld/samples/sections/section-15-192.168.6.240:23.cf',
        'ld/samples/sections/section-16-192.168.6.240:53.cf',
        'ld/samples/sections/section-17-192.168.6.240:1812.cf',
        'ld/samples/sections/section-19-_2001:db8::5_:119.cf',
        'ld/lexical/servicename-comment.cf',
        'ld/gen/{comments,truncated-half}/samples/ldirectord.cf',
      ],
    },
  },
  {
    reason: 'Unindented ldirectord options after virtual= are unknown commands to ldirectord (it refuses the file); tsvs takes them as part of the virtual section with a warning.',
    files: {
      'tsvs-accepts': [
        'ld/project/seed-004-ldirectord.cf',
        'ld/lexical/unindented-options.cf',
        'ld/gen/{comments,unknown-keyword-top,unknown-keyword-virtual,truncated-half}/project/seed-004-ldirectord.cf',
        'ld/gen/unindented/project/ld-fwmark-udp.cf',
      ],
      'problems': [
        'ld/gen/unindented/project/ld-web.cf',
      ],
    },
  },
  {
    reason: 'ldirectord stops at its first error; tsvs goes on and also reports what follows from it (a virtual section left without real servers).',
    files: {
      'problems': [
        'ld/from-tests/readers-error-bad-method.cf',
        'ld/from-tests/readers-error-not-key-value.cf',
      ],
    },
  },
  {
    reason: 'tsvs warns that a file configures nothing (no virtual section, an empty file); ldirectord is silent.',
    files: {
      'problems': [
        'ld/project/seed-001-ldirectord.cf',
        'ld/from-tests/readers-error-virtual-option-at-top-level.cf',
        'ld/lexical/empty.cf',
        'ld/lexical/no-virtual.cf',
        'ld/gen/{comments,whitespace,truncated-half}/project/seed-001-ldirectord.cf',
      ],
      'tsvs-accepts': [
        'ld/gen/unknown-keyword-top/project/seed-001-ldirectord.cf',
      ],
    },
  },
  {
    reason: 'tsvs warns on words after a keyword\'s arguments (`state BACKUP extra`, an e-mail address cut in two); keepalived ignores them silently.',
    files: {
      'problems': [
        'ka/lexical/extra-arguments.conf',
        'ka/gen/truncated-half/project/seed-003-keepalived.conf',
      ],
    },
  },
  {
    reason: 'An include glob that matches nothing in an existing directory: tsvs warns, keepalived is silent.',
    files: {
      'problems': [
        'ka/lexical/include-glob',
      ],
    },
  },
  {
    reason: 'An unknown keyword with a block at the top level, a stray brace: keepalived also reports the braces (Unexpected \'{\', Unknown keyword \'}\'); tsvs reports the unknown keyword only. keepalived 2.2.7 does not know `~SEQ(N, 11, 13)` with blanks either and reads the real_server after it as unknown; tsvs reads the ~SEQ word as an unknown keyword with the block.',
    files: {
      'tsvs-accepts': [
        'ka/from-tests/readers-warning-unknown-top-level-keyword-with-block.conf',
        'ka/lexical/sequence.conf',
        'ka/lexical/unknown-block-top.conf',
      ],
    },
  },
  {
    reason: 'keepalived -t and ldirectord fail on any logged problem; config-test exits 0 when it only warns (the same problems on both sides).',
    files: {
      'tsvs-accepts': [
        'ka/samples/keepalived.conf.fwmark',
        'ka/project/ka-nat-http.conf',
        'ka/from-tests/readers-warning-virtual-server-without-real-servers.conf',
        'ka/lexical/empty-blocks.conf',
        'ka/lexical/unknown-keyword-top.conf',
        'ld/lexical/unknown-global.cf',
        'ld/lexical/unknown-virtual.cf',
        'ka/gen/{glued-open-brace,glued-close-brace,comments,whitespace,crlf,unknown-keyword-top,unknown-keyword-block,misspelt-swapped,include-glob,conditionals,variables}/samples/keepalived.conf.fwmark',
        'ka/gen/{glued-open-brace,glued-close-brace,comments,whitespace,crlf,unknown-keyword-top,unknown-keyword-block,misspelt-swapped,include-glob,conditionals,variables}/project/ka-nat-http.conf',
        'ka/gen/unknown-keyword-top/samples/keepalived.conf.HTTP_GET.port',
        'ka/gen/{unknown-keyword-top,unknown-keyword-block,misspelt-swapped}/samples/keepalived.conf.IPv6',
        'ka/gen/unknown-keyword-top/samples/keepalived.conf.PING_CHECK',
        'ka/gen/unknown-keyword-top/samples/keepalived.conf.UDP_CHECK',
        'ka/gen/unknown-keyword-top/samples/keepalived.conf.inhibit',
        'ka/gen/unknown-keyword-top/samples/keepalived.conf.misc_check',
        'ka/gen/unknown-keyword-top/samples/keepalived.conf.misc_check_arg',
        'ka/gen/{unknown-keyword-top,unknown-keyword-block,misspelt-swapped}/samples/keepalived.conf.quorum',
        'ka/gen/{unknown-keyword-top,truncated-mid-word}/samples/keepalived.conf.sample',
        'ka/gen/unknown-keyword-top/samples/keepalived.conf.status_code',
        'ka/gen/unknown-keyword-top/samples/keepalived.conf.virtual_server_group',
        'ka/gen/unknown-keyword-top/samples/keepalived.conf.virtualhost',
        'ka/gen/{unknown-keyword-top,truncated-mid-word}/samples/keepalived.conf.vrrp',
        'ka/gen/{unknown-keyword-top,unknown-keyword-block,misspelt-swapped}/samples/keepalived.conf.vrrp.scripts',
        'ka/gen/{unknown-keyword-top,unknown-keyword-block,misspelt-swapped}/samples/keepalived.conf.vrrp.sync',
        'ka/gen/{unknown-keyword-top,unknown-keyword-block}/project/ka-group.conf',
        'ka/gen/{unknown-keyword-top,unknown-keyword-block,misspelt-swapped}/project/ka-tun-fwmark.conf',
        'ld/gen/{unknown-keyword-top,unknown-keyword-virtual}/samples/ldirectord.cf',
        'ld/gen/{unknown-keyword-top,unknown-keyword-virtual}/project/ld-fwmark-udp.cf',
        'ld/gen/{unknown-keyword-top,unknown-keyword-virtual}/project/ld-web.cf',
      ],
    },
  },
  {
    reason: 'config-test reports scripts it cannot find (MISC_CHECK misc_path, notify_* and quorum scripts: "Script ... cannot be accessed", "Disabling misc script ..."); keepalived -t does not: of missing scripts it reports only the tracked vrrp_scripts it disables.',
    files: {
      'problems': [
        'ka/samples/keepalived.conf.misc_check',
        'ka/samples/keepalived.conf.misc_check_arg',
        'ka/samples/keepalived.conf.quorum',
        'ka/samples/keepalived.conf.vrrp.scripts',
        'ka/samples/keepalived.conf.vrrp.sync',
        'ka/project/ka-tun-fwmark.conf',
        'ka/gen/{glued-open-brace,glued-close-brace,comments,whitespace,crlf,unknown-keyword-block,misspelt-capitalised,misspelt-swapped,include-glob,conditionals,variables}/samples/keepalived.conf.misc_check',
        'ka/gen/{glued-open-brace,glued-close-brace,comments,whitespace,crlf,unknown-keyword-block,misspelt-capitalised,misspelt-swapped,include-glob,conditionals,variables}/samples/keepalived.conf.misc_check_arg',
        'ka/gen/{glued-open-brace,glued-close-brace,comments,whitespace,crlf,conditionals,variables}/samples/keepalived.conf.quorum',
        'ka/gen/{glued-open-brace,glued-close-brace,comments,whitespace,crlf,include-glob,conditionals,variables}/samples/keepalived.conf.vrrp.scripts',
        'ka/gen/{glued-open-brace,glued-close-brace,comments,whitespace,crlf,include-glob,conditionals,variables}/samples/keepalived.conf.vrrp.sync',
        'ka/gen/{glued-open-brace,glued-close-brace,comments,whitespace,crlf,include-glob,conditionals,variables}/project/ka-tun-fwmark.conf',
      ],
    },
  },
  {
    reason: 'Truncated files: both refuse; keepalived reports the consequences of the cut (no VIP, sync groups and checkers left half-built) differently from tsvs.',
    files: {
      'problems': [
        'ka/gen/{truncated-half,truncated-mid-word}/samples/keepalived.conf.HTTP_GET.port',
        'ka/gen/truncated-half/samples/keepalived.conf.PING_CHECK',
        'ka/gen/truncated-half/samples/keepalived.conf.UDP_CHECK',
        'ka/gen/truncated-half/samples/keepalived.conf.inhibit',
        'ka/gen/truncated-half/samples/keepalived.conf.misc_check',
        'ka/gen/truncated-half/samples/keepalived.conf.misc_check_arg',
        'ka/gen/{truncated-half,truncated-mid-word}/samples/keepalived.conf.track_interface',
        'ka/gen/{truncated-half,truncated-mid-word}/samples/keepalived.conf.vrrp.scripts',
        'ka/gen/truncated-half/samples/keepalived.conf.vrrp.static_ipaddress',
        'ka/gen/truncated-mid-word/samples/keepalived.conf.fwmark',
        'ka/gen/truncated-mid-word/samples/keepalived.conf.vrrp.sync',
      ],
    },
  },
  {
    reason: 'A virtual_server without its port, or without its block: keepalived reads it as a service with no real servers; tsvs says what is missing.',
    files: {
      'problems': [
        'ka/from-tests/readers-error-block-expected.conf',
        'ka/from-tests/readers-error-missing-port.conf',
      ],
    },
  },
  {
    reason: 'keepalived drops a virtual_server without real servers before it defaults its protocol; tsvs also warns that no protocol is set.',
    files: {
      'problems': [
        'ka/from-tests/readers-error-unknown-scheduler.conf',
      ],
    },
  },
  {
    reason: 'A virtual_router_id keepalived refuses: it also says the id must be set (and checks no VIP of the instance); tsvs says the value is wrong and, for an instance without addresses, that it has no virtual_ipaddress.',
    files: {
      'problems': [
        'ka/from-tests/readers-error-vrid-out-of-range.conf',
        'ka/semantic/numbers-out-of-range.conf',
      ],
    },
  },
  {
    reason: 'A keyword without its value: keepalived stops at the first one (exit 2, "missing a parameter"); tsvs reports each and that the instance has no virtual_router_id.',
    files: {
      'problems': [
        'ka/lexical/missing-values.conf',
      ],
    },
  },
  {
    reason: 'An undefined ${VAR} stays in the text and its braces open a block: keepalived reads the rest of the instance as unknown keywords (no VIP left); tsvs refuses the value and ignores the block.',
    files: {
      'problems': [
        'ka/lexical/variables-undefined.conf',
      ],
    },
  },
  {
    reason: 'vrrp_track_file: keepalived accepts it; tsvs says it does not implement it (issue 14 item 3).',
    files: {
      'problems': [
        'ka/semantic/track-file.conf',
      ],
    },
  },
  {
    reason: 'A word after a tracked script\'s name (`frobnicate_widget 42`): keepalived takes the name and ignores the rest; tsvs also warns that the word is unexpected.',
    files: {
      'problems': [
        'ka/gen/unknown-keyword-block/samples/keepalived.conf.conditional_conf',
      ],
    },
  },
  {
    reason: 'ldirectord reads checktype=N (negotiate every Nth check) silently; tsvs warns that it checks with negotiate every time.',
    files: {
      'problems': [
        'ld/lexical/checktype-number.cf',
      ],
    },
  },
];

export function patternRe(p: string): RegExp {
  let re = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '*' && p[i + 1] === '*') { re += '.*'; i++; }
    else if (c === '*') re += '[^/]*';
    else if (c === '{') re += '(?:';
    else if (c === '}') re += ')';
    else if (c === ',') re += '|';
    else re += c.replace(/[.+?^$()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

export interface Check {
  /** Files that disagree with no entry. */
  readonly unlisted: readonly Row[];
  /** Files listed under another aspect than theirs (an agreeing file that is listed is here too). */
  readonly changed: readonly { row: Row; listed: Disagreement; entry: Expected }[];
  /** Patterns that match no file, with their entry. */
  readonly unused: readonly { pattern: string; entry: Expected }[];
}

export function checkExpected(rows: readonly Row[], table: readonly Expected[] = EXPECTED_DISAGREEMENTS): Check {
  const pats = table.flatMap((entry) => Object.entries(entry.files).flatMap(([aspect, ps]) =>
    (ps ?? []).map((pattern) => ({ entry, aspect: aspect as Disagreement, pattern, re: patternRe(pattern), used: false }))));
  const unlisted: Row[] = [];
  const changed: { row: Row; listed: Disagreement; entry: Expected }[] = [];
  for (const r of rows) {
    const p = pats.find((x) => x.re.test(r.id));
    if (p) {
      p.used = true;
      if (p.aspect !== r.aspect) changed.push({ row: r, listed: p.aspect, entry: p.entry });
    } else if (r.aspect !== 'agree') unlisted.push(r);
  }
  return { unlisted, changed, unused: pats.filter((x) => !x.used).map(({ pattern, entry }) => ({ pattern, entry })) };
}
