// perfring analyze page: a recording dropped or picked here is sent as the body of
// POST /api/analyze; the answer (the same JSON as `perfring-server analyze --json`) is shown as a
// phase band, a table of each phase's class, evidence, recommendation and speedup bound, and
// charts of each figure's per-phase mean. "Compare with …" sends this file as part a of
// POST /api/compare and another file as part b, or names a saved recording (?b=NAME).
// Nothing here fetches from another origin; what the server could not read (line and reason)
// is shown as it says it.
//
// State for tests, on <body>: data-state (idle|analyzing|done|error), data-errors (JSON list of
// caught script errors), data-phases, data-charts (charts drawn), data-compare
// (none|running|done|error).
'use strict';
import { recordPageErrors } from './pageerrors.js';

(() => {
  const body = document.body;
  const $ = (id) => document.getElementById(id);
  const recordError = recordPageErrors(body);

  const CLASSES = ['idle', 'compute-bound', 'memory-bound', 'branch-bound', 'io-bound', 'contention', 'mixed'];
  // Figures charted when the recording has them: key, title, unit.
  const FIGS = [
    ['cpi', 'CPI', ''], ['ipc', 'IPC', ''], ['cpus_busy', 'CPUs busy', ''], ['cpu_util', 'CPU', '%'],
    ['cache_mpki', 'cache MPKI', ''], ['branch_mpki', 'branch MPKI', ''], ['cache_miss_rate', 'cache miss', '%'],
    ['branch_miss_rate', 'branch miss', '%'], ['cpu_iowait', 'iowait', '%'], ['context_switches_per_s', 'switches', '/s'],
  ];
  const state = { file: null, result: null, charts: [], maxBytes: 0 };

  function setStatus(s, text, dot) {
    body.dataset.state = s;
    $('status-text').textContent = text;
    $('status-dot').className = 'dot ' + dot;
  }
  function showError(message) {
    const b = $('banner-error');
    b.textContent = message;
    b.hidden = false;
  }
  function clearBanners() {
    $('banner-error').hidden = true;
    $('banner-saved').hidden = true;
  }
  function num(v, digits) {
    if (typeof v !== 'number' || !isFinite(v)) return 'n/a';
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2);
    return String(Number(v.toFixed(digits === undefined ? (a >= 100 ? 1 : 3) : digits)));
  }
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  /// POSTs and returns the JSON answer; a non-2xx answer throws its {"error"} text.
  async function post(url, payload) {
    const res = await fetch(url, { method: 'POST', body: payload, cache: 'no-store', headers: { Accept: 'application/json' } });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error((data.error || res.statusText) + ' (HTTP ' + res.status + ')');
    return { data, res };
  }

  // MARK: analysis

  async function analyze(file) {
    clearBanners();
    if (state.maxBytes && file.size > state.maxBytes) {
      showError(file.name + ' is ' + file.size + ' bytes; this server takes up to ' + state.maxBytes + ' (--upload-limit)');
      setStatus('error', 'file too large', 'bad');
      return;
    }
    state.file = file;
    $('fact-file').textContent = file.name;
    setStatus('analyzing', 'analysing ' + file.name + '…', 'warn');
    const params = new URLSearchParams();
    const minPhase = $('min-phase').value.trim();
    if (minPhase) params.set('min_phase', minPhase);
    if ($('save').checked) params.set('save', '1');
    try {
      const { data, res } = await post('/api/analyze' + (params.toString() ? '?' + params : ''), file);
      const saved = res.headers.get('X-Saved-As');
      if (saved) {
        $('banner-saved').textContent = 'saved on the server as ' + saved;
        $('banner-saved').hidden = false;
        loadSaved();
      }
      state.result = data;
      render(data);
      setStatus('done', file.name + ': ' + data.phases.length + ' phase' + (data.phases.length === 1 ? '' : 's'), 'ok');
    } catch (e) {
      $('result').hidden = true;
      showError(file.name + ': ' + e.message);
      setStatus('error', 'could not analyse ' + file.name, 'bad');
    }
  }

  function render(data) {
    $('result').hidden = false;
    $('fact-scope').textContent = data.scope;
    $('fact-phases').textContent = String(data.phases.length);
    body.dataset.phases = String(data.phases.length);
    const phases = data.phases;
    const t0 = phases.length ? phases[0].start.time_ms : 0;
    const t1 = phases.length ? phases[phases.length - 1].end.time_ms : 0;
    const span = Math.max(t1 - t0, 1);
    $('timeline-unit').textContent = phases.length ? num((t1 - t0) / 1000) + ' s; features: ' + (data.features.join(', ') || 'none') : 'no phases: too few samples';

    const band = $('band');
    band.replaceChildren();
    const seen = new Set();
    for (const p of phases) {
      const seg = el('div', 'phase-seg ph-' + p.class, p.class);
      seg.style.left = (100 * (p.start.time_ms - t0) / span) + '%';
      seg.style.width = Math.max(100 * (p.end.time_ms - p.start.time_ms) / span, 0.2) + '%';
      seg.title = '#' + p.id + ' ' + p.class + ', ' + num(p.seconds) + ' s';
      band.append(seg);
      seen.add(p.class);
    }
    const legend = $('legend');
    legend.replaceChildren();
    for (const c of CLASSES.filter((c) => seen.has(c))) {
      const li = el('li');
      li.append(el('span', 'sw ph-' + c), c);
      legend.append(li);
    }

    const tbody = $('phases').tBodies[0];
    tbody.replaceChildren();
    for (const p of phases) {
      const tr = el('tr');
      tr.append(el('td', 'num', String(p.id)));
      tr.append(el('td', 'num', num((p.start.time_ms - t0) / 1000, 2) + '–' + num((p.end.time_ms - t0) / 1000, 2)));
      const cls = el('td');
      cls.append(el('span', 'class-chip ph-' + p.class, p.class), el('span', 'why', 'confidence ' + num(p.confidence, 2) + (p.note ? '; ' + p.note : '')));
      tr.append(cls);
      const ev = el('td');
      const evl = el('ul');
      for (const e of p.evidence) {
        const li = el('li', '', e.figure + ' ' + num(e.value) + (e.unit && e.unit !== '' ? ' ' + e.unit : '') + ' ' + e.relation + ' ' + num(e.threshold));
        li.title = e.basis;
        evl.append(li);
      }
      if (!p.evidence.length) evl.append(el('li', '', '–'));
      ev.append(evl);
      tr.append(ev);
      const rec = el('td');
      const recl = el('ul');
      for (const a of p.recommendation.actions) recl.append(el('li', '', a));
      rec.append(recl);
      tr.append(rec);
      const b = p.recommendation.speedup_bound;
      const bound = el('td', 'bound');
      if (b) {
        bound.append('≤ ' + num(b.value, 3) + '×', el('span', 'why', 'f ' + num(b.f, 3) + ', w ' + num(b.w, 3)));
        bound.title = b.formula + '; ' + b.derivation;
      } else {
        bound.append('–', el('span', 'why', p.recommendation.no_bound || ''));
      }
      tr.append(bound);
      tbody.append(tr);
    }
    drawCharts(phases, t0);
  }

  /// One chart per figure the phases have: each phase's mean as a flat segment over its time.
  function drawCharts(phases, t0) {
    for (const c of state.charts) c.destroy();
    state.charts = [];
    const box = $('charts');
    box.replaceChildren();
    if (typeof Chart === 'undefined') {
      box.append(el('p', 'why', 'Chart.js is not available on this server (libjs-chart.js): the figures are in the table above.'));
      body.dataset.charts = '0';
      return;
    }
    const css = getComputedStyle(document.documentElement);
    const ink = css.getPropertyValue('--fg').trim() || '#333';
    const grid = css.getPropertyValue('--border').trim() || '#ccc';
    for (const [key, title, unit] of FIGS) {
      if (!phases.some((p) => typeof p.summary[key] === 'number')) continue;
      const points = [];
      for (const p of phases) {
        const v = p.summary[key];
        const y = typeof v === 'number' ? v : null;
        points.push({ x: (p.start.time_ms - t0) / 1000, y }, { x: (p.end.time_ms - t0) / 1000, y }, { x: (p.end.time_ms - t0) / 1000, y: null });
      }
      const wrap = el('div', 'analyze-chart');
      wrap.append(el('h3', '', title + (unit ? ' (' + unit + ')' : '')));
      const canvas = el('canvas');
      canvas.setAttribute('role', 'img');
      canvas.setAttribute('aria-label', title + ' by phase');
      wrap.append(canvas);
      box.append(wrap);
      state.charts.push(new Chart(canvas, {
        type: 'line',
        data: { datasets: [{ data: points, borderColor: ink, borderWidth: 2, pointRadius: 0, spanGaps: false }] },
        options: {
          animation: false, responsive: true, maintainAspectRatio: false, parsing: true,
          plugins: { legend: { display: false }, tooltip: { intersect: false, mode: 'nearest' } },
          scales: {
            x: { type: 'linear', title: { display: true, text: 's' }, grid: { color: grid } },
            y: { beginAtZero: true, grid: { color: grid } },
          },
        },
      }));
    }
    body.dataset.charts = String(state.charts.length);
    if (!state.charts.length) box.append(el('p', 'why', 'no figures to chart'));
  }

  // MARK: compare

  async function compare(ev) {
    ev.preventDefault();
    if (!state.file) return;
    const other = $('compare-file').files[0];
    const saved = $('compare-saved').value;
    if (!other && !saved) {
      showError('compare: choose another file or a saved recording');
      return;
    }
    clearBanners();
    body.dataset.compare = 'running';
    const form = new FormData();
    form.append('a', state.file, state.file.name);
    if (other) form.append('b', other, other.name);
    const params = new URLSearchParams();
    if (!other) params.set('b', saved);
    const minPhase = $('min-phase').value.trim();
    if (minPhase) params.set('min_phase', minPhase);
    try {
      const { data } = await post('/api/compare' + (params.toString() ? '?' + params : ''), form);
      const tbody = $('compare-metrics').tBodies[0];
      tbody.replaceChildren();
      for (const r of data.metrics) {
        const tr = el('tr');
        tr.append(el('td', '', r.key), el('td', '', r.kind), el('td', 'num', num(r.a)), el('td', 'num', num(r.b)),
          el('td', 'num', num(r.change)), el('td', 'num', typeof r.change_pct === 'number' ? num(r.change_pct, 1) + '%' : 'n/a'));
        tbody.append(tr);
      }
      const pbody = $('compare-phases').tBodies[0];
      pbody.replaceChildren();
      for (const [label, side] of [['A', data.a], ['B', data.b]]) {
        for (const p of side.phases) {
          const tr = el('tr');
          const c = el('td');
          c.append(el('span', 'class-chip ph-' + p.class, p.class));
          tr.append(el('td', '', label + ': ' + side.name), c, el('td', 'num', num(p.seconds)), el('td', 'num', num(100 * p.share, 1) + '%'));
          pbody.append(tr);
        }
      }
      $('compare-out').hidden = false;
      body.dataset.compare = 'done';
    } catch (e) {
      showError('compare: ' + e.message);
      body.dataset.compare = 'error';
    }
  }

  /// What the server accepts (GET /api/analyze): uploads on or off, the size limit, whether it
  /// keeps recordings (then "save" is offered and its recordings are "compare with" choices).
  async function loadAbout() {
    try {
      const about = await (await fetch('/api/analyze', { cache: 'no-store' })).json();
      state.maxBytes = about.max_bytes;
      if (!about.uploads) {
        showError('Uploads are off on this server (it listens beyond loopback, or was started with --no-upload; start it with --upload).');
        $('file').disabled = true;
        $('drop-sub').textContent = 'uploads are off on this server';
        return;
      }
      $('drop-sub').textContent = 'up to ' + Math.round(about.max_bytes / 1048576 * 10) / 10 + ' MiB; nothing is kept on the server' + (about.save ? ' unless you tick “save”' : '');
      if (about.recordings) {
        $('save-label').hidden = !about.save;
        loadSaved();
      }
    } catch (e) {
      recordError(e.message);
    }
  }

  /// Saved recordings (GET /api/recordings): the "compare with" choices.
  async function loadSaved() {
    try {
      const res = await fetch('/api/recordings', { cache: 'no-store' });
      if (!res.ok) return;
      const data = await res.json();
      const sel = $('compare-saved');
      const keep = sel.value;
      sel.replaceChildren(el('option', '', '–'));
      sel.options[0].value = '';
      for (const r of data.recordings) {
        const o = el('option', '', r.name);
        o.value = r.name;
        sel.append(o);
      }
      sel.value = keep;
      $('compare-saved-label').hidden = data.recordings.length === 0;
    } catch (e) {
      recordError(e.message);
    }
  }

  // MARK: wiring

  const drop = $('drop');
  $('file').addEventListener('change', () => { const f = $('file').files[0]; if (f) analyze(f); });
  for (const type of ['dragenter', 'dragover']) {
    drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add('is-over'); });
  }
  for (const type of ['dragleave', 'drop']) {
    drop.addEventListener(type, () => drop.classList.remove('is-over'));
  }
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    const f = e.dataTransfer && e.dataTransfer.files[0];
    if (f) analyze(f);
  });
  $('compare-form').addEventListener('submit', compare);
  loadAbout();
})();
