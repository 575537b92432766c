// The run as a whole: the results panel shown when the collector stops (what `perf stat` prints
// at the end: totals, rates, ratios, elapsed time, the phase breakdown), and the record / stop
// control that saves the samples between two moments as a named recording on the server
// (POST /api/recordings), then offers to compare it with another from the list.
// Follows the run through app.js's 'perfring:state' event; reads only the public API.
import { HttpError, getJSON } from './api.js';
import { UNITS, sig3, fmtDur, clock } from './format.js';

const $ = (id) => document.getElementById(id);
const body = document.body;
let state = null;

// ---- results ----------------------------------------------------------------------------------
// Counter totals are the sums of the per-sample counts; other totals are rates times each
// sample's own interval (dt_ms). A figure with no value in any sample is "not available", never 0.
const COUNTERS = [
  ['task_clock', 'task clock'], ['context_switches', 'context switches'], ['cpu_migrations', 'CPU migrations'],
  ['page_faults', 'page faults'], ['cycles', 'cycles'], ['instructions', 'instructions'], ['branches', 'branches'],
  ['branch_misses', 'branch misses'], ['cache_references', 'cache references'], ['cache_misses', 'cache misses'],
];
const TARGET = [
  ['proc_cpu_pct', 'CPU (100% = one CPU)', 'mean-max', 'pct'],
  ['proc_rss_bytes', 'RSS', 'peak', 'bytes'],
  ['proc_threads', 'threads', 'peak', 'count'],
  ['proc_read_bps', 'storage read', 'total', 'bytes'],
  ['proc_write_bps', 'storage written', 'total', 'bytes'],
  ['proc_major_faults_per_s', 'major faults', 'total', 'count'],
];
const MACHINE = [
  ['cpu_util', 'CPU utilisation (all CPUs)', 'mean-max', 'pct'],
  ['mem_used_pct', 'memory used', 'peak', 'pct'],
  ['disk_read_bps', 'disk read', 'total', 'bytes'],
  ['disk_write_bps', 'disk written', 'total', 'bytes'],
];
const results = { shownFor: null, loading: false };

function num(v) { return Math.abs(v) >= 1e6 ? UNITS.persec.val(v).replace('/s', '') : Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en') : sig3(v); }

/// Sum, mean and peak of one column over the samples with a value; total = Σ value × dt (s).
function stats(cols, key) {
  const v = cols[key], dt = cols.dt_ms;
  if (!v) return null;
  let n = 0, sum = 0, total = 0, max = -Infinity;
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (x == null) continue;
    n++; sum += x; if (x > max) max = x;
    total += x * ((dt && dt[i] != null ? dt[i] : state.interval) / 1000);
  }
  return n ? { n, sum, mean: sum / n, max, total } : null;
}

function row(tbody, value, label, note, na) {
  const tr = document.createElement('tr');
  const a = document.createElement('td'); a.className = 'num' + (na ? ' is-na' : ''); a.textContent = value;
  const b = document.createElement('td'); b.textContent = label;
  if (note) { const n = document.createElement('div'); n.className = 'rs-note'; n.textContent = note; b.appendChild(n); }
  tr.append(a, b);
  tbody.appendChild(tr);
}
function table(parent, title) {
  const box = document.createElement('div');
  const h = document.createElement('h3'); h.textContent = title;
  const t = document.createElement('table'); const tb = document.createElement('tbody'); t.appendChild(tb);
  box.append(h, t);
  parent.appendChild(box);
  return tb;
}

function why(eventsByKey, key) {
  const e = eventsByKey.get(key);
  return e && e.status !== 'counting' ? 'not available: ' + (e.reason || e.status) : 'not available: no value in this run';
}

async function showResults() {
  if (results.loading) return;
  results.loading = true;
  const el = $('results');
  try {
    const fieldList = await getJSON('/api/fields').catch(() => null);
    const known = new Set(Array.isArray(fieldList) ? fieldList.map((f) => f.key) : []);
    const want = ['time_ms', 'dt_ms', ...COUNTERS.map((c) => c[0]), ...TARGET.map((c) => c[0]), ...MACHINE.map((c) => c[0])]
      .filter((k, i, a) => a.indexOf(k) === i && (known.size === 0 || known.has(k)));
    const [d, phases] = await Promise.all([
      getJSON('/api/data?' + new URLSearchParams({ format: 'columns', limit: '1000000', fields: want.join(',') })),
      getJSON('/api/phases').catch(() => null),
    ]);
    const cols = d.columns || {};
    const t = cols.time_ms || [];
    if (!t.length) return;
    const meta = state.meta || {};
    const eventsByKey = new Map((meta.events || []).map((e) => [e.key || String(e.name).replace(/-/g, '_'), e]));
    let elapsed = 0;
    for (const x of cols.dt_ms || []) if (x != null) elapsed += x / 1000;
    if (!(elapsed > 0)) elapsed = (t[t.length - 1] - t[0]) / 1000 + state.interval / 1000;

    el.textContent = '';
    const h = document.createElement('h2');
    const target = meta.mode === 'command' ? '$ ' + meta.target : meta.mode === 'pid' ? 'pid ' + meta.target : meta.target || meta.mode;
    h.textContent = 'Results · ' + target;
    const sub = document.createElement('p'); sub.className = 'rs-sub';
    sub.textContent = fmtDur(elapsed) + ' elapsed · ' + t.length.toLocaleString('en') + ' samples · ' +
      clock(t[0], true) + ' – ' + clock(t[t.length - 1], true) + ' · collector stopped';
    const grid = document.createElement('div'); grid.className = 'rs-grid';
    el.append(h, sub, grid);

    const tb = table(grid, meta.mode === 'pid' || meta.mode === 'command' ? "The target's counters" : 'Counters');
    const totals = {}, missing = new Map();   // reason -> counters without a value
    for (const [key, label] of COUNTERS) {
      const s = stats(cols, key);
      if (!s) { const r = why(eventsByKey, key); missing.set(r, (missing.get(r) || []).concat(label)); continue; }
      totals[key] = s.sum;
      if (key === 'task_clock') row(tb, sig3(s.sum / 1e9) + ' s', label, sig3(s.sum / 1e9 / elapsed) + ' CPUs utilised');
      else row(tb, num(s.sum), label, UNITS.persec.val(s.sum / elapsed));
    }
    for (const [r, labels] of missing) row(tb, 'n/a', labels.join(', '), r, true);
    const rb = table(grid, 'Ratios');
    const ratio = (a, b, label, f, unitText) => {
      if (totals[a] == null || totals[b] == null || !(totals[b] > 0)) row(rb, 'n/a', label, 'needs ' + a.replace(/_/g, ' ') + ' and ' + b.replace(/_/g, ' '), true);
      else row(rb, f(totals[a] / totals[b]), label, unitText);
    };
    ratio('instructions', 'cycles', 'instructions per cycle', (x) => x.toFixed(2), 'IPC');
    ratio('cycles', 'instructions', 'cycles per instruction', (x) => x.toFixed(2), 'CPI');
    ratio('branch_misses', 'branches', 'branch misses', (x) => sig3(100 * x) + '%', 'of all branches');
    ratio('cache_misses', 'cache_references', 'cache misses', (x) => sig3(100 * x) + '%', 'of all cache references');

    const scoped = meta.mode === 'pid' || meta.mode === 'command' || TARGET.some(([k]) => stats(cols, k));
    for (const [title, list] of scoped ? [['The target', TARGET], ['The machine', MACHINE]] : [['The machine', MACHINE]]) {
      const b = table(grid, title);
      for (const [key, label, how, unit] of list) {
        const s = stats(cols, key);
        if (!s) { row(b, 'n/a', label, 'not available: no value in this run', true); continue; }
        const f = (v) => UNITS[unit] ? UNITS[unit].val(v) : sig3(v);
        if (how === 'mean-max') row(b, f(s.mean), label + ' (mean)', 'peak ' + f(s.max));
        else if (how === 'peak') row(b, f(s.max), label + ' (peak)', 'mean ' + f(s.mean));
        else row(b, f(s.total), label, UNITS[unit === 'bytes' ? 'bps' : 'persec'].val(s.total / elapsed) + ' on average');
      }
    }

    const list = phases && Array.isArray(phases.phases) ? phases.phases : [];
    const pb = table(grid, 'Phases');
    if (!list.length) row(pb, '–', 'no phase detected', phases ? '' : 'the server reports no phases', true);
    const byClass = new Map();
    for (const p of list) {
      const c = byClass.get(p.class) || { seconds: 0, count: 0 };
      c.seconds += typeof p.seconds === 'number' ? p.seconds : 0; c.count++;
      byClass.set(p.class, c);
    }
    const sum = [...byClass.values()].reduce((a, c) => a + c.seconds, 0) || 1;
    for (const [cls, c] of [...byClass].sort((a, b) => b[1].seconds - a[1].seconds)) {
      row(pb, Math.round(100 * c.seconds / sum) + '%', cls, fmtDur(c.seconds) + ' in ' + c.count + ' phase' + (c.count === 1 ? '' : 's'));
    }
    el.hidden = false;
    results.shownFor = state.generation;
    body.dataset.results = String(t.length);
  } catch (e) {
    // The panel is extra: a failed read leaves it as it was and is tried again next tick.
    results.shownFor = null;
  } finally {
    results.loading = false;
  }
}

function followResults() {
  const h = state.health;
  const stopped = !!h && h.collector === 'stopped' && state.conn === 'ok';
  if (!stopped) {
    if (!$('results').hidden && h && h.collector === 'running') { $('results').hidden = true; delete body.dataset.results; results.shownFor = null; }
    return;
  }
  if (results.shownFor !== state.generation) showResults();
}

// ---- record / stop ----------------------------------------------------------------------------
const rec = { available: null, from: null, gen: null, to: null, why: '' };
const recBtn = $('rec-btn'), recState = $('rec-state');

function recDisable(reason) {
  rec.available = false;
  rec.why = reason;
  $('rec').hidden = false;
  recBtn.disabled = true;
  recBtn.title = reason;
  recState.textContent = 'recording off: ' + reason;
  body.dataset.record = 'off';
}

/// Asked on the first click, not on load: a server without --recordings answers 404 here, and
/// a page that merely shows the control should not log a failed request.
async function checkRecordings() {
  try {
    await getJSON('/api/recordings');
    rec.available = true;
  } catch (e) {
    if (e instanceof HttpError) recDisable(e.message);
    else recState.textContent = 'server unreachable: ' + e.message;
  }
}

function defaultName() {
  const d = new Date();
  const p = (n) => String(n).padStart(2, '0');
  return 'run-' + d.getFullYear() + p(d.getMonth() + 1) + p(d.getDate()) + '-' + p(d.getHours()) + p(d.getMinutes()) + p(d.getSeconds());
}

function startRecording() {
  if (state.next == null) return;
  rec.from = state.next + 1; rec.gen = state.generation; rec.to = null;
  recBtn.textContent = '■ Stop';
  recBtn.setAttribute('aria-pressed', 'true');
  recState.textContent = 'recording from sample ' + rec.from + '…';
  $('rec-save').hidden = true; $('rec-done').hidden = true;
  body.dataset.record = 'recording';
}

function stopRecording() {
  recBtn.textContent = '● Record';
  recBtn.setAttribute('aria-pressed', 'false');
  if (state.generation !== rec.gen) {
    recState.textContent = 'not saved: the collector restarted while recording';
    body.dataset.record = 'ready';
    return;
  }
  rec.to = state.next;
  if (rec.to == null || rec.to < rec.from) { rec.to = null; recState.textContent = 'nothing recorded yet'; body.dataset.record = 'ready'; return; }
  recState.textContent = '';
  $('rec-range').textContent = rec.from + '–' + rec.to + ' (' + (rec.to - rec.from + 1) + ')';
  $('rec-name').value = defaultName();
  $('rec-save').hidden = false;
  body.dataset.record = 'stopped';
  $('rec-name').focus();
}

async function save(e) {
  e.preventDefault();
  const name = $('rec-name').value.trim();
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) { recState.textContent = 'a name is 1–64 letters, digits, dot, dash or underscore'; return; }
  const q = new URLSearchParams({ name, generation: rec.gen, from: String(rec.from), to: String(rec.to) });
  try {
    const r = await getJSON('/api/recordings?' + q, 'POST');
    $('rec-save').hidden = true;
    body.dataset.record = 'saved';
    body.dataset.recordName = r.name;
    recState.textContent = '';
    await offerCompare(r.name, r.samples);
  } catch (err) {
    if (err instanceof HttpError && err.status === 403) { $('rec-save').hidden = true; recDisable(err.message); return; }
    const what = err instanceof HttpError ? {
      400: 'refused: ', 409: 'a recording of that name exists: ', 410: 'those samples are no longer held: ',
    }[err.status] || 'not saved (' + err.status + '): ' : 'not saved, server unreachable: ';
    recState.textContent = what + err.message;
    body.dataset.record = 'error';
    if (err instanceof HttpError && err.status === 410) $('rec-save').hidden = true;
  }
}

async function offerCompare(name, samples) {
  const box = $('rec-done');
  box.textContent = '';
  const saved = document.createElement('span');
  saved.textContent = 'saved ' + name + (typeof samples === 'number' ? ' (' + samples + ' samples)' : '');
  box.append(saved);
  let others = [];
  try { others = ((await getJSON('/api/recordings')).recordings || []).map((r) => r.name).filter((n) => n !== name); } catch (_) { /* offer none */ }
  if (others.length) {
    const label = document.createElement('label');
    label.append('compare with ');
    const sel = document.createElement('select'); sel.id = 'rec-compare';
    for (const n of others) { const o = document.createElement('option'); o.value = o.textContent = n; sel.appendChild(o); }
    label.append(sel);
    const go = document.createElement('a'); go.className = 'btn'; go.id = 'rec-compare-link'; go.textContent = 'Compare';
    const href = () => { go.href = '/compare.html?' + new URLSearchParams({ a: sel.value, b: name }); };
    sel.addEventListener('change', href); href();
    box.append(label, go);
  } else {
    const a = document.createElement('a'); a.href = '/compare.html'; a.textContent = 'no other recording to compare with yet';
    box.append(' · ', a);
  }
  const close = document.createElement('button'); close.type = 'button'; close.className = 'btn'; close.textContent = 'Dismiss';
  close.addEventListener('click', () => { box.hidden = true; });
  box.append(close);
  box.hidden = false;
}

recBtn.addEventListener('click', async () => {
  if (!state) return;
  if (rec.available === null) await checkRecordings();
  if (!rec.available) return;
  if (recBtn.getAttribute('aria-pressed') === 'true') stopRecording(); else startRecording();
});
$('rec-save').addEventListener('submit', save);
$('rec-discard').addEventListener('click', () => { $('rec-save').hidden = true; body.dataset.record = 'ready'; });

document.addEventListener('perfring:state', (e) => {
  state = e.detail;
  if (state.conn !== 'ok') return;
  if ($('rec').hidden && rec.available !== false) {
    $('rec').hidden = false;
    recBtn.title = 'save the samples from now until Stop as a recording on the server';
    body.dataset.record = 'ready';
  }
  if (recBtn.getAttribute('aria-pressed') === 'true') {
    const n = state.next != null && state.generation === rec.gen ? state.next - rec.from + 1 : 0;
    recState.textContent = state.generation === rec.gen ? 'recording · ' + Math.max(0, n) + ' samples' : 'the collector restarted: Stop discards this recording';
  }
  followResults();
});
