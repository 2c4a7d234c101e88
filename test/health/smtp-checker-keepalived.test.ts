/**
 * Checker e-mail alerts at run time beside Debian's keepalived 2.2.7: the same keepalived.conf
 * (a virtual server with smtp_alert and quorum 2, a TCP_CHECK and a MISC_CHECK real server, no
 * smtp_alert on them: keepalived mails real servers' checks by default) in two namespaces, each
 * with a recording SMTP server on its loopback. The real servers go down and come back; tsvs
 * mails what keepalived mails (real server UP/DOWN with the checker's words, quorum lost/gained),
 * in the same dialogue, with the same headers, subject and body (apart from Date).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { keepalivedPair, isRoot, nsExec, waitFor, type Lab } from '../helpers/netns.ts';
import { alertGlobalDefs, type SmtpSession } from '../helpers/smtp-sink.ts';

const skip = !isRoot ? 'needs root (network namespaces)' : false;
if (skip) console.log(`# skipping checker smtp_alert tests: ${skip}`);
/**
 * keepalived's checker process needs the kernel's IPVS (it exits "Can't initialize ipvs" without
 * it); where there is none (tsvs's own machines), tsvs's mails are held to keepalived's texts
 * (check_tcp.c, check_misc.c, ipwrapper.c) alone.
 */
const kernelIpvs = (): boolean => existsSync('/proc/net/ip_vs') || spawnSync('modprobe', ['-n', 'ip_vs']).status === 0;
const withKeepalived = !skip && existsSync('/usr/sbin/keepalived') && kernelIpvs();
if (!skip && !withKeepalived) console.log('# checker smtp_alert: keepalived not run beside tsvs (not installed, or no kernel IPVS for its checker): tsvs is held to its texts');
const PORT = 2525;

function conf(flag: string): string {
  return `${alertGlobalDefs(PORT)}virtual_server 10.94.0.100 80 {
  delay_loop 1
  lb_algo rr
  lb_kind NAT
  protocol TCP
  quorum 2
  smtp_alert
  real_server 127.0.0.1 8081 {
    weight 1
    TCP_CHECK {
      connect_timeout 1
      retry 0
    }
  }
  real_server 127.0.0.2 8082 {
    weight 1
    MISC_CHECK {
      misc_path "/usr/bin/test -e ${flag}"
      misc_timeout 2
    }
  }
}
`;
}

const mails = (file: string): SmtpSession[] => existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as SmtpSession) : [];
const subject = (s: SmtpSession) => /^Subject: (.*)$/m.exec(s.data)?.[1] ?? '';
const body = (s: SmtpSession) => s.data.split('\r\n\r\n')[1]?.trim() ?? '';
/** A session with its Date header (the only thing that differs by when it was sent) taken out, as text to sort. */
const undated = (s: SmtpSession) => JSON.stringify({ commands: s.commands, data: s.data.replace(/^Date: .*\r\n/, '') });

/** A TCP listener on the namespace's 127.0.0.1:8081 (the TCP_CHECK's real server). */
const listener = (lab: Lab, ns: string): ChildProcess =>
  lab.spawnIn(ns, process.execPath, ['-e', "require('net').createServer((s) => s.end()).listen(8081, '127.0.0.1')"]);

test('checker smtp_alert: tsvs mails the real server and quorum transitions keepalived mails, with its dialogue, subjects and bodies', { skip, timeout: 120_000 }, async () => {
  await keepalivedPair('smc', '10.94.0', async ({ lab, dir, a, b }) => {
    const kaMail = join(dir, 'ka.mail'), tvMail = join(dir, 'tv.mail');
    const kaFlag = join(dir, 'ka.flag'), tvFlag = join(dir, 'tv.flag');
    // Each side's file names its own flag; everything else is the same text.
    writeFileSync(join(dir, 'ka.conf'), conf(kaFlag));
    writeFileSync(join(dir, 'tsvs.conf'), conf(tvFlag));
    writeFileSync(kaFlag, '');
    writeFileSync(tvFlag, '');
    lab.spawnIn(a, process.execPath, ['--import', 'tsx', 'test/helpers/smtp-sink.ts', String(PORT), kaMail]);
    lab.spawnIn(b, process.execPath, ['--import', 'tsx', 'test/helpers/smtp-sink.ts', String(PORT), tvMail]);
    let kaRs = listener(lab, a), tvRs = listener(lab, b);
    const listening = (ns: string) => () => { const l = nsExec(ns, ['ss', '-Hltn']); return l.includes('127.0.0.1:2525 ') && l.includes('127.0.0.1:8081 '); };
    assert.ok((await waitFor(listening(a), 10_000, 50)) >= 0 && (await waitFor(listening(b), 10_000, 50)) >= 0, 'sinks and real servers listening');

    if (withKeepalived) lab.spawnIn(a, 'keepalived', ['-n', '-l', '-C', '-f', join(dir, 'ka.conf'), '-p', join(dir, 'ka.pid'), '-c', join(dir, 'check.pid')]);
    lab.spawnIn(b, process.execPath, ['bin/tsvs.mjs', 'daemon', '--keepalived', join(dir, 'tsvs.conf'), '--socket', join(dir, 'tsvs.sock'), '--no-state', '--workers', '0', '--forwarder', 'none']);

    /**
     * Waits until tsvs (and keepalived, when it runs) mailed `want.length` more messages, then
     * compares tsvs's with keepalived's texts and, when it runs, with keepalived's mails whole.
     */
    let seen = 0;
    const step = async (what: string, want: string[]) => {
      const n = seen + want.length;
      const ok = (await waitFor(() => mails(tvMail).length >= n && (!withKeepalived || mails(kaMail).length >= n), 20_000, 50)) >= 0;
      const ka = mails(kaMail).slice(seen), tv = mails(tvMail).slice(seen);
      seen = n;
      console.log(`# ${what}: tsvs mailed ${JSON.stringify(tv.map(subject))}${withKeepalived ? `, keepalived ${JSON.stringify(ka.map(subject))}` : ''}`);
      assert.ok(ok, `${what}: ${n} messages in all (tsvs ${mails(tvMail).length}, keepalived ${mails(kaMail).length})`);
      assert.deepEqual(tv.map((m) => `${subject(m)} | ${body(m)}`).sort(), [...want].sort(), `${what}: keepalived's subjects and bodies`);
      if (withKeepalived) assert.deepEqual(tv.map(undated).sort(), ka.map(undated).sort(), `${what}: the same messages as keepalived's`);
      for (const m of tv) {
        assert.match(m.data, /^Date: \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}\r\nFrom: lb@example.org\r\nSubject: .*\r\nX-Mailer: Keepalived\r\nTo: ops@example.org, oncall@example.org\r\n\r\n/);
        assert.deepEqual(m.commands, ['HELO lb.example.org', 'MAIL FROM:<lb@example.org>', 'RCPT TO:<ops@example.org>', 'RCPT TO:<oncall@example.org>', 'DATA', 'QUIT']);
      }
    };
    const VS = '[10.94.0.100]:tcp:80';
    const rs = (name: string, state: string, body: string) => `[lb] Realserver ${name} of virtual server ${VS} - ${state} | ${body}`;
    const quorum = (state: string, body: string) => `[lb] Virtualserver ${VS} - ${state} | ${body}`;
    // MISC_CHECK's first verdict is mailed (keepalived's check_misc.c); TCP_CHECK's first success is not.
    await step('start', [rs('[127.0.0.2]:tcp:8082', 'UP', '=> MISC CHECK succeeded on service <=')]);
    kaRs.kill('SIGKILL'); tvRs.kill('SIGKILL');
    await step('TCP real server down', [rs('[127.0.0.1]:tcp:8081', 'DOWN', '=> TCP CHECK failed on service <='), quorum('DOWN', '=> Lost quorum 2+0=2 <= 1 <=')]);
    kaRs = listener(lab, a); tvRs = listener(lab, b);
    await step('TCP real server back', [rs('[127.0.0.1]:tcp:8081', 'UP', '=> TCP CHECK succeed on service <='), quorum('UP', '=> Gained quorum 2+0=2 <= 2 <=')]);
    rmSync(kaFlag); rmSync(tvFlag);
    await step('MISC real server down', [rs('[127.0.0.2]:tcp:8082', 'DOWN', '=> MISC CHECK failed on service <='), quorum('DOWN', '=> Lost quorum 2+0=2 <= 1 <=')]);
    // Nothing more is mailed for a steady state.
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(mails(tvMail).length, seen, 'no extra mail from tsvs');
    if (withKeepalived) assert.equal(mails(kaMail).length, seen, 'no extra mail from keepalived');
  });
});
