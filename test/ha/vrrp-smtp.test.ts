/**
 * smtp_alert at run time beside Debian's keepalived 2.2.7, given the same keepalived.conf in a
 * namespace pair, each with a recording SMTP server on its own loopback: tsvs mails the
 * transitions keepalived mails, with the same dialogue, headers, subject and body.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { keepalivedPair, isRoot, hasAddr, nsExec, waitFor, keepalivedSkip } from '../helpers/netns.ts';
import { alertGlobalDefs, type SmtpSession } from '../helpers/smtp-sink.ts';

const skip = keepalivedSkip();
if (skip) console.log(`# skipping VRRP smtp_alert tests: ${skip}`);
const VIP = '10.98.0.100';
const PORT = 2525;

function conf(dev: string, prio: number): string {
  return `${alertGlobalDefs(PORT, ['smtp_alert_vrrp'])}vrrp_instance VI_1 {
  state BACKUP
  interface ${dev}
  virtual_router_id 59
  priority ${prio}
  advert_int 1
  virtual_ipaddress {
    ${VIP}/24
  }
}
`;
}

const mails = (file: string): SmtpSession[] => existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as SmtpSession) : [];
const subject = (s: SmtpSession) => /^Subject: (.*)$/m.exec(s.data)?.[1] ?? '';
/** A session with its Date header (the only thing that differs by when it was sent) taken out. */
const undated = (s: SmtpSession) => ({ commands: s.commands, data: s.data.replace(/^Date: .*\r\n/, '') });

test('smtp_alert: tsvs mails each transition keepalived mails (MASTER, BACKUP), in the same dialogue with the same headers, subject and body', { skip, timeout: 90_000 }, async () => {
  await keepalivedPair('sma', '10.98.0', async ({ lab, dir, a, b, da, db }) => {
    const kaMail = join(dir, 'ka.mail'), tvMail = join(dir, 'tv.mail');
    lab.spawnIn(a, process.execPath, ['--import', 'tsx', 'test/helpers/smtp-sink.ts', String(PORT), kaMail]);
    lab.spawnIn(b, process.execPath, ['--import', 'tsx', 'test/helpers/smtp-sink.ts', String(PORT), tvMail]);
    writeFileSync(join(dir, 'ka.conf'), conf(da, 100));
    writeFileSync(join(dir, 'tsvs.conf'), conf(db, 150));
    await new Promise((r) => setTimeout(r, 1500)); // the sinks listening
    lab.spawnIn(a, 'keepalived', ['-n', '-l', '-P', '-f', join(dir, 'ka.conf'), '-p', join(dir, 'ka.pid'), '-r', join(dir, 'vrrp.pid')]);
    assert.ok((await waitFor(() => hasAddr(a, da, VIP), 15_000)) >= 0, 'keepalived alone is master');
    assert.ok((await waitFor(() => mails(kaMail).some((m) => subject(m).includes('MASTER')), 10_000)) >= 0, 'keepalived mailed its MASTER state');

    const tsvs = lab.spawnIn(b, process.execPath, ['bin/tsvs.mjs', 'vrrp', '--keepalived', join(dir, 'tsvs.conf')]);
    assert.ok((await waitFor(() => hasAddr(b, db, VIP) && !hasAddr(a, da, VIP), 15_000)) >= 0, 'tsvs (150) preempted');
    assert.ok((await waitFor(() => mails(tvMail).some((m) => subject(m).includes('MASTER')) && mails(kaMail).some((m) => subject(m).includes('BACKUP')), 10_000)) >= 0,
      `mails: tsvs ${JSON.stringify(mails(tvMail).map(subject))}, keepalived ${JSON.stringify(mails(kaMail).map(subject))}`);

    // tsvs leaves (SIGKILL: no resignation); keepalived takes over; tsvs comes back as BACKUP-then-MASTER again.
    tsvs.kill('SIGKILL');
    assert.ok((await waitFor(() => hasAddr(a, da, VIP), 10_000)) >= 0, 'keepalived took over');
    assert.ok((await waitFor(() => mails(kaMail).filter((m) => subject(m).includes('MASTER')).length >= 2, 10_000)) >= 0, 'keepalived mailed MASTER again');

    const byState = (list: SmtpSession[], s: string) => list.find((m) => subject(m).endsWith(`Entering ${s} state`));
    const ka = mails(kaMail), tv = mails(tvMail);
    console.log(`# keepalived mailed: ${ka.map(subject).join(' | ')}\n# tsvs mailed: ${tv.map(subject).join(' | ')}`);
    for (const s of ['MASTER', 'BACKUP']) {
      const k = byState(ka, s), t = byState(tv, s);
      assert.ok(k && t, `both mailed ${s}`);
      assert.deepEqual(undated(t), undated(k), `the ${s} alert as keepalived sends it`);
      assert.match(t.data, /^Date: \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}\r\n/);
    }
    // Each program mails a state once per change (no repeat of the state last mailed).
    const seq = (list: SmtpSession[]) => list.map(subject);
    for (const l of [seq(ka), seq(tv)]) for (let i = 1; i < l.length; i++) assert.notEqual(l[i], l[i - 1], JSON.stringify(l));
  });
});

test('at stop keepalived delivers no alert (its "Stopping" mail is queued and the process exits before the SMTP dialogue: a connection, no HELO); tsvs sends none either', { skip, timeout: 90_000 }, async () => {
  await keepalivedPair('sms', '10.98.0', async ({ lab, dir, a, b, da, db }) => {
    const runs = [
      { who: 'keepalived', ns: a, dev: da, mail: join(dir, 'ka.mail'), start: (f: string) => lab.spawnIn(a, 'keepalived', ['-n', '-l', '-P', '-f', f, '-p', join(dir, 'ka.pid'), '-r', join(dir, 'vrrp.pid')]) },
      { who: 'tsvs', ns: b, dev: db, mail: join(dir, 'tv.mail'), start: (f: string) => lab.spawnIn(b, process.execPath, ['bin/tsvs.mjs', 'vrrp', '--keepalived', f]) },
    ];
    const sent = (file: string) => mails(file).filter((m) => m.commands.includes('DATA'));
    const seen: Record<string, string[]> = {};
    // Each alone (priority 150 against no one), in turn: MASTER, then SIGTERM.
    for (const r of runs) {
      const sink = lab.spawnIn(r.ns, process.execPath, ['--import', 'tsx', 'test/helpers/smtp-sink.ts', String(PORT), r.mail]);
      const f = join(dir, `${r.who}.conf`);
      writeFileSync(f, conf(r.dev, 150));
      assert.ok((await waitFor(() => sink.exitCode === null && nsExec(r.ns, ['ss', '-Hltn', `sport = :${PORT}`]).includes(`:${PORT}`), 10_000, 50)) >= 0, 'the sink listening');
      const p = r.start(f);
      assert.ok((await waitFor(() => hasAddr(r.ns, r.dev, VIP) && sent(r.mail).some((m) => subject(m).includes('MASTER')), 15_000, 50)) >= 0, `${r.who} is MASTER and mailed it`);
      const before = sent(r.mail).length;
      const gone = new Promise((res) => p.once('exit', res));
      p.kill('SIGTERM');
      await gone;
      // keepalived's queued alert shows as a session without commands; then nothing more comes.
      if (r.who === 'keepalived') assert.ok((await waitFor(() => mails(r.mail).some((m) => m.commands.length === 0), 3000, 50)) >= 0, 'keepalived connected at stop');
      assert.equal(await waitFor(() => sent(r.mail).length > before, 1500, 50), -1, `${r.who} mailed nothing at stop: ${JSON.stringify(sent(r.mail).map(subject))}`);
      seen[r.who] = sent(r.mail).map(subject);
    }
    assert.deepEqual(seen['tsvs']!.slice(-1), seen['keepalived']!.slice(-1), 'the last mail is the MASTER one for both');
  });
});
