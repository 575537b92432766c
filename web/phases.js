// The phase timeline band: /api/phases drawn on the charts' time range.
import { HttpError, NetError, getJSON } from './api.js';
import { UNITS, sig3, clock, fmtDur } from './format.js';

const $ = (id) => document.getElementById(id);
const body = document.body;
/// What the band needs of the page: st (skew, health), store, viewRange(), onScope() (the
/// phases' scope changed), recordError(). Set once by initPhases before anything is drawn.
let ctx = null;
export function initPhases(c) { ctx = c; }
/// 'process' or 'system' as the server's phase analysis found (a replay's scope), or undefined.
export function phaseScope() { return phaseSt.scope; }

// One segment per phase, coloured by class (--phase-* CSS variables); the open phase runs to
// now while the collector is live, and otherwise ends at its last sample (a stopped collector
// or a finished replay adds nothing after it). Drawn from renderAll(), so it follows window,
// zoom and pause exactly like the charts.
// A server without /api/phases (non-200) gets no band at all; nothing is made up.
const PHASE_POLL_MS = 2000;
const PHASE_CLASSES = ['idle', 'compute-bound', 'memory-bound', 'branch-bound', 'io-bound', 'contention', 'mixed'];
const PHASE_FIGS = [
  ['cpi', 'CPI', ''], ['cpus_busy', 'CPUs busy', ''], ['cpu_util', 'CPU', '%'], ['cache_mpki', 'cache MPKI', ''],
  ['branch_mpki', 'branch MPKI', ''], ['cache_miss_rate', 'cache miss', '%'], ['branch_miss_rate', 'branch miss', '%'],
  ['cpu_iowait', 'iowait', '%'], ['psi_cpu_some', 'PSI cpu', '%'], ['psi_io_some', 'PSI io', '%'], ['psi_mem_some', 'PSI mem', '%'],
  ['context_switches_per_s', 'switches', '/s'], ['io_bytes_per_s', 'disk I/O', 'B/s'], ['net_bytes_per_s', 'network', 'B/s'],
];
const phaseSt = { list: null, pinned: null, shownId: null };
function phaseNum(v, unit) {
  if (typeof v !== 'number' || !isFinite(v)) return '–';
  if (unit === 'B/s') return UNITS.bps.val(v);
  if (unit === '/s') return UNITS.persec.val(v);
  return sig3(v) + (unit === '%' ? '%' : unit ? ' ' + unit : '');
}
function phaseNow() { return Math.round(Date.now() + ctx.st.skew); }
function phaseSpan(p) {
  const a = p.start && p.start.time_ms, b = p.end && p.end.time_ms;
  if (typeof a !== 'number') return null;
  let end = typeof b === 'number' ? b : a;
  if (p.open && ctx.st.health && ctx.st.health.collector === 'running') end = Math.max(end, phaseNow(), ctx.store.t.length ? ctx.store.t[ctx.store.t.length - 1] : 0);
  return [a, end];
}
export function renderPhases() {
  if (!ctx) return;
  const bar = $('phasebar'), band = $('phase-band');
  const list = phaseSt.list;
  if (!list) {
    bar.hidden = true;
    body.dataset.phases = '0';
    return;
  }
  bar.hidden = false;
  const view = ctx.viewRange(), span = view.max - view.min;
  const segs = [];
  for (const p of list) {
    const sp = phaseSpan(p);
    if (!sp || sp[1] < view.min || sp[0] > view.max || !(span > 0)) continue;
    const l = Math.max(0, (sp[0] - view.min) / span), r = Math.min(1, (sp[1] - view.min) / span);
    segs.push([p, l, r]);
  }
  const kids = band.children;
  while (kids.length > segs.length) band.lastChild.remove();
  while (kids.length < segs.length) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'phase-seg';
    band.appendChild(b);
  }
  const present = new Set();
  const bw = band.clientWidth || 1;
  segs.forEach(([p, l, r], i) => {
    const el = kids[i];
    const cls = PHASE_CLASSES.includes(p.class) ? p.class : 'mixed';
    present.add(cls);
    el.className = 'phase-seg ph-' + cls + (p.open ? ' is-open' : '') + (phaseSt.shownId === p.id ? ' is-shown' : '');
    el.style.left = (l * 100).toFixed(3) + '%';
    el.style.width = Math.max(0.2, (r - l) * 100).toFixed(3) + '%';
    el.dataset.id = String(p.id);
    const label = p.class + (p.open ? ' (open)' : '');
    if (el.textContent !== ((r - l) * bw > 90 ? p.class : '')) el.textContent = (r - l) * bw > 90 ? p.class : '';
    el.setAttribute('aria-label', 'phase ' + p.id + ': ' + label + ', ' + fmtDur(p.seconds));
  });
  body.dataset.phases = String(segs.length);
  const lg = $('phase-legend');
  const want = PHASE_CLASSES.filter((c) => present.has(c)).join(',');
  if (lg.dataset.classes !== want) {
    lg.dataset.classes = want;
    lg.textContent = '';
    for (const c of PHASE_CLASSES) {
      if (!present.has(c)) continue;
      const li = document.createElement('li');
      const sw = document.createElement('span'); sw.className = 'psw ph-' + c;
      li.append(sw, c);
      lg.appendChild(li);
    }
  }
  if (phaseSt.shownId != null) {
    const p = list.find((q) => q.id === phaseSt.shownId);
    if (!p) hidePhaseTip(true);
    else if (p.open) fillPhaseTip(p);   // its duration and figures move on
  }
}
function tipLine(parent, cls, text) {
  const d = document.createElement('div');
  if (cls) d.className = cls;
  d.textContent = text;
  parent.appendChild(d);
  return d;
}
function fillPhaseTip(p) {
  const tip = $('phase-tip');
  tip.textContent = '';
  const h = document.createElement('div'); h.className = 'pt-head';
  const sw = document.createElement('span'); sw.className = 'psw ph-' + (PHASE_CLASSES.includes(p.class) ? p.class : 'mixed');
  const name = document.createElement('strong'); name.textContent = p.class;
  const meta = document.createElement('span'); meta.className = 'pt-muted';
  meta.textContent = 'phase ' + p.id + (p.open ? ' · open' : '') + (p.stable === false ? ' · settling' : '');
  h.append(sw, name, meta);
  tip.appendChild(h);
  const sp = phaseSpan(p);
  const secs = p.open && sp ? (sp[1] - sp[0]) / 1000 : p.seconds;
  tipLine(tip, '', fmtDur(secs) + (sp ? ' · ' + clock(sp[0], true) + '–' + (p.open ? 'now' : clock(sp[1], true)) : '') +
    ' · confidence ' + (typeof p.confidence === 'number' ? Math.round(p.confidence * 100) + '%' : '–') +
    (p.samples ? ' · ' + p.samples + ' samples' : ''));
  if (p.note) tipLine(tip, 'pt-muted', p.note);
  const sum = p.summary || {};
  const figs = PHASE_FIGS.filter(([k]) => typeof sum[k] === 'number').slice(0, 6);
  if (figs.length) tipLine(tip, 'pt-figs', figs.map(([k, n, u]) => n + ' ' + phaseNum(sum[k], u)).join(' · '));
  const ev = Array.isArray(p.evidence) ? p.evidence : [];
  if (ev.length) {
    const ul = document.createElement('ul'); ul.className = 'pt-ev';
    for (const e of ev.slice(0, 4)) {
      const li = document.createElement('li');
      const u = e.unit === '%' ? '%' : e.unit ? ' ' + e.unit : '';
      li.textContent = e.figure + ' ' + phaseNum(e.value, '') + u + ' ' + e.relation + ' ' +
        phaseNum(e.threshold, '') + u + (e.basis ? ' — ' + e.basis : '');
      ul.appendChild(li);
    }
    tip.appendChild(ul);
  }
  const rec = p.recommendation || {};
  if (Array.isArray(rec.actions) && rec.actions.length) {
    tipLine(tip, 'pt-sub', 'Recommendation');
    const ul = document.createElement('ul'); ul.className = 'pt-rec';
    for (const a of rec.actions) { const li = document.createElement('li'); li.textContent = a; ul.appendChild(li); }
    tip.appendChild(ul);
  }
  const b = rec.speedup_bound;
  if (b && typeof b.value === 'number') {
    tipLine(tip, 'pt-bound', 'Speedup ≤ ' + b.value.toFixed(2) + '× (' + (b.kind || 'upper bound') + ')');
    tipLine(tip, 'pt-muted pt-mono', (b.formula || '') + (typeof b.f === 'number' ? ' · f = ' + sig3(b.f) : '') +
      (typeof b.w === 'number' ? ' · w = ' + sig3(b.w) : ''));
    if (b.derivation) tipLine(tip, 'pt-muted', b.derivation);
  } else if (rec.no_bound) {
    tipLine(tip, 'pt-muted', 'No speedup bound: ' + rec.no_bound);
  }
}
function showPhaseTip(id, x, pin) {
  const p = phaseSt.list && phaseSt.list.find((q) => q.id === id);
  if (!p) return;
  if (pin) phaseSt.pinned = id;
  phaseSt.shownId = id;
  fillPhaseTip(p);
  const tip = $('phase-tip'), bar = $('phasebar');
  tip.hidden = false;
  const bw = bar.clientWidth, tw = tip.offsetWidth;
  tip.style.left = Math.max(8, Math.min(bw - tw - 8, x - tw / 2)) + 'px';
  for (const el of $('phase-band').children) el.classList.toggle('is-shown', el.dataset.id === String(id));
}
function hidePhaseTip(force) {
  if (phaseSt.pinned != null && !force) return;
  phaseSt.pinned = null; phaseSt.shownId = null;
  $('phase-tip').hidden = true;
  for (const el of $('phase-band').children) el.classList.remove('is-shown');
}
export function setupPhaseBand() {
  const band = $('phase-band'), bar = $('phasebar');
  const segAt = (e) => e.target.closest && e.target.closest('.phase-seg');
  const xIn = (e) => e.clientX - bar.getBoundingClientRect().left;
  band.addEventListener('pointermove', (e) => {
    if (e.pointerType === 'touch' || phaseSt.pinned != null) return;
    const s = segAt(e);
    if (s) showPhaseTip(+s.dataset.id, xIn(e), false); else hidePhaseTip(false);
  });
  band.addEventListener('pointerleave', () => hidePhaseTip(false));
  band.addEventListener('click', (e) => {
    const s = segAt(e);
    if (!s) return;
    const id = +s.dataset.id;
    if (phaseSt.pinned === id) { hidePhaseTip(true); return; }
    const r = s.getBoundingClientRect();
    showPhaseTip(id, e.clientX ? xIn(e) : r.left + r.width / 2 - bar.getBoundingClientRect().left, true);
  });
  document.addEventListener('click', (e) => {
    if (phaseSt.pinned != null && !bar.contains(e.target)) hidePhaseTip(true);
  });
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape') hidePhaseTip(true); });
}
export async function pollPhases() {
  let delay = PHASE_POLL_MS;
  try {
    const d = await getJSON('/api/phases');
    phaseSt.list = Array.isArray(d.phases) ? d.phases : null;
    if (phaseSt.scope !== d.scope) { phaseSt.scope = d.scope; ctx.onScope(); }
  } catch (e) {
    // Older server (404) or no data yet (503): no band. Unreachable: keep what was drawn.
    if (e instanceof HttpError) { phaseSt.list = null; if (e.status === 404) delay = 10000; }
    else if (!(e instanceof NetError)) ctx.recordError(e && e.stack ? e.stack : String(e));
  }
  try { renderPhases(); } catch (e) { ctx.recordError(e && e.stack ? e.stack : String(e)); }
  setTimeout(pollPhases, delay);
}
