// Per-CPU heatmap: one row per CPU, time left to right over the page's window, colour = that
// CPU's utilisation; a second map of per-CPU IPC where the counters count. From
// GET /api/data?per_cpu=1&per_cpu_fields=cpu_util,ipc (columns aligned with the samples). A ring
// without a per-CPU section answers per_cpu: null and a reason; the map is then hidden and the
// reason said in one line. A missing value is drawn as an empty cell, never as 0.
import { HttpError, getJSON } from './api.js';
import { clock, trimNum } from './format.js';

const $ = (id) => document.getElementById(id);
const body = document.body;
const POLL_MS = 2000, MAX_SAMPLES = 3000;
const hm = { busy: false, last: 0, off: false };
let state = null;

/// Utilisation 0–100 % on a light-to-dark ramp of the accent colour; IPC scaled to its max.
function colour(x, dark) {
  const a = Math.max(0, Math.min(1, x));
  const lo = dark ? [30, 36, 46] : [238, 242, 255], hi = dark ? [96, 165, 250] : [29, 78, 216];
  return [0, 1, 2].map((i) => Math.round(lo[i] + (hi[i] - lo[i]) * a));
}

function draw(canvas, rows, times, view, scale) {
  const dark = window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches;
  const w = Math.max(60, Math.min(600, Math.round(canvas.clientWidth || 300)));
  const h = rows.length;
  canvas.width = w; canvas.height = h;
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(w, h);
  const span = view.max - view.min;
  for (let r = 0; r < h; r++) {
    const sums = new Float64Array(w), counts = new Uint32Array(w);
    const v = rows[r] || [];
    for (let i = 0; i < times.length; i++) {
      const x = v[i];
      if (x == null || times[i] < view.min) continue;
      const px = Math.min(w - 1, Math.floor((times[i] - view.min) / span * w));
      sums[px] += x; counts[px]++;
    }
    for (let px = 0; px < w; px++) {
      const o = 4 * (r * w + px);
      if (!counts[px]) { img.data[o + 3] = 0; continue; }   // no value: transparent, not 0
      const [R, G, B] = colour(sums[px] / counts[px] / scale, dark);
      img.data[o] = R; img.data[o + 1] = G; img.data[o + 2] = B; img.data[o + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
}

function section(id, label, rows, times, view, scale, scaleText) {
  let row = document.getElementById(id);
  if (!row) {
    row = document.createElement('div'); row.className = 'hm-row'; row.id = id;
    const l = document.createElement('div'); l.className = 'hm-label';
    const c = document.createElement('canvas');
    c.setAttribute('role', 'img');
    row.append(l, c);
    $('heatmap-body').appendChild(row);
  }
  row.firstChild.textContent = label;
  row.firstChild.title = 'rows: CPU 0 (top) to CPU ' + (rows.length - 1);
  const c = row.lastChild;
  c.setAttribute('aria-label', label + ' per CPU, ' + rows.length + ' CPUs, ' + scaleText);
  c.title = label + ': ' + scaleText;
  c.style.height = Math.max(24, Math.min(160, 12 * rows.length)) + 'px';
  draw(c, rows, times, view, scale);
}

function hide(reason) {
  $('heatmap').hidden = false;
  $('heatmap-body').textContent = '';
  $('heatmap-note').textContent = 'Per-CPU heatmap not shown: ' + reason;
  body.dataset.heatmap = 'off';
}

async function refresh() {
  if (hm.busy || !state || state.next == null || hm.off) return;
  hm.busy = true;
  try {
    if (state.meta && !(state.meta.per_cpu > 0)) {
      hide('this ring has no per-CPU section (start the collector with --per-cpu)');
      return;
    }
    const n = Math.min(MAX_SAMPLES, Math.ceil(state.windowMs / Math.max(1, state.interval)) + 2);
    const since = Math.max(0, state.next - n);
    const d = await getJSON('/api/data?' + new URLSearchParams({
      per_cpu: '1', per_cpu_fields: 'cpu_util,ipc', format: 'columns', fields: 'time_ms', since: String(since), limit: String(n),
    }));
    if (!d.per_cpu) { hide(d.per_cpu_reason || 'this ring has no per-CPU section (start the collector with --per-cpu)'); return; }
    const times = (d.columns && d.columns.time_ms) || [];
    if (!times.length) return;
    const last = times[times.length - 1];
    const view = { min: last - state.windowMs, max: last };
    $('heatmap').hidden = false;
    $('heatmap-range').textContent = (d.cpu_count || d.per_cpu.cpu_util.length) + ' CPUs · ' + clock(view.min, true) + ' – ' + clock(view.max, true);
    const util = d.per_cpu.cpu_util || [];
    const note = ['rows: CPU 0 at the top to CPU ' + (util.length - 1) + ' at the bottom'];
    if (util.length) section('hm-util', 'utilisation %', util, times, view, 100, 'light 0 % to dark 100 %');
    const ipc = d.per_cpu.ipc;
    const hasIpc = Array.isArray(ipc) && ipc.some((r) => r && r.some((x) => x != null));
    let ipcMax = 0;
    if (hasIpc) for (const r of ipc) for (const x of r) if (x != null && x > ipcMax) ipcMax = x;
    if (hasIpc) section('hm-ipc', 'IPC', ipc, times, view, ipcMax || 1, 'light 0 to dark ' + trimNum(ipcMax, 2));
    else {
      const old = document.getElementById('hm-ipc'); if (old) old.remove();
      note.push('per-CPU IPC not available: the cycles and instructions counters do not count here');
    }
    note.push('empty cells: no value in that sample');
    $('heatmap-note').textContent = note.join(' · ');
    body.dataset.heatmap = String(util.length);
    body.dataset.heatmapIpc = hasIpc ? '1' : '0';
  } catch (e) {
    // A server without per-CPU columns refuses the parameter: say so once and stop asking.
    if (e instanceof HttpError && e.status === 400) { hm.off = true; hide('this server does not serve per-CPU data (' + e.message + ')'); }
  } finally {
    hm.busy = false;
  }
}

document.addEventListener('perfring:state', (e) => {
  state = e.detail;
  if (state.conn !== 'ok' || performance.now() - hm.last < POLL_MS) return;
  hm.last = performance.now();
  refresh();
});
