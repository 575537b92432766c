// The page's data: a columnar store of samples (one time array, one value array per field,
// NaN = no value or a break) and the gap-aware decimation that draws it. No DOM, no network:
// scripts/browser_unit.js unit-tests both in the headless browser.

export function lowerBound(a, x) {
  let lo = 0, hi = a.length;
  while (lo < hi) { const m = (lo + hi) >>> 1; if (a[m] < x) lo = m + 1; else hi = m; }
  return lo;
}

/// base: rows trimmed from the front so far (absolute row = base + index); epoch: bumped on
/// clear, so decimation caches built on older rows are dropped. seen: fields that have had a
/// value (a replay's availability follows it).
export class Store {
  constructor(fields, maxPoints) {
    this.fields = fields;
    this.maxPoints = maxPoints;
    this.t = [];
    this.v = Object.create(null);
    for (const k of fields) this.v[k] = [];
    this.base = 0;
    this.epoch = 0;
    this.seen = new Set();
    this.seenChanged = false;
    this.breaks = 0;
  }
  get last() { return this.t.length ? this.t[this.t.length - 1] : null; }
  clear() {
    this.epoch++;
    this.base = 0;
    this.t.length = 0;
    for (const k of this.fields) this.v[k].length = 0;
    this.seen.clear();
  }
  pushBreak(t) {
    this.t.push(t);
    for (const k of this.fields) this.v[k].push(NaN);
    this.breaks++;
  }
  /// Drops rows left of minTime (keeping one left of the edge), and any beyond maxPoints.
  trim(minTime) {
    let cut = lowerBound(this.t, minTime) - 1;
    if (this.t.length - cut > this.maxPoints) cut = this.t.length - this.maxPoints;
    if (cut < 256) return;   // a few rows left of the view cost nothing; splicing 50 columns does
    this.t.splice(0, cut);
    this.base += cut;
    for (const k of this.fields) this.v[k].splice(0, cut);
  }
  /// Appends a column-format batch; returns the rows added. Breaks: breakFirst (a response's
  /// gap or reset), a sample's gap flag, samples more than three intervals apart. A time not
  /// after the last is skipped, or (breakFirst: a restarted run with an older clock) clears.
  append(cols, breakFirst, intervalMs) {
    const tm = cols.time_ms;
    if (!tm || !tm.length) return 0;
    const fields = this.fields;
    const gapCol = cols.gap;
    const src = fields.map((k) => cols[k] || null);
    const dst = fields.map((k) => this.v[k]);
    const maxStep = 3 * intervalMs + 5;
    let added = 0;
    for (let i = 0; i < tm.length; i++) {
      const t = tm[i];
      if (t == null) continue;
      let last = this.last;
      if (last !== null && t <= last) {
        if (breakFirst) { this.clear(); last = null; } else continue;
      }
      const brk = (added === 0 && breakFirst) || (gapCol && gapCol[i] === 1) || (last !== null && t - last > maxStep);
      if (brk && last !== null) this.pushBreak((last + t) / 2);
      this.t.push(t);
      for (let f = 0; f < src.length; f++) {
        const c = src[f];
        const x = c ? c[i] : null;
        dst[f].push(x == null ? NaN : +x);
        if (x != null && !this.seen.has(fields[f])) { this.seen.add(fields[f]); this.seenChanged = true; }
      }
      added++;
    }
    return added;
  }
}

/// A /api/data reply (columns, or a list of samples as the stream sends them) as columns.
export function toColumns(d, fields) {
  if (d.columns) return d.columns;
  const cols = { time_ms: [], gap: [] };
  for (const k of fields) cols[k] = [];
  for (const s of d.samples || []) {
    cols.time_ms.push(s.time_ms);
    for (const k of fields) cols[k].push(s[k]);
  }
  return cols;
}

// ---- decimation: gap-aware LTTB over time-aligned buckets, summarised once ----
// A view spanning S ms drawn W px wide gets buckets of B = S/W ms aligned to multiples of B,
// so a live window that scrolls keeps the same buckets: each row is folded into its bucket
// once, when it arrives, and a redraw only walks the ~W buckets in view. Per bucket LTTB
// picks, of its lowest and highest value, the one making the larger triangle with the point
// picked before and the next bucket's mean. A bucket holding a break (lost records, restart,
// unavailable values) keeps the break: its last value before, a null, its first value after.
function newBucket(k, abs) {
  return { k, first: abs, last: abs, n: 0, sx: 0, sy: 0, iMin: -1, iMax: -1, yMin: Infinity, yMax: -Infinity,
    nan: -1, before: -1, after: -1, pending: false };
}
function feed(store, c, t, v) {
  const base = store.base, B = c.B;
  let r = c.open;
  for (let j = Math.max(c.done - base, 0); j < t.length; j++) {
    const x = t[j], k = Math.floor(x / B), abs = base + j, y = v[j];
    if (!r || r.k !== k) { if (r) c.recs.push(r); r = c.open = newBucket(k, abs); }
    r.last = abs;
    if (y === y) {
      r.n++; r.sx += x - k * B; r.sy += y;
      if (y < r.yMin) { r.yMin = y; r.iMin = abs; }
      if (y > r.yMax) { r.yMax = y; r.iMax = abs; }
      if (r.nan < 0) r.before = abs;
      else if (r.pending) { r.after = abs; r.pending = false; }
    } else {
      if (r.nan < 0) r.nan = abs;
      r.pending = true; r.after = -1;
    }
  }
  c.done = base + t.length;
  let h = c.head;
  while (h < c.recs.length && c.recs[h].last < base) h++;
  if (h > 512 && h * 2 > c.recs.length) { c.recs.splice(0, h); h = 0; }
  c.head = h;
}
// Writes into the dataset's own array, reusing its point objects: no garbage per redraw.
export function decimate(ds, store, v, i0, i1, view, target) {
  const t = store.t;
  const out = ds.prOut || (ds.prOut = []);
  let m = 0;
  const emit = (x, y) => { const p = out[m]; if (p) { p.x = x; p.y = y; } else out[m] = { x, y }; m++; };
  const n = i1 - i0;
  if (n > 0 && n <= target * 1.5) {   // few enough to draw every sample
    for (let i = i0; i < i1; i++) { const y = v[i]; emit(t[i], y === y ? y : null); }
  } else if (n > 0) {
    const B = (view.max - view.min) / target;
    let c = ds.prCache;
    if (!c || c.B !== B || c.epoch !== store.epoch) {
      c = ds.prCache = { B, epoch: store.epoch, recs: [], head: 0, open: null, done: 0 };
    }
    feed(store, c, t, v);
    const recs = c.recs, base = store.base;
    const k0 = Math.floor(view.min / B) - 1, k1 = Math.floor(view.max / B) + 1;
    let lo = c.head, hi = recs.length;
    while (lo < hi) { const mid = (lo + hi) >>> 1; if (recs[mid].k < k0) lo = mid + 1; else hi = mid; }
    const total = recs.length + (c.open ? 1 : 0);
    const rec = (i) => (i < recs.length ? recs[i] : c.open);
    let ax = NaN, ay = NaN;   // the point picked in the previous bucket (NaN: none / after a break)
    for (let i = lo; i < total; i++) {
      const r = rec(i);
      if (r.k > k1) break;
      if (r.first < base) continue;   // partly trimmed away: left of the view anyway
      if (r.nan >= 0) {
        if (r.before >= 0) emit(t[r.before - base], v[r.before - base]);
        emit(t[r.nan - base], null);
        if (r.after >= 0) { const j = r.after - base; ax = t[j]; ay = v[j]; emit(ax, ay); } else { ax = ay = NaN; }
        continue;
      }
      let pick = r.iMax;
      if (r.iMin !== r.iMax) {
        const nx = i + 1 < total ? rec(i + 1) : null;
        let mx, my;
        if (nx && nx.n > 0) { mx = nx.k * B + nx.sx / nx.n; my = nx.sy / nx.n; } else { mx = r.k * B + r.sx / r.n; my = r.sy / r.n; }
        if (ax === ax) {
          const tMin = t[r.iMin - base], tMax = t[r.iMax - base];
          const aMin = Math.abs((ax - mx) * (r.yMin - ay) - (ax - tMin) * (my - ay));
          const aMax = Math.abs((ax - mx) * (r.yMax - ay) - (ax - tMax) * (my - ay));
          pick = aMin > aMax ? r.iMin : r.iMax;
        } else {
          pick = Math.abs(r.yMin - my) > Math.abs(r.yMax - my) ? r.iMin : r.iMax;
        }
      }
      const j = pick - base;
      ax = t[j]; ay = v[j];
      emit(ax, ay);
    }
  }
  out.length = m;
  return out;
}
