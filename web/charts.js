// The charts: one card per chart definition (metrics.js), its views, legend and availability,
// drawn with Chart.js 3 from the store through the gap-aware decimation, on one shared time axis.
import { UNITS, clock } from './format.js';
import { decimate, lowerBound } from './store.js';
import { attachPointer } from './controls.js';

const body = document.body;
const Y_AXIS_WIDTH = 60;   // fits "100 MB/s" at 11 px
/// st, store, prefs, viewRange(), renderAll(), isReplay(); set by initCharts before the first card.
let page = null;
export function initCharts(c) {
  page = c;
  fastPath = /^3\./.test(window.Chart.version || '');
}

const theme = {};

export function readTheme() {
  const cs = getComputedStyle(document.documentElement);
  const g = (n) => cs.getPropertyValue(n).trim();
  for (const n of ['c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'fg']) theme[n] = g('--series-' + n);
  theme.grid = g('--grid'); theme.tick = g('--muted'); theme.cross = g('--cross');
}

function withAlpha(color, a) {
  const m = /^#([0-9a-f]{6})$/i.exec(color);
  if (!m) return color;
  const n = parseInt(m[1], 16);
  return 'rgba(' + (n >> 16) + ',' + ((n >> 8) & 255) + ',' + (n & 255) + ',' + a + ')';
}

const crosshair = {
  id: 'prCrosshair',
  afterDatasetsDraw(chart) {
    if (page.st.hoverT == null) return;
    const area = chart.chartArea, x = chart.scales.x.getPixelForValue(page.st.hoverT);
    if (!(x >= area.left && x <= area.right)) return;
    const ctx = chart.ctx;
    ctx.save();
    ctx.strokeStyle = theme.cross; ctx.lineWidth = 1; ctx.setLineDash([3, 3]);
    ctx.beginPath(); ctx.moveTo(Math.round(x) + 0.5, area.top); ctx.lineTo(Math.round(x) + 0.5, area.bottom); ctx.stroke();
    ctx.restore();
  },
};

const TIME_STEPS = [100, 200, 500, 1e3, 2e3, 5e3, 10e3, 15e3, 30e3, 60e3, 120e3, 300e3, 600e3, 900e3, 1800e3, 3600e3, 7200e3];

function buildTimeTicks(scale) {
  const min = scale.min, max = scale.max, span = max - min;
  // Labels with seconds ("12:34:56") need ~80 px each, minute labels ("12:34") ~50 px.
  const pick = (px) => {
    const want = Math.max(2, Math.floor((scale.width || 300) / px));
    return TIME_STEPS.find((s) => span / s <= want) || TIME_STEPS[TIME_STEPS.length - 1];
  };
  let step = pick(80);
  if (step >= 60000) step = Math.max(60000, pick(50));
  const off = new Date(min).getTimezoneOffset() * -60000;   // local = utc + off
  const ticks = [];
  for (let t = Math.ceil((min + off) / step) * step - off; t <= max && ticks.length < 50; t += step) ticks.push({ value: t });
  scale.ticks = ticks;
  scale.prStep = step;
}

function timeTickLabel(value) {
  const step = this.prStep || 1000;
  return clock(value, step < 60000, step < 1000);
}

export const cards = [];

const visibility = 'IntersectionObserver' in window ? new IntersectionObserver((entries) => {
  let due = false;
  for (const e of entries) {
    const card = cards.find((c) => c.el === e.target);
    if (!card) continue;
    card.visible = e.isIntersecting;
    if (card.visible && card.stale) due = true;
  }
  if (due) {
    const view = page.viewRange(), t = page.store.t;
    const i0 = Math.max(0, lowerBound(t, view.min) - 1), i1 = Math.min(t.length, lowerBound(t, view.max) + 1);
    for (const c of cards) if (c.visible && c.stale && !c.unavailable) renderCard(c, view, i0, i1);
  }
}, { rootMargin: '150px 0px' }) : null;

export const chartsEl = document.getElementById('charts');

const tpl = document.getElementById('chart-card');

let chartsCreated = 0;

export function createCard(def) {
  const frag = tpl.content.cloneNode(true);
  const card = {
    def, view: 0, el: frag.querySelector('.card'),
    title: frag.querySelector('.card-title'), unit: frag.querySelector('.card-unit'), tools: frag.querySelector('.card-tools'),
    legend: frag.querySelector('.legend'), plot: frag.querySelector('.plot'),
    canvas: frag.querySelector('canvas'), box: frag.querySelector('.select-box'),
    na: frag.querySelector('.na-box'), naReason: frag.querySelector('.na-reason'),
    legendItems: [], hidden: new Set(), unavailable: false, visible: true, stale: false, needFull: true,
  };
  card.el.id = 'chart-' + def.id;
  const saved = page.prefs.get('view.' + def.id);
  const vi = def.views.findIndex((v) => v.name === saved);
  if (vi >= 0) card.view = vi;
  if (def.views.length > 1) {
    const seg = document.createElement('div');
    seg.className = 'seg small';
    seg.setAttribute('role', 'group');
    def.views.forEach((v, i) => {
      const b = document.createElement('button');
      b.type = 'button'; b.textContent = v.name;
      b.addEventListener('click', () => {
        card.view = i; page.prefs.set('view.' + def.id, v.name);
        setupView(card); page.renderAll();
      });
      seg.appendChild(b);
    });
    card.tools.appendChild(seg);
  }
  chartsEl.appendChild(frag);
  card.chart = new window.Chart(card.canvas, {
    type: 'line',
    data: { datasets: [] },
    options: {
      animation: false, responsive: true, maintainAspectRatio: false,
      parsing: false, normalized: true, spanGaps: false, events: [],
      layout: { padding: { top: 4, right: 6 } },
      elements: { point: { radius: 0, hoverRadius: 0, hitRadius: 0 }, line: { borderWidth: 1.5, tension: 0 } },
      // Plugins we do not use are switched off outright: Chart.js 3 rebuilds hidden legends on
      // every update, and the filler only matters for filled (area) charts.
      plugins: { legend: false, tooltip: false, decimation: false, title: false, subtitle: false, filler: false },
      scales: {
        x: {
          type: 'linear', min: 0, max: 1, afterBuildTicks: buildTimeTicks,
          grid: { color: theme.grid, drawBorder: false, tickLength: 4 },
          ticks: { color: theme.tick, maxRotation: 0, autoSkip: false, sampleSize: 4, callback: timeTickLabel, font: { size: 11 } },
        },
        y: {
          type: 'linear', beginAtZero: true,
          grid: { color: theme.grid, drawBorder: false, tickLength: 4 },
          ticks: { color: theme.tick, maxTicksLimit: 5, autoSkip: false, sampleSize: 4, font: { size: 11 } },
          // A fixed width lines the plot areas (and so the time axes) up across charts, and
          // keeps a plot from jumping sideways when its labels change width.
          afterFit: (scale) => { scale.width = Y_AXIS_WIDTH; },
        },
      },
    },
    plugins: [crosshair],
  });
  chartsCreated++;
  body.dataset.charts = String(chartsCreated);
  attachPointer(card);
  setupView(card);
  cards.push(card);
  if (visibility) visibility.observe(card.el);
}

function currentView(card) { return card.def.views[card.view]; }

function setupView(card) {
  const v = currentView(card);
  card.title.textContent = v.title;
  [...card.tools.querySelectorAll('.seg button')].forEach((b, i) => b.setAttribute('aria-pressed', String(i === card.view)));
  card.hidden.clear();
  const ds = v.series.map((s) => ({
    label: s.label, data: [], key: s.key, prColor: s.color,
    borderWidth: s.width || 1.5, borderDash: s.dash ? [4, 3] : [],
    pointRadius: 0, spanGaps: false, fill: v.fill ? 'origin' : false,
  }));
  card.chart.data.datasets = ds;
  card.needFull = true;
  card.chart.options.plugins.filler = v.fill ? { propagate: false } : false;
  const y = card.chart.options.scales.y;
  y.ticks.callback = UNITS[v.unit].tick;
  y.suggestedMax = v.suggestedMax;
  card.unit.textContent = v.axis;
  card.unit.title = v.axis;
  applyColors(card);
  // legend
  card.legend.textContent = '';
  card.legendItems = v.series.map((s, i) => {
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.type = 'button'; b.className = 'lg';
    const sw = document.createElement('span'); sw.className = 'sw sw-' + s.color + (s.dash ? ' dash' : '');
    const name = document.createElement('span'); name.className = 'lg-name'; name.textContent = s.label;
    const val = document.createElement('span'); val.className = 'lg-val'; val.textContent = '–';
    b.append(sw, name, val);
    b.addEventListener('click', () => {
      if (card.hidden.has(i)) card.hidden.delete(i); else card.hidden.add(i);
      b.classList.toggle('off', card.hidden.has(i));
      page.renderAll();
    });
    li.appendChild(b);
    card.legend.appendChild(li);
    return { btn: b, val, key: s.key, unit: v.unit };
  });
  applyAvailability(card);
}

export function applyColors(card) {
  const v = currentView(card);
  card.needFull = true;
  card.chart.data.datasets.forEach((d) => {
    const c = theme[d.prColor] || theme.c1;
    d.borderColor = c;
    d.backgroundColor = v.fill ? withAlpha(c, 0.12) : c;
  });
  for (const ax of ['x', 'y']) {
    const o = card.chart.options.scales[ax];
    o.grid.color = theme.grid; o.ticks.color = theme.tick;
  }
}

// "cycles and instructions: unsupported here (…)": events grouped by their shared reason.
export function reasonText(pairs) {
  const byReason = new Map();
  for (const [name, r] of pairs) {
    if (!byReason.has(r)) byReason.set(r, []);
    if (name && !byReason.get(r).includes(name)) byReason.get(r).push(name);
  }
  return [...byReason].map(([r, names]) => (names.length ? joinNames(names) + ': ' : '') + r).join('; ');
}

function joinNames(a) { return a.length < 2 ? a.join('') : a.slice(0, -1).join(', ') + ' and ' + a[a.length - 1]; }

export function applyAvailability(card) {
  const v = currentView(card);
  const pairs = [];
  let avail = 0;
  v.series.forEach((s, i) => {
    const p = page.st.unavail.get(s.key);
    const item = card.legendItems[i];
    if (item) {
      item.btn.classList.toggle('is-na', !!p);
      item.btn.disabled = !!p;
      item.btn.title = p ? s.label + (page.isReplay() ? ' is not in this recording: ' : ' is not available on this machine: ') + reasonText(p) : 'show / hide ' + s.label;
    }
    if (p) pairs.push(...p); else avail++;
  });
  card.unavailable = avail === 0;
  card.el.classList.toggle('card-na', card.unavailable);
  card.na.hidden = !card.unavailable;
  card.naReason.textContent = card.unavailable ? reasonText(pairs) : '';
  card.na.querySelector('strong').textContent = page.isReplay() ? 'Not in this recording' : 'Not available on this machine';
}

export function renderCard(card, view, i0, i1) {
  const t = page.store.t, ch = card.chart;
  card.stale = false;
  const area = ch.chartArea;
  const width = Math.max(60, Math.round(area ? area.right - area.left : card.canvas.clientWidth || 300));
  const ds = ch.data.datasets;
  let points = 0;
  for (let j = 0; j < ds.length; j++) {
    const key = ds[j].key;
    if (card.hidden.has(j) || page.st.unavail.has(key)) { const o = ds[j].prOut || (ds[j].prOut = []); o.length = 0; ds[j].data = o; }
    else ds[j].data = decimate(ds[j], page.store, page.store.v[key], i0, i1, view, width);
    points += ds[j].data.length;
  }
  const v = currentView(card);
  if (v.cap) {
    // A percentage with a natural top (100 % of RAM, of wall time) stops there: 100.24
    // draws at the top of a 0–100.24 axis, not under a 150 % tick.
    let mx = -Infinity;
    for (const d of ds) for (const p of d.data) if (p.y != null && p.y > mx) mx = p.y;
    const want = mx > v.cap / 2 ? Math.max(v.cap, mx) : undefined;
    if (ch.options.scales.y.max !== want) { ch.options.scales.y.max = want; card.needFull = true; }
  }
  updateChart(card, view);
  card.el.dataset.points = String(points);
}

// Chart#update re-resolves every option, rebuilds the scales and re-fits the layout: about
// two thirds of a live update's time with nine charts. When only the data and the time range
// changed, do just the data-dependent part of it (Chart.js 3.x internals, checked below: any
// surprise switches to plain update() for good). Options changes always take update().
let fastPath = null;   // decided on the first chart: Chart.js 3.x
/// Whether live updates still take the fast path (reported to the test as data-fast-path).
export function usesFastPath() { return !!fastPath; }

function updateChart(card, view) {
  const ch = card.chart;
  const xo = ch.options.scales.x;
  xo.min = view.min; xo.max = view.max;
  if (fastPath && !card.needFull && ch.chartArea) {
    try {
      const xs = ch.scales.x;
      xs._userMin = view.min; xs._userMax = view.max;
      xs.options.min = view.min; xs.options.max = view.max;
      for (let i = 0; i < ch.data.datasets.length; i++) ch.getDatasetMeta(i).controller.buildOrUpdateElements(false);
      ch._updateLayout(ch._minPadding);
      for (let i = 0; i < ch.data.datasets.length; i++) ch.getDatasetMeta(i).controller.update('none');
      ch.notifyPlugins('afterDatasetsUpdate', { mode: 'none' });
      ch._layers.sort((a, b) => a.z - b.z || a._idx - b._idx);
      ch.render();
      if (xs.min === view.min && xs.max === view.max) return;
    } catch (_) { /* fall through */ }
    fastPath = false;
  }
  card.needFull = false;
  ch.update('none');
}
