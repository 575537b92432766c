// perfring compare page: two recordings from the server's --recordings directory side by side.
// /compare.html?a=NAME&b=NAME loads /api/recordings for the pickers and /api/compare for the
// table; the numbers are the server's (the same as `perfring-server compare A B --json`). A value
// a run does not have is shown as n/a, never as 0.
//
// State for tests, on <body>: data-state (loading|empty|ready|error), data-errors (JSON list of
// caught errors), data-rows (metric rows shown).
// /compare.html?a=NAME&b=NAME is what the dashboard's "compare with ..." links to.
'use strict';
import { recordPageErrors } from './pageerrors.js';

(() => {
  const body = document.body;
  const $ = (id) => document.getElementById(id);
  const recordError = recordPageErrors(body);

  function setStatus(state, text, dot) {
    body.dataset.state = state;
    $('status-text').textContent = text;
    $('status-dot').className = 'dot ' + dot;
  }

  function showError(message) {
    const b = $('banner-error');
    b.textContent = message;
    b.hidden = false;
    setStatus('error', 'error', 'bad');
  }

  async function getJSON(url) {
    const res = await fetch(url, { cache: 'no-store', headers: { Accept: 'application/json' } });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(data.error || res.status + ' ' + res.statusText);
    return data;
  }

  // Numbers as the CLI prints them: short, with k/M/G above 10 000.
  function fmt(v) {
    if (v === null || v === undefined || !Number.isFinite(v)) return 'n/a';
    const a = Math.abs(v);
    for (const [limit, div, suffix] of [[1e9, 1e9, 'G'], [1e6, 1e6, 'M'], [1e4, 1e3, 'k']]) {
      if (a >= limit) return fmt(v / div) + suffix;
    }
    const decimals = a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3;
    return String(Number(v.toFixed(decimals)));
  }

  function cell(row, text, header, cls) {
    const c = document.createElement(header ? 'th' : 'td');
    if (header) c.scope = 'row';
    if (cls) c.className = cls;
    c.textContent = text;
    row.appendChild(c);
    return c;
  }

  // One bar per run: its phase classes as shares of its time, in the dashboard's colours.
  function renderBreakdown(result) {
    const box = $('breakdown');
    box.replaceChildren();
    for (const [label, side] of [['A', result.a], ['B', result.b]]) {
      const run = document.createElement('div');
      run.className = 'breakdown-run';
      const name = document.createElement('span');
      name.textContent = label;
      name.title = side.name;
      run.appendChild(name);
      const bar = document.createElement('div');
      bar.className = 'breakdown-bar';
      bar.setAttribute('role', 'img');
      bar.setAttribute('aria-label', label + ': ' + (side.phases.length === 0 ? 'no phases'
        : side.phases.map((p) => p.class + ' ' + fmt(100 * p.share) + ' %').join(', ')));
      if (side.phases.length === 0) {
        const none = document.createElement('span');
        none.className = 'breakdown-none';
        none.textContent = 'no phases';
        bar.appendChild(none);
      }
      for (const p of side.phases) {
        const seg = document.createElement('span');
        seg.className = 'ph-' + p.class;
        seg.style.flexGrow = String(Math.max(p.share, 0.001));
        seg.textContent = p.share >= 0.12 ? p.class : '';
        seg.title = p.class + ': ' + fmt(p.seconds) + ' s (' + fmt(100 * p.share) + ' %)';
        bar.appendChild(seg);
      }
      run.appendChild(bar);
      box.appendChild(run);
    }
  }

  function fillPickers(names, a, b) {
    for (const [id, chosen] of [['pick-a', a], ['pick-b', b]]) {
      const sel = $(id);
      sel.replaceChildren();
      for (const n of names) {
        const o = document.createElement('option');
        o.value = n;
        o.textContent = n;
        o.selected = n === chosen;
        sel.appendChild(o);
      }
    }
  }

  function render(result) {
    $('fact-a').textContent = result.a.name + ' (' + result.a.source + ', ' + fmt(result.a.seconds) + ' s)';
    $('fact-b').textContent = result.b.name + ' (' + result.b.source + ', ' + fmt(result.b.seconds) + ' s)';
    const tbody = $('metrics').tBodies[0];
    tbody.replaceChildren();
    for (const m of result.metrics) {
      const tr = document.createElement('tr');
      cell(tr, m.key, true);
      cell(tr, m.kind, false, 'col-kind');
      cell(tr, fmt(m.a), false, 'num');
      cell(tr, fmt(m.b), false, 'num');
      cell(tr, fmt(m.change), false, 'num col-change');
      const pct = m.change_pct;
      // Not coloured: whether more is better depends on the metric (IPC up, misses down).
      cell(tr, pct === null || pct === undefined ? 'n/a' : (pct > 0 ? '+' : '') + fmt(pct) + ' %', false, 'num');
      tbody.appendChild(tr);
    }
    const pbody = $('phases').tBodies[0];
    pbody.replaceChildren();
    for (const [label, side] of [['A', result.a], ['B', result.b]]) {
      if (side.phases.length === 0) {
        const tr = document.createElement('tr');
        cell(tr, label, true);
        cell(tr, 'no phases');
        cell(tr, 'n/a');
        cell(tr, 'n/a');
        pbody.appendChild(tr);
      }
      for (const p of side.phases) {
        const tr = document.createElement('tr');
        cell(tr, label, true);
        cell(tr, p.class);
        cell(tr, fmt(p.seconds));
        cell(tr, fmt(100 * p.share) + ' %');
        pbody.appendChild(tr);
      }
    }
    renderBreakdown(result);
    body.dataset.rows = String(result.metrics.length);
    setStatus('ready', 'compared', 'ok');
  }

  async function load() {
    const params = new URLSearchParams(location.search);
    let names;
    try {
      names = (await getJSON('/api/recordings')).recordings.map((r) => r.name);
    } catch (e) {
      showError('Cannot list recordings: ' + e.message);
      return;
    }
    const a = params.get('a') || names[0];
    const b = params.get('b') || names[1] || names[0];
    fillPickers(names, a, b);
    if (names.length === 0) {
      setStatus('empty', 'no recordings', 'warn');
      return;
    }
    if (!params.get('a') || !params.get('b')) {
      setStatus('empty', 'pick two recordings', 'info');
      return;
    }
    try {
      render(await getJSON('/api/compare?' + new URLSearchParams({ a, b })));
    } catch (e) {
      showError('Cannot compare: ' + e.message);
    }
  }

  $('pick').addEventListener('submit', (e) => {
    e.preventDefault();
    location.search = '?' + new URLSearchParams({ a: $('pick-a').value, b: $('pick-b').value });
  });
  load().catch((e) => recordError(e.message));
})();
