// The controls: pause / resume, the time window, drag-to-zoom and its reset, the hover
// crosshair. They change the page state they are given and ask the page to redraw.
const body = document.body;
/// st, cards, renderAll(), updateReadouts(), viewRange(), updateStatus(), kick() (fetch now),
/// prefs; set by initControls before any chart takes a pointer.
let ctx = null;

let drag = null, hoverQueued = false;
function scheduleHover() {
  if (hoverQueued) return;
  hoverQueued = true;
  requestAnimationFrame(() => {
    hoverQueued = false;
    for (const c of ctx.cards) if (!c.unavailable && !c.off) c.chart.draw();
    ctx.updateReadouts();
  });
}
export function attachPointer(card) {
  const plot = card.plot;
  const localX = (e) => e.clientX - card.canvas.getBoundingClientRect().left;
  plot.addEventListener('pointerdown', (e) => {
    if (card.unavailable || (e.pointerType === 'mouse' && e.button !== 0)) return;
    const area = card.chart.chartArea, x = localX(e);
    if (!area || x < area.left || x > area.right) return;
    drag = { card, x0: x, x1: x, id: e.pointerId };
    plot.setPointerCapture(e.pointerId);
    e.preventDefault();
  });
  plot.addEventListener('pointermove', (e) => {
    if (card.unavailable) return;
    const area = card.chart.chartArea;
    if (!area) return;
    const x = Math.max(area.left, Math.min(area.right, localX(e)));
    if (drag && drag.card === card && drag.id === e.pointerId) {
      drag.x1 = x;
      const l = Math.min(drag.x0, x), w = Math.abs(x - drag.x0);
      card.box.style.left = l + 'px';
      card.box.style.width = w + 'px';
      card.box.style.top = area.top + 'px';
      card.box.style.height = (area.bottom - area.top) + 'px';
      card.box.hidden = w < 2;
    }
    if (e.pointerType === 'mouse' || drag) {
      ctx.st.hoverT = card.chart.scales.x.getValueForPixel(x);
      scheduleHover();
    }
  });
  const end = (e, commit) => {
    if (!drag || drag.card !== card || drag.id !== e.pointerId) return;
    card.box.hidden = true;
    const d = drag; drag = null;
    if (commit && Math.abs(d.x1 - d.x0) >= 5) {
      const sc = card.chart.scales.x;
      const a = sc.getValueForPixel(Math.min(d.x0, d.x1)), b = sc.getValueForPixel(Math.max(d.x0, d.x1));
      if (b - a >= 2 * ctx.st.interval) setZoom({ min: a, max: b });
    }
    if (e.pointerType !== 'mouse') { ctx.st.hoverT = null; scheduleHover(); }
  };
  plot.addEventListener('pointerup', (e) => end(e, true));
  plot.addEventListener('pointercancel', (e) => end(e, false));
  plot.addEventListener('pointerleave', (e) => {
    if (e.pointerType === 'mouse' && !drag) { ctx.st.hoverT = null; scheduleHover(); }
  });
  plot.addEventListener('dblclick', () => resetZoom());
}
function setZoom(z) {
  ctx.st.zoom = z;
  document.getElementById('zoom-reset').hidden = false;
  body.dataset.zoomed = '1';
  ctx.renderAll();
}
export function resetZoom() {
  if (!ctx.st.zoom) return;
  ctx.st.zoom = null;
  document.getElementById('zoom-reset').hidden = true;
  delete body.dataset.zoomed;
  ctx.renderAll();
}

const pauseBtn = document.getElementById('pause-btn');
const winButtons = [...document.querySelectorAll('#window-seg button')];
function setPaused(p) {
  ctx.st.paused = p;
  ctx.st.frozen = p ? ctx.viewRange() : null;
  ctx.st.bufferedWhilePaused = 0;
  pauseBtn.textContent = p ? 'Resume' : 'Pause';
  pauseBtn.setAttribute('aria-pressed', String(p));
  body.dataset.paused = p ? '1' : '0';
  ctx.renderAll();
  ctx.updateStatus();
}
export function markWindow() {
  for (const b of winButtons) b.setAttribute('aria-pressed', String(+b.dataset.window * 1000 === ctx.st.windowMs));
}
export function initControls(c) {
  ctx = c;
  pauseBtn.addEventListener('click', () => setPaused(!ctx.st.paused));
  document.getElementById('zoom-reset').addEventListener('click', resetZoom);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') resetZoom();
    else if (e.key === ' ' && e.target === document.body) { e.preventDefault(); setPaused(!ctx.st.paused); }
  });
  for (const b of winButtons) {
    b.addEventListener('click', () => {
      const ms = +b.dataset.window * 1000;
      if (ms === ctx.st.windowMs) return;
      const grow = ms > ctx.st.windowMs;
      ctx.st.windowMs = ms;
      ctx.prefs.set('window', String(ms / 1000));
      markWindow();
      ctx.st.zoom = null; document.getElementById('zoom-reset').hidden = true;
      if (ctx.st.paused) ctx.st.frozen = { min: ctx.st.frozen.max - ms, max: ctx.st.frozen.max };
      if (grow) { ctx.st.needHistory = true; ctx.kick(); } else ctx.renderAll();
    });
  }
  markWindow();
}
