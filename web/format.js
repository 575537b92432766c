// Number, unit and time formatting shared by every part of the page. Pure functions: the
// unit tests (scripts/browser_unit.js) import them as they are.
export function trimNum(x, digits) {
  let s = x.toFixed(digits);
  if (s.indexOf('.') >= 0) s = s.replace(/\.?0+$/, '');
  return s === '-0' ? '0' : s;
}
export function sig3(x) {
  const a = Math.abs(x);
  return x.toFixed(a >= 100 ? 0 : a >= 10 ? 1 : 2);
}
export const SI = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
export function si(v, exact) {
  const a = Math.abs(v);
  for (const [f, p] of SI) {
    if (a >= f) return (exact ? sig3(v / f) : trimNum(v / f, 2)) + p;
  }
  return exact ? sig3(v) : trimNum(v, 2);
}
export function pct(v) { const a = Math.abs(v); return v.toFixed(a >= 100 ? 0 : a >= 10 ? 1 : 2); }
export const UNITS = {
  bytes: { tick: (v) => si(v).replace(/([kMGT]?)$/, ' $1') + 'B', val: (v) => si(v, true).replace(/([kMGT]?)$/, ' $1') + 'B' },
  persec: { tick: (v) => si(v) + '/s', val: (v) => si(v, true) + '/s' },
  pct: { tick: (v) => trimNum(v, 2) + '%', val: (v) => pct(v) + '%' },
  bps: { tick: (v) => si(v).replace(/([kMGT]?)$/, ' $1') + 'B/s', val: (v) => si(v, true).replace(/([kMGT]?)$/, ' $1') + 'B/s' },
  ratio: { tick: (v) => trimNum(v, 2), val: (v) => v.toFixed(2) },
  count: { tick: (v) => trimNum(v, 2), val: (v) => sig3(v) },
};
export function fmtVal(unit, v) { return UNITS[unit].val(v); }
export const pad2 = (n) => (n < 10 ? '0' : '') + n;
export function clock(ms, withSec, withTenths) {
  const d = new Date(ms);
  let s = pad2(d.getHours()) + ':' + pad2(d.getMinutes());
  if (withSec) s += ':' + pad2(d.getSeconds());
  if (withTenths) s += '.' + Math.floor(d.getMilliseconds() / 100);
  return s;
}
export function ago(ms) {
  if (ms == null) return '';
  if (ms < 1000) return (ms / 1000).toFixed(1) + ' s ago';
  if (ms < 60000) return Math.round(ms / 1000) + ' s ago';
  if (ms < 3600000) return Math.round(ms / 60000) + ' min ago';
  return (ms / 3600000).toFixed(1) + ' h ago';
}
export function fmtInterval(ms) {
  if (ms == null) return '–';
  return ms >= 1000 ? trimNum(ms / 1000, 2) + ' s' : trimNum(ms, 1) + ' ms';
}

export function fmtDur(s) {
  if (!(s >= 0)) return '–';
  if (s < 60) return trimNum(s, s < 10 ? 1 : 0) + ' s';
  if (s < 3600) return Math.floor(s / 60) + ' min ' + pad2(Math.round(s % 60)) + ' s';
  return (s / 3600).toFixed(1) + ' h';
}
