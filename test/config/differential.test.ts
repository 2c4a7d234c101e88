/**
 * Differential tests (issue 14 item 1): the corpus (differential/corpus.ts) read by Debian's
 * keepalived 2.2.7 (`keepalived -t`, in a namespace with the interfaces the files name) and
 * ldirectord 4.12 (`ldirectord -d FILE status`), and by `tsvs config-test`. Every file agrees
 * (verdict, exit code through TSVS_EXIT_FOR, problems by kind) or is listed, with its reason, in
 * differential/expected.ts; a listed file that starts to agree fails too, so that table stays the
 * true list of what is left. Where keepalived -t 2.2.7 dies of its script_user bug (SIGTERM on a
 * non-root script user, fixed in 2.2.8), the running 2.2.7 daemon is the oracle
 * (differential/daemon-oracle.ts). The full per-file table is written to the report named below;
 * `node --import tsx test/config/differential/run.ts` prints it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compare, renderSummary, renderTable, TSVS_EXIT_FOR, type Row } from './differential/compare.ts';
import { buildCorpus } from './differential/corpus.ts';
import { checkExpected, EXPECTED_DISAGREEMENTS, patternRe, type Expected } from './differential/expected.ts';
import { readByDaemon, scriptUserBugHits, scriptUsersOf } from './differential/daemon-oracle.ts';
import { cannotRun, runDifferential } from './differential/harness.ts';
import { CONFIG_ID, KILLED, KeepalivedOracle, parseTsvsDiagnostics, runTsvs, type Outcome } from './differential/oracles.ts';
import { KEEPALIVED_TRANSFORMS, LDIRECTORD_TRANSFORMS } from './differential/variants.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const root = process.getuid?.() === 0;
const skip = root ? false : 'needs root (keepalived -t runs in a network namespace)';
const REPORT = join(tmpdir(), 'tsvs-differential-report.txt');

// ---- the harness's own logic, on made-up outcomes (no root needed) ----

const file = (id: string, reader: 'keepalived' | 'ldirectord' = 'keepalived') => ({ id, reader, path: `/x/${id}` });
const KA_UNKNOWN = { line: 3, text: "Unknown keyword 'priorty'" };
const TS_UNKNOWN = { line: 3, text: "warning: unknown keyword 'priorty' in vrrp_instance; ignored" };

const ASPECTS: readonly [string, Parameters<typeof compare>, Row['aspect']][] = [
  ['same verdict, same problem in other words', [file('a'), { exit: 5, messages: [KA_UNKNOWN] }, { exit: 5, messages: [TS_UNKNOWN] }], 'agree'],
  ['tsvs accepts what keepalived refuses', [file('a'), { exit: 5, messages: [KA_UNKNOWN] }, { exit: 0, messages: [TS_UNKNOWN] }], 'tsvs-accepts'],
  ['tsvs refuses what keepalived accepts', [file('a'), { exit: 0, messages: [] }, { exit: 1, messages: [{ line: 1, text: 'error: x' }] }], 'tsvs-rejects'],
  ['keepalived crashed (a refusal) and tsvs accepts', [file('a'), { exit: -1, signal: 'SIGSEGV', messages: [] }, { exit: 0, messages: [] }], 'tsvs-accepts'],
  ['keepalived crashed and tsvs refuses, saying what keepalived said before it died (and more)', [file('a'), { exit: -1, signal: 'SIGSEGV', messages: [KA_UNKNOWN] }, { exit: 5, messages: [TS_UNKNOWN, { line: 9, text: 'error: expected an address, got 10' }] }], 'agree'],
  ['keepalived crashed and tsvs refuses without what keepalived said', [file('a'), { exit: -1, signal: 'SIGABRT', messages: [KA_UNKNOWN] }, { exit: 5, messages: [{ line: 9, text: 'error: expected an address, got 10' }] }], 'problems'],
  ['keepalived crashed and tsvs fails with a code keepalived -t never gives', [file('a'), { exit: -1, signal: 'SIGSEGV', messages: [] }, { exit: 70, messages: [] }], 'exit'],
  ['both refuse, keepalived says more', [file('a'), { exit: 5, messages: [KA_UNKNOWN, { text: '(VI_1) No VIP specified; at least one is sensible' }] }, { exit: 5, messages: [TS_UNKNOWN] }], 'problems'],
  ['ldirectord status 3 is a clean read', [file('b', 'ldirectord'), { exit: 3, messages: [] }, { exit: 0, messages: [] }], 'agree'],
  ['ldirectord refuses a file tsvs accepts', [file('b', 'ldirectord'), { exit: 2, messages: [{ line: 2, text: 'Unknown command frob=1' }] }, { exit: 0, messages: [] }], 'tsvs-accepts'],
];
for (const [name, args, want] of ASPECTS) {
  test(`differential compare: ${name} -> ${want}`, () => {
    assert.equal(compare(...args).aspect, want);
  });
}

test('differential compare: exit codes are compared through TSVS_EXIT_FOR (keepalived 2/4/5/6 are refusals, 6 for script security)', () => {
  assert.deepEqual(TSVS_EXIT_FOR.keepalived, { 0: 0, 2: 2, 4: 4, 5: 5, 6: 6 });
  assert.equal(compare(file('a'), { exit: 6, messages: [] }, { exit: 5, messages: [] }).aspect, 'exit');
  const r = compare(file('a'), { exit: 7, messages: [KA_UNKNOWN] }, { exit: 5, messages: [TS_UNKNOWN] });
  assert.equal(r.aspect, 'exit', 'an exit code the table does not map is a disagreement');
});

test('differential compare: a message no table row knows becomes its own kind, so it shows', () => {
  const r = compare(file('a'), { exit: 5, messages: [{ text: 'Something new in keepalived 2.3' }] }, { exit: 1, messages: [] });
  assert.deepEqual(r.peerOnly, ['?: Something new in keepalived 2.3']);
});

test('differential expected table: patterns, and unlisted, changed and unused entries are all reported', () => {
  assert.ok(patternRe('ka/gen/{a,b}/samples/x.conf').test('ka/gen/b/samples/x.conf'));
  assert.ok(!patternRe('ka/gen/*/x.conf').test('ka/gen/a/b/x.conf'));
  assert.ok(patternRe('ka/**/x.conf').test('ka/gen/a/b/x.conf'));
  const row = (id: string, aspect: Row['aspect']) => ({ ...compare(file(id), { exit: 0, messages: [] }, { exit: 0, messages: [] }), aspect });
  const table: Expected[] = [{ reason: 'r', files: { 'tsvs-accepts': ['ka/one', 'ka/gone'], problems: ['ka/now-agrees'] } }];
  const c = checkExpected([row('ka/one', 'tsvs-accepts'), row('ka/now-agrees', 'agree'), row('ka/new', 'problems')], table);
  assert.deepEqual(c.unlisted.map((r) => r.id), ['ka/new']);
  assert.deepEqual(c.changed.map((x) => [x.row.id, x.listed]), [['ka/now-agrees', 'problems']]);
  assert.deepEqual(c.unused.map((x) => x.pattern), ['ka/gone']);
});

test('differential expected table: every entry has a reason and files', () => {
  for (const e of EXPECTED_DISAGREEMENTS) {
    assert.ok(e.reason.length > 20, `entry without a reason: ${JSON.stringify(e.files)}`);
    assert.ok(Object.values(e.files).some((fs) => fs && fs.length > 0), e.reason);
  }
});

test('differential corpus: keepalived\'s 25 samples, ldirectord\'s sample and its sections, the project\'s files, and every transform', () => {
  const work = join(tmpdir(), `tsvs-difftest-corpus-${process.pid}`);
  try {
    const files = buildCorpus(work);
    const ids = files.map((f) => f.id);
    assert.equal(ids.filter((i) => i.startsWith('ka/samples/')).length, 25);
    assert.ok(ids.includes('ld/samples/ldirectord.cf'));
    assert.ok(ids.filter((i) => i.startsWith('ld/samples/sections/')).length >= 15);
    for (const p of ['ka/project/seed-003-keepalived.oneline.conf', 'ka/project/ka-include', 'ld/project/seed-004-ldirectord.cf', 'ka/lab/ha-dr-tsvs.conf', 'ka/lexical/authentication-oneline.conf']) assert.ok(ids.includes(p), p);
    for (const t of Object.keys(KEEPALIVED_TRANSFORMS)) assert.ok(ids.filter((i) => i.startsWith(`ka/gen/${t}/`)).length >= 5, `transform ${t}`);
    for (const t of Object.keys(LDIRECTORD_TRANSFORMS)) assert.ok(ids.some((i) => i.startsWith(`ld/gen/${t}/`)), `transform ${t}`);
    assert.equal(new Set(ids).size, ids.length, 'ids are unique');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

const SCRIPT_USERS: readonly [string, string, ReturnType<typeof scriptUsersOf>][] = [
  ['global script_user', 'global_defs {\n  script_user nobody\n}\n', [{ user: 'nobody' }]],
  ['script_user with a group', 'global_defs {\n  script_user root nogroup\n}\n', [{ user: 'root', group: 'nogroup' }]],
  ['a script\'s own user, in a one-line block', 'vrrp_script c { script "/bin/true" user nobody }\n', [{ user: 'nobody' }]],
  ['commented out (# and !)', '# script_user nobody\n  ! user nobody\n', []],
  ['a word inside a script\'s quoted command', 'vrrp_script c {\n  script "/bin/check user nobody"\n}\n', []],
];
for (const [name, text, want] of SCRIPT_USERS) {
  test(`differential daemon oracle: script users named in a file: ${name}`, () => {
    assert.deepEqual(scriptUsersOf(text), want);
  });
}

test('differential daemon oracle: only -t killed by SIGTERM on a file naming a non-root script user is its script_user bug', () => {
  const term: Outcome = { exit: KILLED, signal: 'SIGTERM', messages: [] };
  const nobody = 'global_defs {\n  script_user nobody\n}\n';
  assert.equal(scriptUserBugHits(nobody, term)?.user, 'nobody');
  assert.equal(scriptUserBugHits('global_defs {\n  script_user root nogroup\n}\n', term)?.group, 'nogroup', 'a non-root group switches ids too');
  assert.equal(scriptUserBugHits('global_defs {\n  script_user root\n}\n', term), undefined, 'root: check_script_secure switches no ids');
  assert.equal(scriptUserBugHits('global_defs {\n  script_user no-such-user-tsvs\n}\n', term), undefined, 'a user that does not resolve');
  assert.equal(scriptUserBugHits(nobody, { exit: KILLED, signal: 'SIGSEGV', messages: [] }), undefined, 'another signal');
  assert.equal(scriptUserBugHits(nobody, { exit: 5, messages: [] }), undefined, 'an exit');
  assert.equal(scriptUserBugHits(nobody, { exit: 0, messages: [] }), undefined, 'a clean read');
});

// ---- against the real programs ----

test('differential daemon oracle: the daemon does not stand in for -t when its script did not run as the script user', { skip, timeout: 60_000 }, async () => {
  const why = cannotRun();
  assert.equal(why, null, `${why}: run scripts/setup.sh`);
  const dir = mkdtempSync(join(tmpdir(), 'tsvs-difftest-daemon-'));
  const oracle = new KeepalivedOracle(['eth0']);
  try {
    // Runs as nobody, but writes root's uid: the check that the script ran as that user can fail.
    const conf = join(dir, 'keepalived.conf');
    writeFileSync(conf, [
      'global_defs {', '    enable_script_security', '    script_user nobody', '}',
      'vrrp_script chk {', '    script "/bin/sh -c \'echo 0 > script-uid\'"', '    interval 1', '}',
      'vrrp_instance VI_1 {', '    interface eth0', '    virtual_router_id 51', '    priority 100', '    state BACKUP',
      '    track_script {', '        chk', '    }', '    virtual_ipaddress {', '        192.168.50.100/24', '    }', '}', '',
    ].join('\n'));
    const t = await oracle.run(conf);
    assert.deepEqual([t.exit, t.signal], [KILLED, 'SIGTERM'], 'keepalived -t 2.2.7 dies of its script_user bug on this file');
    const hit = scriptUserBugHits(readFileSync(conf, 'utf8'), t);
    assert.ok(hit);
    const d = await readByDaemon(conf, oracle.ifnames, hit, t);
    assert.deepEqual([d.exit, d.signal], [KILLED, 'SIGTERM'], '-t\'s death stands');
    assert.match(d.via ?? '', /does not stand in: its script ran as uid 0, not nobody/);
  } finally {
    oracle.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('differential: keepalived -t, ldirectord and tsvs config-test agree on every file, or disagree as expected.ts says', { skip, timeout: 600_000 }, async (t) => {
  const why = cannotRun();
  assert.equal(why, null, `${why}: run scripts/setup.sh`);
  const { rows } = await runDifferential();
  writeFileSync(REPORT, renderTable(rows) + renderSummary(rows));
  t.diagnostic(`per-file table: ${REPORT}`);
  for (const l of renderSummary(rows).trimEnd().split('\n')) t.diagnostic(l);
  const c = checkExpected(rows);
  const say = (r: Row) => `${r.id}: ${r.aspect} (peer ${r.peerVerdict} ${r.peer.exit}, tsvs ${r.tsvsVerdict} ${r.tsvs.exit}; peer only: ${r.peerOnly.join(' ') || '-'}; tsvs only: ${r.tsvsOnly.join(' ') || '-'})`;
  await t.test('no file disagrees that expected.ts does not list (run.ts --suggest drafts entries)', () => {
    assert.deepEqual(c.unlisted.map(say), []);
  });
  await t.test('every listed file still disagrees, and in the way it is listed (else update expected.ts)', () => {
    assert.deepEqual(c.changed.map(({ row, listed }) => `${say(row)}: listed as ${listed}`), []);
  });
  await t.test('every pattern in expected.ts matches a file', () => {
    assert.deepEqual(c.unused.map((u) => u.pattern), []);
  });
  await t.test('nothing keepalived or ldirectord refuses is accepted by tsvs, beyond the listed files', () => {
    const listed = EXPECTED_DISAGREEMENTS.flatMap((e) => (e.files['tsvs-accepts'] ?? []).map(patternRe));
    const unsafe = rows.filter((r) => r.aspect === 'tsvs-accepts');
    assert.deepEqual(unsafe.filter((r) => !listed.some((re) => re.test(r.id))).map(say), []);
    t.diagnostic(`tsvs accepts ${unsafe.length} file(s) the peer refuses, all listed`);
  });
  await t.test('keepalived -t died of its script_user bug on ka/semantic/script-security.conf only, and the daemon read it and ran its script as nobody', () => {
    const viaDaemon = rows.filter((r) => r.peer.via);
    assert.deepEqual(viaDaemon.map((r) => [r.id, r.peerVerdict, r.aspect]), [['ka/semantic/script-security.conf', 'accept', 'agree']]);
    assert.match(viaDaemon[0]!.peer.via!, /the daemon read the file, started, and ran its script as nobody \(uid \d+\)$/);
  });
  await t.test('every file agrees', () => {
    assert.deepEqual(rows.filter((r) => r.aspect !== 'agree').map(say), []);
  });
  await t.test('every message of both programs maps to a problem kind (problems.ts)', () => {
    const unknown = rows.flatMap((r) => [...r.peerOnly, ...r.tsvsOnly].filter((k) => k.startsWith('?')).map((k) => `${r.id}: ${k}`));
    assert.deepEqual(unknown, []);
  });
  await t.test('files that agree on everything are most of the samples and the project\'s own files', () => {
    const agree = (prefix: string) => rows.filter((r) => r.id.startsWith(prefix) && r.aspect === 'agree').length;
    assert.ok(agree('ka/samples/') >= 12, `keepalived samples that agree: ${agree('ka/samples/')}`);
    assert.ok(agree('ka/lab/') === 6, 'the lab\'s generated HA files agree');
  });
});

test('differential: config-test in one batch process gives what the tsvs command gives, file by file', { skip, timeout: 120_000 }, async () => {
  const work = join(tmpdir(), `tsvs-difftest-cli-${process.pid}`);
  try {
    const files = buildCorpus(work).filter((f) => [
      'ka/samples/keepalived.conf.vrrp', 'ka/project/seed-003-keepalived.oneline.conf', 'ka/lexical/misspelt-keywords.conf',
      'ka/project/ka-include', 'ld/project/seed-004-ldirectord.cf', 'ld/from-tests/readers-error-bad-method.cf',
    ].includes(f.id));
    assert.equal(files.length, 6);
    const batch = await runTsvs(files);
    files.forEach((f, i) => {
      const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'tsvs.mjs'), 'config-test', '--type', f.reader, '--config-id', CONFIG_ID, f.path], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(batch[i]!.exit, r.status, f.id);
      assert.deepEqual(batch[i]!.messages, parseTsvsDiagnostics(r.stderr), f.id);
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
