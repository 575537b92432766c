// perfring dashboard: loads the history from /api/data, then follows the live stream
// (/api/stream, server-sent events, each sample as it is written), falling back to polling
// /api/data?since=… once a second while the stream is down; every chart shares one time axis.
// No build step, no external requests; Chart.js 3.x is served from /vendor.
//
// ES modules, one concern each: this one (the data flow: history, stream, polling; scope,
// availability, tiles and readouts), charts.js (the chart cards), metrics.js (what is charted), store.js (samples and decimation), api.js
// (requests), format.js (numbers), header.js (header and banners), controls.js (pause, window,
// zoom, hover), phases.js (the phase band), run.js (results panel, record / compare),
// heatmap.js (per CPU), alerts.js.
// The others follow this one through its 'perfring:state' event.
//
// Honesty rules: an unavailable value (null) is never drawn as zero. It becomes a break in the
// line (NaN in the store, {x, y:null} in the chart), and a chart whose inputs are unavailable on
// this machine says so in place. Lost records, collector restarts and samples more than three
// intervals apart also break the lines.
//
// Decimation: Chart.js's built-in LTTB treats null as 0 and can drop break points, so lost data
// would be bridged by a straight line. We run LTTB ourselves over time-aligned buckets that keep
// breaks (see decimate()), which also makes a redraw cost O(pixels), not O(samples).
//
// State for tests, on <body>: data-samples (samples received), data-charts / data-charts-expected,
// data-state (live|stalled|stopped|absent|no-data|unreachable|connecting), data-conn,
// data-errors (JSON list of caught errors), data-unavailable (comma-separated event names),
// data-update-ms / -median / -p95 (script time of live updates: append + decimate + redraw),
// data-load-ms, data-updates, data-breaks, data-zoomed, data-paused, data-fast-path, data-phases
// (phase segments drawn in the band), data-scope (process|system). The timing benchmark lives in
// the test harness (scripts/browser_check.py serves the page an hour of synthetic data).
import { fmtVal, clock } from './format.js';
import { Store, lowerBound, toColumns as columnsOf } from './store.js';
import { HttpError, NetError, getJSON } from './api.js';
import { updateStatus, updateMeta, updateUnavailBanner, showConnBanner, targetText } from './header.js';
import { CHARTS, TILES, EVENT_DEPS, OS_REASONS, FIELDS } from './metrics.js';
import { initControls } from './controls.js';
import { initCharts, cards, chartsEl, createCard, readTheme, applyColors, applyAvailability, reasonText, renderCard, usesFastPath } from './charts.js';
import { recordPageErrors } from './pageerrors.js';
import { initPhases, phaseScope, renderPhases, pollPhases, setupPhaseBand } from './phases.js';

(() => {
  const body = document.body;

  // ---- errors exposed for tests (fetch failures are state, not errors) ----
  const recordError = recordPageErrors(body);

  if (typeof window.Chart !== 'function') {
    recordError('Chart.js did not load from /vendor/chart.min.js');
    const b = document.getElementById('banner-conn');
    b.textContent = 'Chart.js did not load from /vendor/chart.min.js: install libjs-chart.js on the server.';
    b.hidden = false;
    return;
  }
  const Chart = window.Chart;

  // ---- constants ----
  const WINDOWS = [60, 300, 900, 3600];
  const MAX_POINTS = 80000;          // 1 h at 50 ms; at faster intervals long windows show the newest part
  const POLL_MS = 1000;
  const POLL_LIMIT = 5000;
  const BACKOFF_MIN = 500, BACKOFF_MAX = 5000;

  const params = new URLSearchParams(location.search);

  // ---- state ----
  const st = {
    windowMs: 300000, paused: false, frozen: null, zoom: null,
    interval: 100, generation: null, next: null, meta: null, fieldInfo: null, health: null,
    useFieldsParam: true, needMeta: true, needHistory: true,
    conn: 'connecting', failures: 0, skew: 0, skewKnown: false,
    samples: 0, hoverT: null, bufferedWhilePaused: 0,
    unavail: new Map(),   // field key -> [[event name or null, reason], ...]
    updateTimes: [],
  };
  const reasonCache = new Map();   // field key -> its "why unavailable" sentence
  // Preferences survive a reload when storage is allowed; nothing depends on them.
  const prefs = {
    get(k) { try { return window.localStorage.getItem('perfring.' + k); } catch (_) { return null; } },
    set(k, v) { try { window.localStorage.setItem('perfring.' + k, v); } catch (_) { /* private mode */ } },
  };
  const saved = parseInt(prefs.get('window') || '', 10);
  if (WINDOWS.includes(saved)) st.windowMs = saved * 1000;
  const qw = parseInt(params.get('window') || '', 10);
  if (WINDOWS.includes(qw)) st.windowMs = qw * 1000;

  const store = new Store(FIELDS, MAX_POINTS);
  // The store plus the counters the page shows for tests (data-samples, data-breaks).
  function appendColumns(cols, breakFirst) {
    const breaks = store.breaks;
    const added = store.append(cols, breakFirst, st.interval);
    st.samples += added;
    body.dataset.samples = String(st.samples);
    if (store.breaks !== breaks) body.dataset.breaks = String((+body.dataset.breaks || 0) + store.breaks - breaks);
    return added;
  }
  const clearStore = () => store.clear();
  const trimStore = (minTime) => store.trim(minTime);







  // ---- scope: in process scope the target's charts and counters lead, the machine follows ----
  const targetEl = document.getElementById('charts-target');
  let scopeShown = null;
  function isProcessScope() {
    const m = st.meta;
    if (!m) return false;
    if (m.mode === 'pid' || m.mode === 'command') return true;
    return m.mode === 'replay' && phaseScope() === 'process';
  }
  /// A replayed recording of a process without the target's own figures (perf stat has none)
  /// does not lead with empty cards: its counters do.
  function hideAbsentTargetCharts() {
    if (!scopeShown) return;
    for (const c of cards) {
      if (c.def.scope !== 'target') continue;
      c.off = isReplay() && c.unavailable;
      c.el.hidden = c.off;
    }
  }
  function applyScope() {
    const proc = isProcessScope();
    const title = document.getElementById('target-title');
    if (proc) title.textContent = 'Target · ' + targetText(st.meta);
    if (proc === scopeShown) return;
    scopeShown = proc;
    for (const c of cards) {
      c.off = !proc && c.def.scope === 'target';
      c.el.hidden = c.off;
      (proc && c.def.scope !== 'machine' ? targetEl : chartsEl).appendChild(c.el);
    }
    targetEl.hidden = title.hidden = !proc;
    document.getElementById('machine-title').hidden = !proc;
    for (const tile of tileEls) tile.el.hidden = !!tile.def.scope && tile.def.scope !== (proc ? 'target' : 'machine');
    body.dataset.scope = proc ? 'process' : 'system';
    hideAbsentTargetCharts();
    renderAll();
  }



  // ---- availability ----
  function eventByKey(key) {
    const evs = st.meta && st.meta.events;
    if (!evs) return null;
    return evs.find((e) => (e.key || String(e.name).replace(/-/g, '_')) === key) || null;
  }
  function isReplay() { return !!(st.meta && st.meta.mode === 'replay'); }
  function computeAvailability() {
    st.unavail.clear();
    reasonCache.clear();
    const fi = new Map((st.fieldInfo || []).map((f) => [f.key, f]));
    for (const key of FIELDS) {
      if (key === 'gap') continue;
      const deps = EVENT_DEPS[key];
      if (deps && st.meta && st.meta.events) {
        const bad = deps.map(eventByKey).filter((e) => e && e.status !== 'counting');
        if (bad.length) {
          st.unavail.set(key, bad.map((e) => [e.name, e.reason || e.status]));
          continue;
        }
      }
      const f = fi.get(key);
      if (isReplay()) {
        // A replayed recording has the figures it has: one without any is not in it (perf
        // stat has no OS signals), whatever this machine reports.
        if ((f && f.available === false) || (store.t.length && !store.seen.has(key))) st.unavail.set(key, [[null, 'not in this recording']]);
      } else if (f && f.available === false) {
        const pre = key.startsWith('psi_') ? 'psi' : key;
        st.unavail.set(key, [[null, OS_REASONS[pre] || ((f.help || key) + ' is not reported by this machine')]]);
      }
    }
  }
  function unavailReason(key) {
    const p = st.unavail.get(key);
    if (!p) return null;
    if (!reasonCache.has(key)) reasonCache.set(key, reasonText(p));
    return reasonCache.get(key);
  }

  // ---- rendering ----
  function viewRange() {
    if (st.zoom) return st.zoom;
    if (st.frozen) return st.frozen;
    // A replay shows its recording whole: from the start of its first interval to its end;
    // so does a stopped run that fits in the window (a command that ran for 20 s).
    const whole = isReplay() || (st.health && st.health.collector === 'stopped' && store.t.length &&
      store.last - store.t[0] < st.windowMs);
    if (whole && store.t.length) return { min: store.t[0] - st.interval, max: Math.max(store.t[store.t.length - 1], store.t[0]) };
    let now = Math.round(Date.now() + st.skew);   // whole ms: the span, and so the buckets, stay the same
    const last = store.last;
    if (last !== null && last > now) now = last;
    // A process's run starts at its first sample: a 20 s command fills the charts, not the
    // right edge of a 5 min window.
    let min = now - st.windowMs;
    if (isProcessScope() && store.t.length) min = Math.min(now - 10 * st.interval, Math.max(min, store.t[0] - st.interval));
    return { min, max: now };
  }
  function renderAll() {
    const view = viewRange();
    const t = store.t;
    chartsEl.classList.toggle('is-empty', t.length === 0);
    targetEl.classList.toggle('is-empty', t.length === 0);
    const i0 = Math.max(0, lowerBound(t, view.min) - 1);
    const i1 = Math.min(t.length, lowerBound(t, view.max) + 1);
    for (const card of cards) {
      // Charts scrolled out of sight are brought up to date when they come back (see the
      // IntersectionObserver below).
      if (card.unavailable || card.off) continue;
      if (!card.visible) { card.stale = true; continue; }
      renderCard(card, view, i0, i1);
    }
    renderPhases();
    updateReadouts();
  }

  function nearestIndex(time) {
    const t = store.t;
    if (!t.length) return -1;
    let i = lowerBound(t, time);
    if (i >= t.length) i = t.length - 1;
    if (i > 0 && time - t[i - 1] < t[i] - time) i--;
    return Math.abs(t[i] - time) <= 2 * st.interval ? i : -1;
  }
  function valueText(key, unit, idx) {
    const r = unavailReason(key);
    if (r) return { text: 'n/a', title: 'not available on this machine: ' + r, na: true };
    if (idx < 0) return { text: '–', title: 'no sample at this time', na: true };
    const v = store.v[key][idx];
    if (v !== v) return { text: 'n/a', title: 'no value in this sample (lost records, or the counter did not run)', na: true };
    return { text: fmtVal(unit, v), title: '', na: false };
  }
  function updateReadouts() {
    const latest = store.t.length - 1;
    const at = st.hoverT != null ? nearestIndex(st.hoverT) : (st.frozen || st.zoom ? nearestIndex(viewRange().max) : latest);
    for (const card of cards) {
      for (const it of card.legendItems) {
        const r = valueText(it.key, it.unit, at);
        if (it.val.textContent !== r.text) it.val.textContent = r.text;
      }
    }
    for (const tile of tileEls) {
      // A stopped run's last record may lack what ended with it (the target's figures after it
      // exited): its tiles keep the last value it had, not a blank.
      let at = latest;
      if (st.health && st.health.collector === 'stopped') {
        const col = store.v[tile.def.key];
        for (let i = latest; i >= 0 && i > latest - 50; i--) if (col[i] === col[i]) { at = i; break; }
      }
      const r = valueText(tile.def.key, tile.def.unit, at);
      if (tile.val.textContent !== r.text) tile.val.textContent = r.text;
      tile.val.classList.toggle('is-na', r.na);
      const title = tile.def.help + (r.title ? ' — ' + r.title : '');
      if (tile.el.title !== title) tile.el.title = title;
    }
    const hint = document.getElementById('view-hint');
    if (st.hoverT != null) hint.textContent = 'at ' + clock(st.hoverT, true, true);
    else if (st.zoom) hint.textContent = 'zoomed ' + clock(st.zoom.min, true) + ' – ' + clock(st.zoom.max, true) + ' · live scroll paused · double-click to reset';
    else if (st.paused) hint.textContent = 'paused' + (st.bufferedWhilePaused ? ' · ' + st.bufferedWhilePaused + ' new samples waiting' : '') + ' · drag to zoom';
    else hint.textContent = 'drag across a chart to zoom · double-click to reset';
  }
  // Script time of one update: append (measured by the caller) + decimate + redraw + readouts.
  // Live updates feed the rolling figures; loading a window's history is reported apart.
  function timedRender(extraMs, live) {
    const t0 = performance.now();
    renderAll();
    const ms = performance.now() - t0 + (extraMs || 0);
    if (!live) { body.dataset.loadMs = ms.toFixed(2); return ms; }
    st.updateTimes.push(ms);
    if (st.updateTimes.length > 30) st.updateTimes.shift();
    body.dataset.updateMs = ms.toFixed(2);
    body.dataset.updateMsP95 = p95(st.updateTimes).toFixed(2);
    body.dataset.updateMsMedian = median(st.updateTimes).toFixed(2);
    body.dataset.updates = String((+body.dataset.updates || 0) + 1);
    body.dataset.fastPath = usesFastPath() ? '1' : '0';
    return ms;
  }
  function median(a) {
    if (!a.length) return 0;
    const s = a.slice().sort((x, y) => x - y);
    return s[Math.floor(s.length / 2)];
  }
  function p95(a) {
    if (!a.length) return 0;
    const s = a.slice().sort((x, y) => x - y);
    return s[Math.min(s.length - 1, Math.ceil(s.length * 0.95) - 1)];
  }

  // ---- tiles ----
  const tileEls = TILES.map((def) => {
    const el = document.createElement('div');
    el.className = 'tile';
    const l = document.createElement('div'); l.className = 'tile-label'; l.textContent = def.label;
    const v = document.createElement('div'); v.className = 'tile-val'; v.textContent = '–';
    el.append(l, v);
    document.getElementById('tiles').appendChild(el);
    return { def, el, val: v };
  });

  // ---- networking ----
  async function getData(q) {
    const u = new URLSearchParams(q);
    u.set('format', 'columns');
    if (st.useFieldsParam) {
      // Only what this ring has (a replay holds what its recording held): a field it lacks is a 400.
      const known = st.fieldInfo ? new Set(st.fieldInfo.map((f) => f.key)) : null;
      u.set('fields', (known ? FIELDS.filter((k) => known.has(k)) : FIELDS).join(','));
    }
    try {
      return await getJSON('/api/data?' + u);
    } catch (e) {
      if (e instanceof HttpError && e.status === 400 && st.useFieldsParam) {   // older server without a field: ask for all
        st.useFieldsParam = false;
        return getData(q);
      }
      throw e;
    }
  }
  async function loadMeta() {
    const [meta, fields, health] = await Promise.all([
      getJSON('/api/events'),
      getJSON('/api/fields').catch((e) => { if (e instanceof HttpError && e.status !== 503) return null; throw e; }),
      getJSON('/api/health'),
    ]);
    st.meta = meta; st.fieldInfo = Array.isArray(fields) ? fields : null; st.health = health;
    if (meta.interval_ms) st.interval = meta.interval_ms;
    st.needMeta = false;
    updateMeta(st);
    computeAvailability();
    for (const c of cards) applyAvailability(c);
    hideAbsentTargetCharts();
    updateUnavailBanner(st);
    applyScope();
  }
  function noteSkew(h) {
    const last = store.t.length ? store.t[store.t.length - 1] : null;
    if (!h || h.newest_age_ms == null || last === null) return;
    const est = last + h.newest_age_ms - Date.now();
    st.skew = st.skewKnown ? 0.7 * st.skew + 0.3 * est : est;
    st.skewKnown = true;
  }
  /// A replay's figures arrive record by record: availability follows what has been seen.
  function refreshReplayAvailability() {
    if (!isReplay() || !store.seenChanged) return;
    store.seenChanged = false;
    computeAvailability();
    for (const c of cards) applyAvailability(c);
    hideAbsentTargetCharts();
  }
  async function loadHistory() {
    const limit = isReplay() ? MAX_POINTS : Math.min(MAX_POINTS, Math.ceil(st.windowMs / Math.max(1, st.interval)) + 2);
    const d = await getData({ limit });
    const health = await getJSON('/api/health');
    const t0 = performance.now();
    clearStore();
    appendColumns(columnsOf(d, FIELDS), false);
    st.generation = d.generation; st.next = d.next; st.needHistory = false; st.health = health;
    store.seenChanged = true;
    refreshReplayAvailability();
    noteSkew(health);
    timedRender(performance.now() - t0, false);
  }
  let catchUp = false;
  async function poll() {
    const [d, health] = await Promise.all([getData({ since: st.next, limit: POLL_LIMIT }), getJSON('/api/health')]);
    st.health = health;
    const genChanged = st.generation != null && d.generation != null && d.generation !== st.generation;
    if (genChanged && !d.reset) { st.needHistory = true; st.needMeta = true; catchUp = true; return; }
    const cols = columnsOf(d, FIELDS);
    if (d.reset || genChanged) st.needMeta = true;
    if (d.generation != null) st.generation = d.generation;
    if (d.next != null) st.next = d.next;
    catchUp = (cols.time_ms || []).length >= POLL_LIMIT;
    refreshReplayAvailability();
    noteSkew(health);
    applyColumns(cols, !!(d.gap || d.reset || genChanged));
  }

  // Appends new rows, then trims and redraws (or only counts them while paused).
  function applyColumns(cols, breakFirst) {
    const t0 = performance.now();
    const n = appendColumns(cols, breakFirst);
    if (st.paused) {
      st.bufferedWhilePaused += n;
      const keep = st.frozen.min;
      trimStore(Math.min(keep, (store.t.length ? store.t[store.t.length - 1] : 0) - 2 * 3600000));
      updateReadouts();
      return;
    }
    const v = viewRange(), liveMin = (store.t.length ? store.t[store.t.length - 1] : 0) - st.windowMs;
    trimStore(st.zoom ? Math.min(st.zoom.min, liveMin) : v.min);
    if (!catchUp) timedRender(performance.now() - t0, true);
  }

  // ---- the live stream: each sample pushed as it is written; polling covers what it misses ----
  // Samples arrive in order with id "generation:seq"; any already held (seq <= st.next) are
  // dropped, a hole (a gap event, a seq beyond st.next + 1) is filled by one poll of /api/data,
  // and a new generation reloads the history. While the stream is down the browser reconnects
  // by itself (resuming with Last-Event-ID) and polling carries on meanwhile.
  const STREAM_FLUSH_MS = 100;
  const live = { es: null, open: false, pending: [], flushTimer: 0, closes: 0 };
  function openStream() {
    if (live.es || typeof EventSource === 'undefined' || live.closes >= 3) return;
    const es = new EventSource('/api/stream');
    live.es = es;
    const queue = (ev) => {
      live.pending.push(ev);
      if (!live.flushTimer) live.flushTimer = setTimeout(flushStream, STREAM_FLUSH_MS);
    };
    es.addEventListener('open', () => { live.open = true; body.dataset.stream = 'open'; });
    es.addEventListener('sample', (e) => {
      const id = e.lastEventId || '';
      let s = null;
      try { s = JSON.parse(e.data); } catch (_) { return; }
      queue({ gen: id.slice(0, id.lastIndexOf(':')), s });
    });
    es.addEventListener('gap', () => queue({ gap: true }));
    es.addEventListener('error', () => {
      live.open = false;
      body.dataset.stream = 'down';
      if (es.readyState === 2) { live.es = null; live.closes++; }  // CLOSED: the browser gave up
    });
  }
  function flushStream() {
    live.flushTimer = 0;
    if (busy || st.needHistory || st.next == null) { live.flushTimer = setTimeout(flushStream, STREAM_FLUSH_MS); return; }
    const batch = live.pending;
    live.pending = [];
    const rows = [];
    let next = st.next;
    for (let k = 0; k < batch.length; k++) {
      const ev = batch[k];
      if (ev.gap || ev.gen !== st.generation || ev.s.seq > next + 1) {
        // A hole or another run: the poll (or history load) the tick makes now settles it.
        if (!ev.gap && ev.gen !== st.generation) { st.needHistory = true; st.needMeta = true; }
        live.pending = batch.slice(ev.gap ? k + 1 : k).concat(live.pending);
        kick();
        break;
      }
      if (ev.s.seq <= next) continue;
      rows.push(ev.s);
      next = ev.s.seq;
    }
    if (rows.length) {
      st.next = next;
      applyColumns(columnsOf({ samples: rows }, FIELDS), false);
    }
    if (live.pending.length && !live.flushTimer) live.flushTimer = setTimeout(flushStream, STREAM_FLUSH_MS);
  }

  let timer = 0, busy = false, again = false;
  function kick() { clearTimeout(timer); timer = setTimeout(tick, 0); }
  async function tick() {
    if (busy) { again = true; return; }
    busy = true;
    let delay = POLL_MS;
    try {
      if (st.needMeta || !st.meta) await loadMeta();
      if (st.needHistory || st.next == null) { await loadHistory(); openStream(); }
      else if (live.open && !live.pending.length) { st.health = await getJSON('/api/health'); noteSkew(st.health); }
      else await poll();
      if (st.conn !== 'ok') showConnBanner('');
      st.conn = 'ok'; st.failures = 0;
      if (catchUp) delay = 0;
    } catch (e) {
      if (e instanceof HttpError && e.status === 503) {
        // No ring yet or no sample yet: the server is up, the collector is not.
        st.conn = 'no-data'; st.failures = 0; st.needMeta = true;
        try { st.health = await getJSON('/api/health'); } catch (_) { /* state only */ }
        const re = st.health && st.health.ring_error;
        showConnBanner('No data yet: ' + (re || e.message) + ' — waiting for the collector.', 'warn');
      } else if (e instanceof HttpError) {
        st.failures++;
        delay = Math.min(BACKOFF_MAX, BACKOFF_MIN * 2 ** (st.failures - 1));
        st.conn = 'error';
        showConnBanner('Server error (' + e.status + ': ' + e.message + ') — retrying in ' + (delay / 1000).toFixed(1) + ' s');
      } else if (e instanceof NetError) {
        st.failures++;
        delay = Math.min(BACKOFF_MAX, BACKOFF_MIN * 2 ** (st.failures - 1));
        st.conn = 'unreachable'; st.needMeta = true;
        showConnBanner('Server unreachable — retrying in ' + (delay / 1000).toFixed(1) + ' s (attempt ' + st.failures + '). The charts keep what was already received.');
      } else {
        recordError(e && e.stack ? e.stack : String(e));
        st.failures++;
        delay = Math.min(BACKOFF_MAX, BACKOFF_MIN * 2 ** (st.failures - 1));
      }
    } finally {
      busy = false;
      updateStatus(st);
      announce();
      clearTimeout(timer);
      timer = setTimeout(tick, again ? 0 : delay);
      again = false;
    }
  }

  // The other parts of the page (run.js: results and recording; heatmap.js) follow the run
  // through this event, not through this module's state.
  function announce() {
    document.dispatchEvent(new CustomEvent('perfring:state', { detail: {
      meta: st.meta, health: st.health, generation: st.generation, next: st.next,
      interval: st.interval, windowMs: st.windowMs, conn: st.conn,
      first: store.t.length ? store.t[0] : null, last: store.last,
    } }));
  }

  // ---- theme changes and resizes ----
  function retheme() {
    readTheme();
    for (const c of cards) applyColors(c);
    renderAll();
  }
  const mq = window.matchMedia('(prefers-color-scheme: dark)');
  if (mq.addEventListener) mq.addEventListener('change', retheme);
  let resizeTimer = 0;
  window.addEventListener('resize', () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(renderAll, 150); });

  // ---- start ----
  readTheme();
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  body.dataset.chartsExpected = String(CHARTS.length);
  initCharts({ st, store, prefs, viewRange, renderAll, isReplay });
  initControls({ st, cards, renderAll, updateReadouts, viewRange, updateStatus: () => updateStatus(st), kick, prefs });
  for (const def of CHARTS) createCard(def);
  updateStatus(st);
  initPhases({ st, store, viewRange, onScope: applyScope, recordError });
  setupPhaseBand();
  tick();
  pollPhases();
})();
