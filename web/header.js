// The header and the banners: host, target and interval; the collector's state; events that do
// not count, and why; the connection. Each function draws from the page state it is given.
import { ago, fmtInterval } from './format.js';

const $ = (id) => document.getElementById(id);
const body = document.body;

export function updateStatus(st) {
  const dot = $('status-dot'), text = $('status-text');
  let state, label, cls;
  const h = st.health;
  if (st.conn === 'unreachable') { state = 'unreachable'; label = 'server unreachable'; cls = 'bad'; }
  else if (st.conn === 'no-data' || (h && h.status === 'no-data')) { state = 'no-data'; label = 'waiting for the first sample'; cls = 'warn'; }
  else if (!h) { state = 'connecting'; label = 'connecting…'; cls = 'muted'; }
  else {
    const age = h.newest_age_ms;
    switch (h.collector) {
      case 'running': state = 'live'; label = 'live'; cls = 'ok'; break;
      case 'stalled': state = 'stalled'; label = 'collector stalled'; cls = 'warn'; break;
      case 'stopped': state = 'stopped'; label = 'collector stopped'; cls = 'bad'; break;
      default: state = 'absent'; label = 'no collector'; cls = 'bad';
    }
    if (age != null && state !== 'live') label += ' · newest ' + ago(age);
    else if (age != null) label += ' · ' + ago(age);
    if (h.records_lost) label += ' · ' + h.records_lost + ' lost';
  }
  if (st.paused) label += ' · paused';
  text.textContent = label;
  dot.className = 'dot ' + cls;
  $('status').title = h ? 'server ' + (h.version || '?') + ', ' + h.samples + ' samples kept' +
    (h.ring_error ? ', ring error: ' + h.ring_error : '') : '';
  body.dataset.state = state;
  body.dataset.conn = st.conn;
}
export function targetText(m) {
  const target = m.target || m.mode || '?';
  if (m.mode === 'replay') return target.startsWith('replay of ') ? target : 'replay · ' + target;
  if (m.mode === 'command') return '$ ' + target;
  if (m.mode === 'pid') return 'pid ' + target;
  return target;
}
export function updateMeta(st) {
  const m = st.meta;
  if (!m) return;
  const h = m.host || {};
  // `cpus` is what the ring counted (1 for a process, or a perf stat recording's 1); the host
  // named is the machine serving the ring, whose own count the server gives.
  const n = h.online_cpus || h.cpus;
  $('host').textContent = (h.hostname || '?') + (n ? ' · ' + n + ' CPU' + (n === 1 ? '' : 's') : '');
  $('host').title = [h.cpu_model, h.kernel ? 'Linux ' + h.kernel : null].filter(Boolean).join(' · ');
  const target = targetText(m);
  $('target').textContent = target;
  $('target').title = target + ' — mode: ' + (m.mode || '?') + (m.per_cpu ? ' · per CPU' : '');
  $('interval').textContent = fmtInterval(m.interval_ms);
  document.title = 'perfring · ' + (h.hostname || '') + ' · ' + target;
}
export function updateUnavailBanner(st) {
  const el = $('banner-unavail');
  el.textContent = '';
  let groups = new Map();
  const names = [];
  const evs = st.meta && st.meta.events;
  if (evs) {
    for (const e of evs) {
      let head;
      if (e.status === 'counting') {
        // Counts, but user space only after perf's privilege fallback: say so.
        if (!e.user_space_only) continue;
        head = 'Counting user space only';
        const k = head + '\u0000' + (e.reason || '');
        if (!groups.has(k)) groups.set(k, { head, reason: e.reason || '', names: [] });
        groups.get(k).names.push(e.name);
        continue;
      }
      names.push(e.name);
      if ((st.meta && st.meta.mode === 'replay')) head = 'Not in this recording';
      else if (e.status === 'not-counted') head = 'Not counted: never scheduled on the PMU';
      else if (e.status === 'not-permitted') head = 'Not permitted: set kernel.perf_event_paranoid or grant CAP_PERFMON';
      else if (e.status === 'unsupported' && e.hardware) head = 'Hardware counters unavailable';
      else if (e.status === 'unsupported') head = 'Not supported by this kernel';
      else head = 'Failed to open';
      const k = head + '\u0000' + (e.reason || '');
      if (!groups.has(k)) groups.set(k, { head, reason: e.reason || '', names: [] });
      groups.get(k).names.push(e.name);
    }
  } else if (st.health && st.health.unavailable_events) {
    for (const e of st.health.unavailable_events) {
      names.push(e.name);
      const k = e.reason || '';
      if (!groups.has(k)) groups.set(k, { head: 'Events unavailable', reason: e.reason || '', names: [] });
      groups.get(k).names.push(e.name);
    }
  }
  body.dataset.unavailable = names.join(',');
  if (!groups.size) { el.hidden = true; return; }
  for (const g of groups.values()) {
    const p = document.createElement('p');
    const s = document.createElement('strong'); s.textContent = g.head;
    const n = document.createElement('span'); n.className = 'ev-names'; n.textContent = g.names.join(', ');
    p.append(s, ' — ', n);
    if (g.reason) {
      const r = document.createElement('span'); r.className = 'why'; r.textContent = g.reason;
      p.append(r);
    }
    el.appendChild(p);
  }
  el.hidden = false;
}
export function showConnBanner(text, kind) {
  const el = $('banner-conn');
  el.textContent = text || '';
  el.className = 'banner ' + (kind || 'error');
  el.hidden = !text;
}
