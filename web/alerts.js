// The alerts strip: the server's --alert rules firing now and the ones resolved lately, from
// GET /api/alerts every 2 s. Self-contained (its own element, poll and styles), so app.js
// knows nothing of it. Hidden while the server has no rule.
'use strict';
(() => {
  const POLL_MS = 2000, RESOLVED_SHOWN = 5;
  const strip = document.getElementById('alerts');
  if (!strip) return;
  const time = (ms) => (Number.isFinite(ms) ? new Date(ms).toLocaleTimeString([], { hour12: false }) : '–');
  const value = (v) => (Number.isFinite(v) ? (Math.abs(v) >= 100 ? v.toFixed(0) : String(+v.toPrecision(3))) : '–');
  const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

  function item(a) {
    const li = document.createElement('li');
    li.className = 'alert ' + (a.state === 'firing' ? 'firing' : 'resolved');
    const rule = document.createElement('span');
    rule.className = 'alert-rule';
    rule.textContent = a.rule;
    const when = document.createElement('span');
    when.className = 'alert-when';
    when.textContent = a.state === 'firing'
      ? `since ${time(a.fired_ms)}, now ${value(a.last_value)}`
      : `resolved ${time(a.resolved_ms)}, worst ${value(a.worst_value)}`;
    li.append(rule, when);
    return li;
  }

  function render(d) {
    const rules = Array.isArray(d && d.rules) ? d.rules : [];
    const alerts = Array.isArray(d && d.alerts) ? d.alerts : [];
    const firing = alerts.filter((a) => a.state === 'firing');
    const resolved = alerts.filter((a) => a.state !== 'firing').slice(0, RESOLVED_SHOWN);
    strip.hidden = rules.length === 0;
    strip.dataset.firing = String(firing.length);
    strip.dataset.resolved = String(resolved.length);
    strip.classList.toggle('is-firing', firing.length > 0);
    const title = document.createElement('span');
    title.className = 'alerts-title';
    title.textContent = firing.length ? `${plural(firing.length, 'alert')} firing` : `no alert firing (${plural(rules.length, 'rule')})`;
    const list = document.createElement('ul');
    list.className = 'alerts-list';
    for (const a of firing.concat(resolved)) list.append(item(a));
    strip.replaceChildren(title, list);
  }

  async function poll() {
    try {
      const res = await fetch('/api/alerts', { cache: 'no-store', headers: { Accept: 'application/json' } });
      if (res.ok) render(await res.json());
    } catch (_) {
      // The page's own banner reports an unreachable server; the strip keeps what it showed.
    }
    setTimeout(poll, POLL_MS);
  }
  poll();
})();
