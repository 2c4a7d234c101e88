/**
 * keepalived's e-mail alerts (core/smtp.c) against a real SMTP server on loopback: the dialogue,
 * the headers and the texts keepalived sends, and what ends a session early.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alertText, rfc822Date, sendSmtpAlert } from '../../src/health/smtp-alert.ts';
import { startSmtpSink } from '../helpers/smtp-sink.ts';

const msg = alertText.vrrp('lb1', 'VI_1', 'MASTER')!;

test('an alert is sent in keepalived\'s dialogue: HELO, MAIL FROM, one RCPT TO per address, DATA with its headers, QUIT', async () => {
  const sink = await startSmtpSink();
  try {
    const when = new Date(2026, 11, 7, 9, 5, 3);
    const r = await sendSmtpAlert({ to: ['a@example.org', 'b@example.org'], from: 'lb@example.org', server: '127.0.0.1', port: sink.port, helo: 'lb1.example.org' }, msg, when);
    assert.deepEqual(r, { ok: true });
    const s = sink.sessions[0]!;
    assert.deepEqual(s.commands, ['HELO lb1.example.org', 'MAIL FROM:<lb@example.org>', 'RCPT TO:<a@example.org>', 'RCPT TO:<b@example.org>', 'DATA', 'QUIT']);
    assert.equal(s.data, `Date: ${rfc822Date(when)}\r\nFrom: lb@example.org\r\nSubject: [lb1] VRRP Instance VI_1 - Entering MASTER state\r\n` +
      'X-Mailer: Keepalived\r\nTo: a@example.org, b@example.org\r\n\r\n=> VRRP Instance is now owning VRRP VIPs <=\r\n');
    assert.match(rfc822Date(when), /^Mon, 07 Dec 2026 09:05:03 [+-]\d{4}$/);
  } finally {
    await sink.close();
  }
});

test('keepalived\'s defaults: HELO localhost, sender keepalived@HOST', async () => {
  const sink = await startSmtpSink();
  try {
    assert.deepEqual(await sendSmtpAlert({ to: ['ops@example.org'], server: '127.0.0.1', port: sink.port }, msg), { ok: true });
    assert.equal(sink.sessions[0]!.commands[0], 'HELO localhost');
    assert.match(sink.sessions[0]!.commands[1]!, /^MAIL FROM:<keepalived@[^>]+>$/);
  } finally {
    await sink.close();
  }
});

test('a refused recipient ends the session with QUIT and no DATA; the error names the command and code as keepalived logs it', async () => {
  const sink = await startSmtpSink(0, { codes: { RCPT: 550 } });
  try {
    const r = await sendSmtpAlert({ to: ['a@example.org'], server: '127.0.0.1', port: sink.port }, msg);
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.error : '', /^Error processing RCPT cmd on SMTP server 127\.0\.0\.1:\d+\. SMTP status code = 550$/);
    assert.deepEqual(sink.sessions[0]!.commands.slice(-1), ['QUIT']);
    assert.ok(!sink.sessions[0]!.commands.includes('DATA'));
  } finally {
    await sink.close();
  }
});

test('a silent server is given up after smtp_connect_timeout; no server listening is a connection error', async () => {
  const sink = await startSmtpSink(0, { silent: true });
  try {
    const t0 = performance.now();
    const r = await sendSmtpAlert({ to: ['a@example.org'], server: '127.0.0.1', port: sink.port, timeout: 1 }, msg);
    const took = performance.now() - t0;
    assert.equal(r.ok, false);
    assert.ok(took >= 900 && took < 5000, `gave up after ${took} ms`);
  } finally {
    await sink.close();
  }
  const port = sink.port; // closed now
  const r = await sendSmtpAlert({ to: ['a@example.org'], server: '127.0.0.1', port, timeout: 1 }, msg);
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.error : '', /SMTP connection error/);
});

test('nothing is sent without notification_email or smtp_server', async () => {
  assert.equal((await sendSmtpAlert({ to: [], server: '127.0.0.1' }, msg)).ok, false);
  assert.equal((await sendSmtpAlert({ to: ['a@example.org'] }, msg)).ok, false);
});

test('keepalived\'s subjects and bodies: instance and group states, real servers', () => {
  assert.deepEqual(alertText.vrrp('r', 'VI', 'BACKUP'), { subject: '[r] VRRP Instance VI - Entering BACKUP state', body: '=> VRRP Instance is no longer owning VRRP VIPs <=' });
  assert.deepEqual(alertText.vrrp('r', 'VI', 'STOP'), { subject: '[r] VRRP Instance VI - Stopping', body: '=> VRRP Instance stopping <=' });
  assert.equal(alertText.vrrp('r', 'VI', 'INIT'), null);
  assert.deepEqual(alertText.group('r', 'G', 'FAULT'), { subject: '[r] VRRP Group G - Entering FAULT state', body: '=> All VRRP group instances are now in FAULT state <=' });
  assert.deepEqual(alertText.realServer('r', '[10.0.0.2]:tcp:80', '[10.0.0.1]:tcp:80', false, 'TCP CHECK'),
    { subject: '[r] Realserver [10.0.0.2]:tcp:80 of virtual server [10.0.0.1]:tcp:80 - DOWN', body: '=> TCP CHECK failed on service <=' });
});
