// tsvs dashboard: polls GET /api/v1/overview every second and updates the page in place (rows
// keyed by service and real server id; a weight being edited is left alone). Text goes in with
// textContent only. With an admin token (kept in sessionStorage) weights can be changed and real
// servers drained through the API.
'use strict';

const POLL_MS = 1000;
let token = sessionStorage.getItem('tsvs-token') || '';
let role = token ? 'token' : 'open';

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
}

function fmt(n) {
  if (n >= 1e9) return (n / 1e9).toFixed(1) + 'G';
  if (n >= 1e6) return (n / 1e6).toFixed(1) + 'M';
  if (n >= 1e4) return (n / 1e3).toFixed(1) + 'k';
  return String(n);
}

function hostPort(addr, port) {
  return (addr.includes(':') ? '[' + addr + ']' : addr) + ':' + port;
}

async function api(method, path, body) {
  const headers = {};
  if (token) headers.authorization = 'Bearer ' + token;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch('/api/v1' + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const j = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error((j.error && (j.error.code + ': ' + j.error.message)) || ('HTTP ' + r.status));
  return j;
}

function showError(msg) {
  const e = document.getElementById('error');
  e.textContent = msg || '';
  e.hidden = !msg;
}

const rows = new Map(); // id -> { tr, cells }

function cells(tr, n) {
  while (tr.children.length < n) tr.append(el('td'));
  return [...tr.children];
}

function setText(td, text) {
  if (td.textContent !== text) td.textContent = text;
}

function badge(cls, text, testid) {
  return el('span', { class: 'badge ' + cls, 'data-testid': testid }, text);
}

function renderRealHealth(td, h) {
  td.replaceChildren();
  if (!h) { td.append(badge('none', 'unchecked', 'health')); return; }
  const state = h.alive ? 'up' : 'down';
  td.append(badge(state, state, 'health'));
  const last = (h.checkers || []).find((c) => c.reason);
  if (last && !h.alive) td.append(el('span', { class: 'reason', 'data-testid': 'reason' }, last.reason));
}

function renderDrain(td, d, real, svc) {
  td.replaceChildren();
  if (d && d.state === 'draining') {
    const left = Math.max(0, Math.ceil((d.deadline - Date.now()) / 1000));
    td.append(badge('draining', 'draining: ' + d.activeConns + ' active, ' + left + ' s left', 'drain-state'));
    if (role === 'admin') td.append(el('button', { 'data-testid': 'cancel', onclick: () => act(() => api('DELETE', '/drains/' + encodeURIComponent(svc.id) + '/' + encodeURIComponent(real.id))) }, 'cancel'));
    return;
  }
  if (d) td.append(badge('none', d.state, 'drain-state'));
  if (real.slowStart) td.append(badge('pending', 'slow start → ' + real.slowStart.target, 'slow-start'));
  if (role === 'admin') {
    td.append(el('button', {
      'data-testid': 'drain',
      onclick: () => { if (confirm('Drain ' + hostPort(real.addr, real.port) + ' from ' + svc.name + '?')) act(() => api('POST', '/services/' + encodeURIComponent(svc.id) + '/reals/' + encodeURIComponent(real.id) + '/drain', {})); },
    }, 'drain'));
  }
}

async function act(f) {
  try {
    await f();
    showError('');
    await poll();
  } catch (e) {
    showError(String(e.message || e));
  }
}

function weightCell(td, real, svc) {
  if (role !== 'admin') {
    td.replaceChildren();
    td.textContent = String(real.weight);
    return;
  }
  let input = td.querySelector('input');
  if (!input) {
    td.replaceChildren();
    input = el('input', { class: 'weight', type: 'number', min: '0', max: '65535', 'data-testid': 'weight-input', 'aria-label': 'weight' });
    const set = el('button', { 'data-testid': 'weight-set', onclick: () => act(() => api('PUT', '/services/' + encodeURIComponent(svc.id) + '/reals/' + encodeURIComponent(real.id), { weight: Number(input.value) })) }, 'set');
    td.append(input, set);
  }
  if (document.activeElement !== input) input.value = String(real.weight);
  td.dataset.weight = String(real.weight);
}

function render(o) {
  document.getElementById('daemon').textContent = 'pid ' + o.daemon.pid + ' · up ' + o.daemon.uptimeSeconds + ' s · ' + o.daemon.forwarder + ' forwarder';
  document.getElementById('updated').textContent = 'updated ' + new Date(o.at).toLocaleTimeString();
  const t = o.total.rates;
  document.getElementById('totals').replaceChildren(
    ...[['connections', fmt(o.total.stats.conns)], ['conn/s', fmt(t.cps)], ['in pkt/s', fmt(t.inpps)], ['out pkt/s', fmt(t.outpps)], ['in B/s', fmt(t.inbps)], ['out B/s', fmt(t.outbps)], ['table', fmt(o.connTable.entries) + ' / ' + fmt(o.connTable.limit)]]
      .map(([k, v]) => el('div', { class: 'stat' }, el('b', {}, v), k)),
  );
  document.getElementById('vrrp').replaceChildren(...o.vrrp.map((v) => el('div', { 'data-testid': 'vrrp-instance' }, 'VRRP ' + v.name + ' ', badge(v.state, v.state, 'vrrp-state'), ' prio ' + v.priority + ' · vrid ' + v.vrid + ' on ' + v.interface)));
  document.getElementById('sync').replaceChildren(...o.sync.map((s) => el('div', { 'data-testid': 'sync-daemon' }, 'sync ' + s.state + ' on ' + s.mcastIfn + ' (syncid ' + s.syncid + '): ' + (s.counters ? Object.entries(s.counters).map(([k, v]) => k + ' ' + v).join(', ') : 'starting'))));
  const tbody = document.getElementById('rows');
  const seen = new Set();
  const order = [];
  const services = [...o.services].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const s of services) {
    const sid = 'svc:' + s.id;
    seen.add(sid);
    let r = rows.get(sid);
    if (!r) { r = { tr: el('tr', { class: 'svc', 'data-service': s.id }) }; rows.set(sid, r); }
    const c = cells(r.tr, 12);
    setText(c[0], s.name + ' ' + s.scheduler + (s.persistent ? ' persistent ' + s.persistent : ''));
    const act = s.dests.reduce((n, d) => n + d.activeConns, 0);
    const inact = s.dests.reduce((n, d) => n + d.inactConns, 0);
    setText(c[3], String(act)); setText(c[4], String(inact));
    setText(c[5], fmt(s.rates.cps)); setText(c[6], fmt(s.rates.inpps)); setText(c[7], fmt(s.rates.outpps)); setText(c[8], fmt(s.rates.inbps)); setText(c[9], fmt(s.rates.outbps));
    order.push(r.tr);
    for (const d of s.dests) {
      const rid = 'real:' + s.id + '/' + d.id;
      seen.add(rid);
      let rr = rows.get(rid);
      if (!rr) { rr = { tr: el('tr', { class: 'real', 'data-real': s.id + '/' + d.id }) }; rows.set(rid, rr); }
      const k = cells(rr.tr, 12);
      setText(k[0], '→ ' + hostPort(d.addr, d.port));
      setText(k[1], d.fwd);
      weightCell(k[2], d, s);
      k[2].setAttribute('data-testid', 'weight');
      setText(k[3], String(d.activeConns)); setText(k[4], String(d.inactConns));
      setText(k[5], fmt(d.rates.cps)); setText(k[6], fmt(d.rates.inpps)); setText(k[7], fmt(d.rates.outpps)); setText(k[8], fmt(d.rates.inbps)); setText(k[9], fmt(d.rates.outbps));
      renderRealHealth(k[10], d.health);
      renderDrain(k[11], d.drain, d, s);
      order.push(rr.tr);
    }
  }
  for (const [id, r] of rows) if (!seen.has(id)) { r.tr.remove(); rows.delete(id); }
  order.forEach((tr, i) => { if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] || null); });
}

let timer = null;
async function poll() {
  try {
    const o = await api('GET', '/overview');
    render(o);
    showError('');
  } catch (e) {
    showError(String(e.message || e));
  }
}

async function learnRole() {
  const r = document.getElementById('role');
  if (!token) { role = 'open'; r.textContent = 'read-only (no token)'; return; }
  try {
    role = (await api('GET', '/whoami')).role;
  } catch (e) {
    role = 'invalid';
  }
  r.textContent = role === 'admin' ? 'admin' : role === 'read' ? 'read-only token' : 'token refused';
  for (const td of document.querySelectorAll('td[data-testid="weight"]')) td.replaceChildren();
}

document.getElementById('auth').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  token = document.getElementById('token').value.trim();
  if (token) sessionStorage.setItem('tsvs-token', token); else sessionStorage.removeItem('tsvs-token');
  document.getElementById('token').value = '';
  await learnRole();
  await poll();
});

(async () => {
  await learnRole();
  await poll();
  timer = setInterval(poll, POLL_MS);
})();
