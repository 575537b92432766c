#!/usr/bin/env python3
"""Drives headless Chromium over the DevTools protocol (--remote-debugging-pipe: fd 3 carries
commands to the browser, fd 4 carries replies and events, each a JSON message ended by NUL) and
checks the perfring dashboard served at --url. Standard library only.

Used by scripts/browser-test, which starts the collector and server; run it by hand against any
server:  scripts/browser_check.py --url http://127.0.0.1:8080/ --out /tmp/shots
"""
import argparse, base64, json, math, os, signal, subprocess, sys, tempfile, threading, time, urllib.parse, urllib.request


class Browser:
    def __init__(self, binary, profile):
        a_r, a_w = os.pipe()          # we write commands, Chromium reads them on fd 3
        b_r, b_w = os.pipe()          # Chromium writes on fd 4, we read
        # Move the child's ends above fd 4 so the dup2s below cannot clobber each other.
        hi_r, hi_w = fcntl_dup(a_r), fcntl_dup(b_w)

        def child():
            os.dup2(hi_r, 3)
            os.dup2(hi_w, 4)
        args = [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
                "--user-data-dir=" + profile, "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--disable-background-networking", "--disable-sync",
                "--disable-component-update", "--disable-default-apps", "--mute-audio",
                "--hide-scrollbars", "--window-size=1280,800", "about:blank"]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, preexec_fn=child, pass_fds=(3, 4),
                                     start_new_session=True)
        for fd in (a_r, b_w, hi_r, hi_w):
            os.close(fd)
        self.wfd, self.rfd = a_w, b_r
        self.next_id = 0
        self.replies = {}
        self.events = []
        self.cv = threading.Condition()
        self.wlock = threading.Lock()   # the stub thread (Stubs) sends too
        self.session = None
        self.closed = False
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        buf = b""
        while True:
            try:
                chunk = os.read(self.rfd, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                with self.cv:
                    self.closed = True
                    self.cv.notify_all()
                return
            buf += chunk
            while b"\0" in buf:
                msg, buf = buf.split(b"\0", 1)
                m = json.loads(msg)
                with self.cv:
                    if "id" in m:
                        self.replies[m["id"]] = m
                    else:
                        self.events.append(m)
                    self.cv.notify_all()

    def send(self, method, params=None, session=True, timeout=30):
        with self.cv:
            self.next_id += 1
            mid = self.next_id
        msg = {"id": mid, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        data = json.dumps(msg).encode() + b"\0"
        with self.wlock:
            while data:
                data = data[os.write(self.wfd, data):]
        deadline = time.time() + timeout
        with self.cv:
            while mid not in self.replies:
                if self.closed:
                    raise RuntimeError("browser closed while waiting for " + method)
                left = deadline - time.time()
                if left <= 0:
                    raise RuntimeError("no reply to " + method)
                self.cv.wait(left)
            r = self.replies.pop(mid)
        if "error" in r:
            raise RuntimeError(method + ": " + r["error"].get("message", str(r["error"])))
        return r.get("result", {})

    def attach(self):
        deadline = time.time() + 15
        while True:
            targets = self.send("Target.getTargets", session=False)["targetInfos"]
            pages = [t for t in targets if t["type"] == "page"]
            if pages:
                break
            if time.time() > deadline:
                raise RuntimeError("no page target")
            time.sleep(0.2)
        self.session = self.send("Target.attachToTarget", {"targetId": pages[0]["targetId"], "flatten": True},
                                 session=False)["sessionId"]

    def eval(self, expr):
        r = self.send("Runtime.evaluate", {"expression": expr, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in r:
            raise RuntimeError("evaluate failed: " + json.dumps(r["exceptionDetails"])[:300])
        return r["result"].get("value")

    def close(self):
        try:
            self.send("Browser.close", session=False, timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        os.close(self.wfd)


def fcntl_dup(fd):
    import fcntl
    return fcntl.fcntl(fd, fcntl.F_DUPFD, 10)


def find_chromium():
    for p in ("/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if os.access(p, os.X_OK):
            return p
    raise SystemExit("browser-check: chromium not found")


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, what, detail=""):
        if ok:
            self.passed += 1
            print("  ok    " + what + (" (" + detail + ")" if detail else ""), flush=True)
        else:
            self.failed += 1
            print("  FAIL  " + what + (": " + detail if detail else ""), flush=True)
        return ok


def console_errors(b, since=0, outage=None, expected=()):
    """Console errors, uncaught exceptions and browser log errors (CSP violations, failed loads).
    outage: (first, last) event indices while the server was deliberately down; the browser's own
    "failed to load" lines for API requests in that span are expected, everything else counts.
    expected: URL parts whose refusal a check provoked on purpose (a stubbed 403)."""
    out = []
    with b.cv:
        evs = list(enumerate(b.events))[since:]
    for i, e in evs:
        m, p = e.get("method"), e.get("params", {})
        if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            out.append("console.%s: %s" % (p["type"], " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))))
        elif m == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            out.append("exception: " + (d.get("exception", {}).get("description") or d.get("text", "")))
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            en = p["entry"]
            if (outage and outage[0] <= i <= outage[1] and en.get("source") == "network"
                    and "/api/" in en.get("url", "")):
                continue
            if en.get("source") == "network" and any(x in en.get("url", "") for x in expected):
                continue
            out.append("log(%s): %s %s" % (en.get("source"), en.get("text", ""), en.get("url", "")))
    return out


def dataset(b):
    return json.loads(b.eval("JSON.stringify(document.body ? Object.assign({}, document.body.dataset) : {})"))


def wait_for(b, pred, timeout, step=0.25):
    deadline = time.time() + timeout
    d = {}
    while time.time() < deadline:
        d = dataset(b)
        if pred(d):
            return d, True
        time.sleep(step)
    return d, False


def set_viewport(b, w, h, mobile, dark):
    b.send("Emulation.setDeviceMetricsOverride", {"width": w, "height": h, "deviceScaleFactor": 2 if mobile else 1,
                                                   "mobile": mobile})
    b.send("Emulation.setTouchEmulationEnabled", {"enabled": mobile, "maxTouchPoints": 5 if mobile else 1})
    b.send("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark" if dark else "light"}]})


def screenshot(b, path, full=False):
    params = {"format": "png"}
    if full:
        m = b.send("Page.getLayoutMetrics")
        size = m.get("cssContentSize") or m["contentSize"]
        params.update(captureBeyondViewport=True,
                      clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
    data = b.send("Page.captureScreenshot", params)["data"]
    with open(path, "wb") as f:
        f.write(base64.b64decode(data))


def drag(b, selector, x0f, x1f, dbl=False):
    """Drags across the plot (fractions of its width) with the mouse; or double-clicks it."""
    b.eval("document.querySelector(%s).scrollIntoView({block: 'center'})" % json.dumps(selector))
    time.sleep(0.3)
    r = b.eval("(() => { const r = document.querySelector(%s).getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })()"
               % json.dumps(selector))
    y = r[1] + r[3] * 0.5

    def mouse(kind, x, buttons, count=1):
        b.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left" if kind != "mouseMoved" or buttons else "none",
                                            "buttons": buttons, "clickCount": count, "pointerType": "mouse"})
    if dbl:
        x = r[0] + r[2] * 0.5
        mouse("mouseMoved", x, 0)
        mouse("mousePressed", x, 1, 1); mouse("mouseReleased", x, 0, 1)
        mouse("mousePressed", x, 1, 2); mouse("mouseReleased", x, 0, 2)
        return
    xa, xb = r[0] + r[2] * x0f, r[0] + r[2] * x1f
    mouse("mouseMoved", xa, 0)
    mouse("mousePressed", xa, 1)
    for i in range(1, 11):
        mouse("mouseMoved", xa + (xb - xa) * i / 10, 1)
    mouse("mouseReleased", xb, 0)


class Stubs:
    """Answers chosen requests in the browser itself (DevTools Fetch domain): a stand-in for
    server API another branch is building, or a refusal provoked on purpose. handler(params)
    returns None (let it through) or (status, json_object) to answer with, or (status, bytes,
    content_type)."""

    def __init__(self, b, patterns, handler):
        self.b, self.handler, self.seen, self.stop = b, handler, [], False
        with b.cv:
            self.mark = len(b.events)
        b.send("Fetch.enable", {"patterns": [{"urlPattern": p, "requestStage": "Request"} for p in patterns]})
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop:
            with self.b.cv:
                evs = self.b.events[self.mark:]
                self.mark = len(self.b.events)
                if not evs:
                    self.b.cv.wait(0.2)
            for e in evs:
                if e.get("method") != "Fetch.requestPaused":
                    continue
                p = e["params"]
                self.seen.append((p["request"]["method"], p["request"]["url"]))
                try:
                    r = self.handler(p)
                    if r is None:
                        self.b.send("Fetch.continueRequest", {"requestId": p["requestId"]})
                    else:
                        status, obj = r[0], r[1]
                        ctype = r[2] if len(r) > 2 else "application/json"
                        data = obj if isinstance(obj, bytes) else json.dumps(obj, separators=(",", ":")).encode()
                        self.b.send("Fetch.fulfillRequest", {"requestId": p["requestId"], "responseCode": status,
                            "responseHeaders": [{"name": "Content-Type", "value": ctype},
                                                {"name": "Cache-Control", "value": "no-store"}],
                            "body": base64.b64encode(data).decode()}, timeout=60)
                except Exception as ex:   # the browser may be closing
                    print("  stub: " + str(ex)[:120], flush=True)

    def close(self):
        self.stop = True
        try:
            self.b.send("Fetch.disable", timeout=5)
        except Exception:
            pass


def unit_tests(b, c):
    """The store, decimation and formatting modules, tested on the served files."""
    r = b.eval(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "browser_unit.js")).read())
    c.check(bool(r) and r["n"] >= 20 and not r["fails"], "unit tests of store.js, decimation and format.js in the browser",
            "%s assertions%s" % (r and r["n"], "; " + "; ".join(r["fails"])[:400] if r and r["fails"] else ""))


def header_facts(b, c, what):
    """The real CPU count, and host and interval shown whole beside any command line."""
    h = json.loads(b.eval("""JSON.stringify([...['host', 'target', 'interval']].map(id => { const e = document.getElementById(id);
           const r = e.getBoundingClientRect(); return [e.textContent, e.scrollWidth <= e.clientWidth + 1, r.width, r.height]; }))"""))
    n = os.cpu_count()
    c.check(("%d CPU" % n) in h[0][0], what + ": header names this machine's %d CPUs" % n, h[0][0])
    c.check(h[0][1] and h[2][1] and h[0][2] > 20 and h[2][2] > 20, what + ": host and interval shown whole beside the target",
            "host %r, interval %r, target %r" % (h[0][0], h[2][0], h[1][0][:40]))


def capped_axes(b, c, what):
    """A percentage of a whole (CPU, RAM, wall time) never gets an axis past 100 % plus its data."""
    for i in ("chart-cpu", "chart-mem", "chart-psi"):   # charts out of sight are drawn when they come in
        b.eval("document.getElementById('%s').scrollIntoView({block: 'center'})" % i)
        time.sleep(0.4)
    b.eval("window.scrollTo(0, 0)")
    r = json.loads(b.eval("""JSON.stringify(['chart-cpu', 'chart-mem', 'chart-psi'].map(id => {
           const ch = Chart.getChart(document.querySelector('#' + id + ' canvas')); if (!ch || !ch.scales.y) return [id, null, null];
           let mx = 0; for (const d of ch.data.datasets) for (const p of d.data) if (p.y != null && p.y > mx) mx = p.y;
           return [id, ch.scales.y.max, mx]; }))"""))
    bad = [x for x in r if x[1] is not None and x[1] > max(100, x[2]) * 1.0001]
    c.check(not bad, what + ": percentage axes stop at 100 % (or the largest value past it)",
            ", ".join("%s top %s (data max %s)" % (i, m, round(v or 0, 2)) for i, m, v in r))


def full_shot(b, path, w, mobile):
    """The whole page: the viewport made as tall as the page, so every chart is drawn."""
    hgt = int(b.eval("Math.ceil(document.documentElement.scrollHeight)"))
    set_viewport(b, w, min(hgt, 6000), mobile, False)
    time.sleep(1.5)
    screenshot(b, path)


class SyntheticRun:
    """The timing benchmark's data, served to the page in place of the API (the page itself has
    no benchmark mode): an hour of 100 ms samples ending now, then 10 more per poll, every field
    the page asks for following its own smooth curve with a lost-records break now and then.
    The page labels it from /api/events: host "benchmark", target "synthetic data"."""
    STEP = 100

    def __init__(self, points):
        self.points = points
        self.t0 = int(time.time() * 1000) - points * self.STEP
        self.sent = 0

    def column(self, key, lo, hi):
        # One precomputed curve per scale, each field a slice of it at its own offset: cheap
        # enough to serve an hour of 50 fields from Python within the page's request timeout.
        if not hasattr(self, "curves"):
            n = self.points * 2 + 20000
            base = [round(50 + 30 * math.sin(i / 400) + 10 * ((i * 7919) % 101) / 101, 2) for i in range(n)]
            self.curves = {1: base, 1e6: [round(v * 1e6) for v in base], 0.025: [round(v / 40, 3) for v in base]}
        h = 0
        for ch in key:
            h = (h * 31 + ord(ch)) & 0xFFFFFFFF
        scale = 1e6 if key.endswith("_per_s") or key.endswith("_bps") else \
            0.025 if key in ("cpi", "ipc", "cpus_utilized") or "mpki" in key or key.startswith("load") else 1
        off = h % 20000
        return self.curves[scale][lo + off:hi + off]

    def rows(self, keys, lo, hi):
        cols = {"time_ms": [self.t0 + i * self.STEP for i in range(lo, hi)], "seq": list(range(lo, hi))}
        for k in keys:
            if k == "gap":
                cols[k] = [1 if i % 9000 == 4500 else 0 for i in range(lo, hi)]
            elif k not in cols:
                cols[k] = self.column(k, lo, hi)
        return cols

    def handler(self, p):
        url = p["request"]["url"]
        path = urllib.parse.urlsplit(url).path
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        now = (int(time.time() * 1000) - self.t0) // self.STEP
        if path == "/api/events":
            return 200, {"host": {"hostname": "benchmark", "cpu_model": "synthetic", "cpus": 2, "online_cpus": 2, "kernel": "-"},
                         "mode": "system", "target": "synthetic data (timing benchmark)", "target_pid": 0,
                         "interval_ms": self.STEP, "generation": "be", "per_cpu": 0, "capacity": self.points * 2,
                         "energy_domains": [], "events": []}
        if path == "/api/fields":
            return 200, []
        if path == "/api/health":
            return 200, {"status": "ok", "collector": "running", "generation": "be", "newest_age_ms": 50, "records_lost": 0,
                         "ring": "synthetic", "ring_error": None, "samples": now, "version": "benchmark", "unavailable_events": []}
        if path == "/api/data":
            keys = q.get("fields", [""])[0].split(",")
            since = int(q["since"][0]) if "since" in q else None
            lo = max(0, now - int(q.get("limit", [self.points])[0])) if since is None else since + 1
            hi = max(lo, now)
            return 200, {"generation": "be", "next": hi - 1, "gap": False, "reset": False, "columns": self.rows(keys, lo, hi)}
        if path == "/api/stream":
            return 200, b"retry: 600000\n\n", "text/event-stream"
        if path == "/api/phases":
            return 200, {"scope": "system", "phases": []}
        if path == "/api/alerts":
            return 200, {"rules": [], "alerts": []}
        return 404, {"error": "not in the benchmark"}


def get_json(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def stopped_phases(base, passed):
    """A stopped collector (or a finished replay): the band's last segment ends where the samples
    end and stays there while the time axis moves on; it is not drawn up to "now"."""
    c = Checks()
    c.passed = passed
    b = Browser(find_chromium(), tempfile.mkdtemp(prefix="perfring-chromium-"))
    try:
        b.attach()
        for dom in ("Runtime", "Page"):
            b.send(dom + ".enable")
        set_viewport(b, 1280, 800, False, False)
        b.send("Page.navigate", {"url": base})
        d, ok = wait_for(b, lambda d: d.get("state") == "stopped" and int(d.get("phases", "0") or 0) >= 1, 20)
        c.check(ok, "page shows the collector stopped, with phases", "state=%s, phases=%s" % (d.get("state"), d.get("phases")))
        # The band's last edge and the charts' shared time axis, read in one evaluation: the axis
        # moves on while the page waits, so two reads would measure two different axes.
        edge = """(() => { const band = document.getElementById('phase-band'), r = band.getBoundingClientRect();
                   const s = [...band.querySelectorAll('.phase-seg')].pop();
                   const x = Chart.getChart(document.querySelector('.card:not([hidden]):not(.card-na) canvas')).scales.x;
                   return JSON.stringify([r.width, s ? s.getBoundingClientRect().right - r.left : -1, x.min, x.max]); })()"""
        time.sleep(3)
        w, first, _, _ = json.loads(b.eval(edge))
        time.sleep(4)
        # Where the last sample sits on that axis (a stopped run shorter than the window is shown
        # whole, so that may be the right edge; "now" is past it either way).
        last = get_json(base + "api/data?format=columns&fields=time_ms&limit=1")["columns"]["time_ms"][-1]
        w2, later, xmin, xmax = json.loads(b.eval(edge))
        want = min(1.0, (last - xmin) / (xmax - xmin)) * w2
        c.check(0 <= later and abs(later - want) <= 3 and later <= first + 0.5,
                "stopped: the last phase ends at its last sample, not at now",
                "band %.0f px, last segment's right edge %.1f then %.1f px, last sample at %.1f px" % (w2, first, later, want))
    finally:
        b.close()
    print("browser-test: %d passed, %d failed" % (c.passed, c.failed))
    return 1 if c.failed else 0


def analyze_page(base, out, recording, passed):
    """The analyze page (analyze.html): a real recording put in its file picker is posted to
    /api/analyze; the phase band, table and charts appear; compare with the same file works; a
    file the server cannot read shows the line and reason; desktop and phone screenshots, with no
    sideways scrolling on the phone."""
    c = Checks()
    c.passed = passed
    bad = tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False)
    bad.write("time_ms,cycles\n1,2\n2,oops\n")
    bad.close()
    b = Browser(find_chromium(), tempfile.mkdtemp(prefix="perfring-chromium-"))
    try:
        b.attach()
        for dom in ("Runtime", "Page", "Log", "DOM"):
            b.send(dom + ".enable")

        def pick(selector, path):
            node, deadline = 0, time.time() + 10
            while not node and time.time() < deadline:
                if b.eval("document.readyState") == "complete":
                    root = b.send("DOM.getDocument")["root"]["nodeId"]
                    node = b.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
                if not node:
                    time.sleep(0.1)
            b.send("DOM.setFileInputFiles", {"nodeId": node, "files": [path]})

        for name, w, h, mobile in (("analyze-desktop", 1280, 800, False), ("analyze-phone", 390, 844, True)):
            since = len(b.events)
            set_viewport(b, w, h, mobile, False)
            b.send("Page.navigate", {"url": base + "analyze.html"})
            d, ok = wait_for(b, lambda d: d.get("state") == "idle", 10)
            c.check(ok, name + ": page loads", "state=%s" % d.get("state"))
            pick("#file", recording)
            d, ok = wait_for(b, lambda d: d.get("state") in ("done", "error"), 30)
            phases, charts = int(d.get("phases", "0") or 0), int(d.get("charts", "0") or 0)
            rows = b.eval("document.querySelectorAll('#phases tbody tr').length")
            segs = b.eval("document.querySelectorAll('#band .phase-seg').length")
            c.check(ok and d.get("state") == "done" and phases >= 1 and rows == phases and segs == phases,
                    name + ": the recording is analysed: band and table show every phase",
                    "state=%s, phases=%s, rows=%s, band segments=%s, %s" % (d.get("state"), phases, rows, segs,
                                                                            b.eval("document.getElementById('banner-error').textContent")))
            c.check(charts >= 1, name + ": charts of the recording's figures", "%d charts" % charts)
            bound = b.eval("[...document.querySelectorAll('#phases tbody tr td:nth-child(6)')].map(t => t.textContent).join(' | ')")
            c.check("≤" in bound or "–" in bound, name + ": speedup bound column", bound[:120])
            pick("#compare-file", recording)
            b.eval("document.getElementById('compare-btn').click()")
            d, ok = wait_for(b, lambda d: d.get("compare") in ("done", "error"), 30)
            crow = b.eval("document.querySelectorAll('#compare-metrics tbody tr').length")
            c.check(d.get("compare") == "done" and crow > 0, name + ": compare with another upload", "compare=%s, %s metric rows" % (d.get("compare"), crow))
            if mobile:
                sw = b.eval("document.documentElement.scrollWidth")
                c.check(sw <= w + 1, name + ": no sideways scrolling at 390 px", "scrollWidth %s" % sw)
            time.sleep(0.5)
            b.eval("window.scrollTo(0, 0)")
            path = os.path.join(out, name + ".png")
            screenshot(b, path)
            screenshot(b, os.path.join(out, name + "-full.png"), full=True)
            errs = console_errors(b, since)
            c.check(not errs, name + ": no console errors, exceptions or CSP violations", "; ".join(errs)[:300])
            print("  screenshot: " + path)
        pick("#file", bad.name)
        d, ok = wait_for(b, lambda d: d.get("state") == "error", 20)
        msg = b.eval("document.getElementById('banner-error').textContent")
        c.check(ok and "line 3" in msg and "oops" in msg, "an unreadable file: the page says which line and why", msg[:200])
    finally:
        b.close()
        os.unlink(bad.name)
    print("browser-test: %d passed, %d failed" % (c.passed, c.failed))
    return 1 if c.failed else 0


def compare_page(base, out, passed):
    """The compare page (compare.html) over two runs saved from the live ring with
    POST /api/recordings (the server runs with --recordings): per-metric change and each run's
    phase breakdown, a link back to the dashboard, no sideways scrolling on a phone; desktop
    and phone screenshots."""
    import urllib.error
    import urllib.request
    c = Checks()
    c.passed = passed
    deadline, data = time.time() + 20, {}
    while time.time() < deadline:
        try:
            data = get_json(base + "api/data?limit=40")
            if len(data.get("samples", [])) >= 20:
                break
        except Exception:
            pass
        time.sleep(0.25)
    seqs = [s["seq"] for s in data.get("samples", [])]
    if not c.check(len(seqs) >= 20, "compare: the live ring has 20 samples to save", "%d" % len(seqs)):
        print("browser-test: %d passed, %d failed" % (c.passed, c.failed))
        return 1
    stamp = str(int(time.time() * 1000))
    names = []
    for label, lo, hi in (("before", seqs[0], seqs[9]), ("after", seqs[10], seqs[-1])):
        q = "name=bt-%s-%s&generation=%s&from=%d&to=%d" % (label, stamp, data["generation"], lo, hi)
        try:
            with urllib.request.urlopen(urllib.request.Request(base + "api/recordings?" + q, method="POST"), timeout=30) as r:
                status, reply = r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            status, reply = e.code, {"error": e.read().decode(errors="replace")}
        c.check(status == 201 and reply.get("samples") == hi - lo + 1, "compare: POST /api/recordings saves " + label,
                "%s %s" % (status, json.dumps(reply)[:200]))
        names.append(reply.get("name", ""))
    b = Browser(find_chromium(), tempfile.mkdtemp(prefix="perfring-chromium-"))
    try:
        b.attach()
        for dom in ("Runtime", "Page", "Log"):
            b.send(dom + ".enable")
        url = base + "compare.html?a=%s&b=%s" % (names[0], names[1])
        for name, w, h, mobile in (("compare-desktop", 1280, 800, False), ("compare-phone", 390, 844, True)):
            since = len(b.events)
            set_viewport(b, w, h, mobile, False)
            b.send("Page.navigate", {"url": url})
            d, ok = wait_for(b, lambda d: d.get("state") in ("ready", "error"), 20)
            rows = int(d.get("rows", "0") or 0)
            c.check(ok and d.get("state") == "ready" and rows > 1, name + ": per-metric change of the two runs",
                    "state=%s, %d metric rows, %s" % (d.get("state"), rows, b.eval("document.getElementById('banner-error').textContent")))
            pct = b.eval("[...document.querySelectorAll('#metrics tbody tr td:last-child')].map(t => t.textContent).join('|')")
            c.check("%" in pct or "n/a" in pct, name + ": change % column", pct[:120])
            runs = b.eval("document.querySelectorAll('#breakdown .breakdown-run').length")
            segs = b.eval("document.querySelectorAll('#breakdown .breakdown-bar span').length")
            prow = b.eval("document.querySelectorAll('#phases tbody tr').length")
            c.check(runs == 2 and segs >= 2 and prow >= 2, name + ": phase breakdown of both runs",
                    "%s runs, %s segments, %s table rows" % (runs, segs, prow))
            back = b.eval("(() => { const a = document.getElementById('to-dashboard'); return a ? a.getAttribute('href') : null; })()")
            c.check(back == "/", name + ": links back to the dashboard", "href=%s" % back)
            if mobile:
                sw = b.eval("document.documentElement.scrollWidth")
                c.check(sw <= w + 1, name + ": no sideways scrolling at 390 px", "scrollWidth %s" % sw)
            time.sleep(0.3)
            path = os.path.join(out, name + ".png")
            screenshot(b, path)
            screenshot(b, os.path.join(out, name + "-full.png"), full=True)
            errs = console_errors(b, since)
            c.check(not errs, name + ": no console errors, exceptions or CSP violations", "; ".join(errs)[:300])
            print("  screenshot: " + path)
    finally:
        b.close()
    print("browser-test: %d passed, %d failed" % (c.passed, c.failed))
    return 1 if c.failed else 0


def page_extras(base, out, recording, passed):
    """Against the system-wide run: the per-CPU heatmap (its API stubbed in the browser until the
    server serves it), record / stop / save / compare (POST /api/recordings stubbed likewise,
    then refused with 403), and the links between the dashboard and the compare page."""
    c = Checks()
    c.passed = passed
    b = Browser(find_chromium(), tempfile.mkdtemp(prefix="perfring-chromium-"))
    posts, mode = [], {"record": "ok"}

    def handler(p):
        url, method = p["request"]["url"], p["request"]["method"]
        if "/api/events" in url:
            ev = get_json(base + "api/events")
            ev["per_cpu"] = 2          # as a ring recorded with --per-cpu says
            return 200, ev
        if "per_cpu=1" in url:
            q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
            d = get_json(base + "api/data?" + urllib.parse.urlencode({"format": "columns", "fields": "time_ms",
                                                                     "since": q["since"][0], "limit": q["limit"][0]}))
            t = d["columns"]["time_ms"]
            util = [[(i * 7) % 100 for i in range(len(t))], [None if i < len(t) // 3 else 50 + (i % 50) for i in range(len(t))]]
            d.update(cpu_count=2, per_cpu={"cpu_util": util, "ipc": [[None] * len(t), [None] * len(t)]})
            return 200, d
        if "/api/alerts" in url:   # one firing, one resolved: what the strip shows of each
            now = time.time() * 1000
            return 200, {"rules": ["procs_running >= 1", "cpu_util > 90"], "alerts": [
                {"rule": "procs_running >= 1", "state": "firing", "fired_ms": now - 5000, "last_value": 2},
                {"rule": "cpu_util > 90", "state": "resolved", "fired_ms": now - 60000, "resolved_ms": now - 30000, "worst_value": 97.5}]}
        if "/api/recordings?" in url and method == "POST":
            q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
            posts.append(q)
            if mode["record"] == "403":
                return 403, {"error": "recording is off: the server has no --recordings directory"}
            return 201, {"name": q["name"][0] + ".csv", "samples": int(q["to"][0]) - int(q["from"][0]) + 1}
        return None
    stubs = None
    try:
        b.attach()
        for dom in ("Runtime", "Log", "Page"):
            b.send(dom + ".enable")
        stubs = Stubs(b, ["*/api/events*", "*per_cpu=1*", "*/api/recordings?*", "*/api/alerts*"], handler)
        set_viewport(b, 1280, 800, False, False)
        b.send("Page.navigate", {"url": base})
        d, ok = wait_for(b, lambda d: d.get("heatmap") not in (None, "off"), 20)
        hm = json.loads(b.eval("""JSON.stringify((() => { const s = document.getElementById('heatmap');
               return { hidden: s.hidden, canvases: s.querySelectorAll('canvas').length, note: document.getElementById('heatmap-note').textContent,
                        range: document.getElementById('heatmap-range').textContent }; })())"""))
        c.check(ok and d.get("heatmap") == "2" and not hm["hidden"] and hm["canvases"] == 1 and "2 CPUs" in hm["range"],
                "per-CPU heatmap drawn from per_cpu columns (stubbed API): 2 CPUs x time", json.dumps(hm)[:160])
        c.check(d.get("heatmapIpc") == "0" and "IPC not available" in hm["note"],
                "per-CPU IPC says 'not available' when its counters do not count", hm["note"][:100])
        al = json.loads(b.eval("""JSON.stringify((() => { const s = document.getElementById('alerts');
               return { hidden: s.hidden, firing: s.dataset.firing, resolved: s.dataset.resolved, text: s.textContent }; })())"""))
        c.check(not al["hidden"] and al["firing"] == "1" and al["resolved"] == "1" and "resolved" in al["text"]
                and "worst 97.5" in al["text"], "alerts strip shows a firing and a resolved alert", al["text"][:100])
        b.eval("document.getElementById('heatmap').scrollIntoView({block: 'center'})")
        time.sleep(0.5)
        screenshot(b, os.path.join(out, "heatmap-desktop.png"))
        set_viewport(b, 390, 844, True, False)
        time.sleep(1.5)
        b.eval("document.getElementById('heatmap').scrollIntoView({block: 'center'})")
        time.sleep(0.5)
        screenshot(b, os.path.join(out, "heatmap-phone.png"))
        sw = b.eval("document.documentElement.scrollWidth")
        c.check(sw <= 390, "phone: the heatmap and record controls do not overflow", "scrollWidth=%s" % sw)
        set_viewport(b, 1280, 800, False, False)
        b.eval("window.scrollTo(0, 0)")

        # Record, stop, save under a name, then the "compare with" offer.
        d, ok = wait_for(b, lambda d: d.get("record") == "ready", 10)
        c.check(ok, "record control ready (the server has a recordings directory)", "data-record=%s" % d.get("record"))
        b.eval("document.getElementById('rec-btn').click()")
        d, ok = wait_for(b, lambda d: d.get("record") == "recording", 5)
        time.sleep(2.0)
        state = b.eval("document.getElementById('rec-state').textContent")
        b.eval("document.getElementById('rec-btn').click()")
        d, ok2 = wait_for(b, lambda d: d.get("record") == "stopped", 5)
        c.check(ok and ok2 and "samples" in state and not b.eval("document.getElementById('rec-save').hidden"),
                "record then stop offers to save the samples between the two moments", state)
        b.eval("document.getElementById('rec-name').value = 'browser-run'; document.getElementById('rec-save').requestSubmit()")
        d, ok = wait_for(b, lambda d: d.get("record") == "saved", 10)
        q = posts[-1] if posts else {}
        gen = get_json(base + "api/health").get("generation")
        sane = bool(q) and q.get("name") == ["browser-run"] and q.get("generation") == [gen] and \
            int(q["from"][0]) <= int(q["to"][0])
        c.check(ok and sane, "save POSTs /api/recordings?name=&generation=&from=&to= for this run",
                json.dumps({k: v[0] for k, v in q.items()}))
        offer = json.loads(b.eval("""JSON.stringify((() => { const box = document.getElementById('rec-done');
                  const sel = document.getElementById('rec-compare'), a = document.getElementById('rec-compare-link');
                  return { hidden: box.hidden, text: box.textContent, options: sel ? [...sel.options].map(o => o.value) : [],
                           href: a ? a.getAttribute('href') : '' }; })())"""))
        c.check(not offer["hidden"] and os.path.basename(recording) in offer["options"]
                and "b=browser-run.csv" in offer["href"] and offer["href"].startswith("/compare.html?a="),
                "after saving: 'compare with ...' from the recordings list", "%s → %s" % (offer["options"][:3], offer["href"]))
        screenshot(b, os.path.join(out, "record-saved.png"))
        # A server without a recordings directory answers 403: the page says why and turns it off.
        mode["record"] = "403"
        b.eval("document.getElementById('rec-btn').click()")
        time.sleep(1.5)
        b.eval("document.getElementById('rec-btn').click()")
        wait_for(b, lambda d: d.get("record") == "stopped", 5)
        b.eval("document.getElementById('rec-save').requestSubmit()")
        d, ok = wait_for(b, lambda d: d.get("record") == "off", 10)
        off = json.loads(b.eval("""JSON.stringify([document.getElementById('rec-btn').disabled,
                  document.getElementById('rec-state').textContent])"""))
        c.check(ok and off[0] and "no --recordings directory" in off[1], "403: the control is disabled and says why", off[1][:90])
        screenshot(b, os.path.join(out, "record-off.png"))

        # The dashboard and the compare page link to each other; the compare page fits a phone.
        link = b.eval("!!document.querySelector('a[href=\"/compare.html\"]')")
        name = os.path.basename(recording)
        b.send("Page.navigate", {"url": base + "compare.html?" + urllib.parse.urlencode({"a": name, "b": name})})
        set_viewport(b, 390, 844, True, False)
        d, ok = wait_for(b, lambda d: d.get("state") in ("ready", "error"), 20)
        back = b.eval("!!document.querySelector('a[href=\"/\"]')")
        c.check(link and back, "dashboard links to /compare.html and the compare page back to /")
        sw = b.eval("document.documentElement.scrollWidth")
        c.check(ok and d.get("state") == "ready" and sw <= 390, "compare page at phone width: compared, no horizontal overflow",
                "state=%s scrollWidth=%s" % (d.get("state"), sw))
        screenshot(b, os.path.join(out, "compare-phone.png"))
        ce = console_errors(b, 0, None, expected=("/api/recordings?",))
        c.check(not ce, "no console errors, exceptions or CSP violations (extras)", "; ".join(ce)[:400])
    except Exception as e:
        c.check(False, "browser session (extras)", str(e))
    finally:
        if stubs:
            stubs.close()
        b.close()
    print("browser-test: %d passed, %d failed" % (c.passed, c.failed))
    return 1 if c.failed else 0


def command_mode(base, out, passed):
    """`perfring-collector -- CMD`: the target leads, machine-wide follows, and when the command
    ends the results panel sums the run up. Screenshots live and stopped, desktop and phone."""
    c = Checks()
    c.passed = passed
    b = Browser(find_chromium(), tempfile.mkdtemp(prefix="perfring-chromium-"))
    try:
        b.attach()
        for dom in ("Runtime", "Log", "Page"):
            b.send(dom + ".enable")
        set_viewport(b, 1280, 800, False, False)
        b.send("Page.navigate", {"url": base})
        d, ok = wait_for(b, lambda d: d.get("scope") == "process" and int(d.get("samples", 0)) > 10, 20)
        c.check(ok and d.get("state") == "live", "command mode: page in process scope while the command runs",
                "scope=%s state=%s samples=%s" % (d.get("scope"), d.get("state"), d.get("samples")))
        time.sleep(2)
        lay = json.loads(b.eval("""JSON.stringify((() => {
                const t = document.getElementById('charts-target'), m = document.getElementById('charts');
                const ids = el => [...el.querySelectorAll('.card')].filter(c => !c.hidden).map(c => c.id);
                const tiles = [...document.querySelectorAll('.tile')].filter(x => !x.hidden).map(x => x.querySelector('.tile-label').textContent);
                return { tHidden: t.hidden, tTop: t.getBoundingClientRect().top, mTop: m.getBoundingClientRect().top,
                         target: ids(t), machine: ids(m), title: document.getElementById('target-title').textContent,
                         mtitle: !document.getElementById('machine-title').hidden, tiles,
                         points: Object.fromEntries([...t.querySelectorAll('.card')].map(c => [c.id, +(c.dataset.points || 0)])) }; })())"""))
        c.check(not lay["tHidden"] and lay["tTop"] < lay["mTop"] and lay["target"][:2] == ["chart-tcpu", "chart-tmem"]
                and "chart-cpu" in lay["machine"] and lay["mtitle"] and "chart-tcpu" not in lay["machine"],
                "command mode: the target's charts lead, machine-wide charts follow under their own heading",
                "target %s; machine %s" % (",".join(x[6:] for x in lay["target"]), ",".join(x[6:] for x in lay["machine"])))
        c.check(lay["points"].get("chart-tmem", 0) > 0 and lay["points"].get("chart-tthr", 0) > 0,
                "command mode: the target's RSS and threads are drawn", json.dumps(lay["points"]))
        c.check(lay["tiles"][:3] == ["Target CPU", "RSS", "Threads"] and "Memory" not in lay["tiles"],
                "command mode: the tiles lead with the target", ", ".join(lay["tiles"]))
        header_facts(b, c, "command mode")
        capped_axes(b, c, "command mode")
        full_shot(b, os.path.join(out, "command-live-desktop.png"), 1280, False)
        full_shot(b, os.path.join(out, "command-live-phone.png"), 390, True)
        sw = b.eval("document.documentElement.scrollWidth")
        c.check(sw <= 390, "command mode: phone layout has no horizontal overflow (long command line)", "scrollWidth=%s" % sw)
        set_viewport(b, 1280, 800, False, False)

        d, ok = wait_for(b, lambda d: d.get("state") == "stopped" and d.get("results"), 40)
        res = json.loads(b.eval("""JSON.stringify((() => { const r = document.getElementById('results');
                return { hidden: r.hidden, text: r.textContent,
                         na: [...r.querySelectorAll('td.is-na')].map(x => x.textContent),
                         rows: [...r.querySelectorAll('tr')].map(tr => tr.textContent) }; })())"""))
        c.check(ok and not res["hidden"] and "elapsed" in res["text"] and "context switches" in res["text"]
                and "Phases" in res["text"], "command ended: results panel with totals, rates, elapsed time and phases",
                res["text"][:120])
        hw = [e for e in get_json(base + "api/events").get("events", []) if e.get("hardware") and e.get("status") != "counting"]
        if hw:
            cyc = [r for r in res["rows"] if "cycles" in r and "n/a" in r]
            c.check(bool(cyc) and all(x in ("n/a", "–") for x in res["na"]) and "instructions per cycle" in res["text"],
                    "results: uncounted hardware events read n/a with the reason, never 0", (cyc or ["none"])[0][:100])
        full_shot(b, os.path.join(out, "command-stopped-desktop.png"), 1280, False)
        full_shot(b, os.path.join(out, "command-stopped-phone.png"), 390, True)
        errs = json.loads(dataset(b).get("errors", "[]"))
        ce = console_errors(b)
        c.check(not errs and not ce, "command mode: no page errors, console errors or CSP violations", "; ".join(errs + ce)[:400])
    except Exception as e:
        c.check(False, "browser session (command mode)", str(e))
    finally:
        b.close()
    print("browser-test: %d passed, %d failed" % (c.passed, c.failed))
    return 1 if c.failed else 0


def replay_mode(base, out, passed):
    """A replayed perf stat recording of a process: process scope from the server's phases, its
    counters lead (no empty target cards), the header names this machine's CPUs, the results
    panel sums the recording up, and a long file name does not widen the phone layout."""
    c = Checks()
    c.passed = passed
    b = Browser(find_chromium(), tempfile.mkdtemp(prefix="perfring-chromium-"))
    try:
        b.attach()
        for dom in ("Runtime", "Log", "Page"):
            b.send(dom + ".enable")
        set_viewport(b, 1280, 800, False, False)
        b.send("Page.navigate", {"url": base})
        d, ok = wait_for(b, lambda d: d.get("scope") == "process" and d.get("results"), 20)
        lay = json.loads(b.eval("""JSON.stringify((() => {
                const ids = el => [...el.querySelectorAll('.card')].filter(c => !c.hidden).map(c => c.id);
                return { target: ids(document.getElementById('charts-target')), results: document.getElementById('results').textContent }; })())"""))
        c.check(ok and lay["target"][:1] == ["chart-rate"] and not any(i.startswith("chart-t") for i in lay["target"]),
                "replay of a process's perf stat recording: its counters lead, no empty target cards", ",".join(lay["target"]))
        c.check("task clock" in lay["results"] and "elapsed" in lay["results"], "replay: results panel sums the recording up",
                lay["results"][:100])
        header_facts(b, c, "replay")
        full_shot(b, os.path.join(out, "replay-desktop.png"), 1280, False)
        full_shot(b, os.path.join(out, "replay-phone.png"), 390, True)
        sw = b.eval("document.documentElement.scrollWidth")
        c.check(sw <= 390, "replay: phone layout has no horizontal overflow (long file name)", "scrollWidth=%s" % sw)
        errs = json.loads(dataset(b).get("errors", "[]"))
        ce = console_errors(b)
        c.check(not errs and not ce, "replay: no page errors, console errors or CSP violations", "; ".join(errs + ce)[:400])
    except Exception as e:
        c.check(False, "browser session (replay)", str(e))
    finally:
        b.close()
    print("browser-test: %d passed, %d failed" % (c.passed, c.failed))
    return 1 if c.failed else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True, help="server base URL, e.g. http://127.0.0.1:8080/")
    ap.add_argument("--out", required=True, help="directory for screenshots")
    ap.add_argument("--bench", type=int, default=36000, help="synthetic points per series for the timing run (0: skip)")
    ap.add_argument("--bench-max-ms", type=float, default=float(os.environ["PERFRING_BENCH_MAX_MS"])
                    if os.environ.get("PERFRING_BENCH_MAX_MS") else None,
                    help="fail when the best benchmark median is over this (default: report against 16 ms, do not fail)")
    ap.add_argument("--server-pid", type=int, help="server pid: stop it to test the unreachable state")
    ap.add_argument("--server-cmd", help="JSON argv to restart the server on the same address")
    ap.add_argument("--server-log", help="where the restarted server's stderr goes")
    ap.add_argument("--server-pidfile", help="file to write the restarted server's pid into")
    ap.add_argument("--full", action="store_true", help="also save full-page screenshots")
    ap.add_argument("--passed", type=int, default=0, help="checks the caller already passed")
    ap.add_argument("--stopped-phases", action="store_true",
                    help="only check that, with the collector stopped, the last phase ends at its last sample")
    ap.add_argument("--analyze", metavar="FILE", help="only check the analyze page with this recording")
    ap.add_argument("--compare", action="store_true", help="only check the compare page (the server needs --recordings)")
    ap.add_argument("--extras", metavar="RECORDING", help="only check the heatmap, record/compare and links "
                    "(RECORDING: the name of a file in the server's --recordings directory)")
    ap.add_argument("--command-mode", action="store_true", help="only check a server following `collector -- CMD`")
    ap.add_argument("--replay-mode", action="store_true", help="only check a server following a replayed perf stat recording")
    a = ap.parse_args()
    if a.compare:
        os.makedirs(a.out, exist_ok=True)
        return compare_page(a.url.rstrip("/") + "/", a.out, a.passed)
    if a.extras:
        return page_extras(a.url.rstrip("/") + "/", a.out, a.extras, a.passed)
    if a.replay_mode:
        os.makedirs(a.out, exist_ok=True)
        return replay_mode(a.url.rstrip("/") + "/", a.out, a.passed)
    if a.command_mode:
        os.makedirs(a.out, exist_ok=True)
        return command_mode(a.url.rstrip("/") + "/", a.out, a.passed)
    if a.analyze:
        os.makedirs(a.out, exist_ok=True)
        return analyze_page(a.url.rstrip("/") + "/", a.out, os.path.abspath(a.analyze), a.passed)
    if a.stopped_phases:
        return stopped_phases(a.url.rstrip("/") + "/", a.passed)
    base = a.url.rstrip("/") + "/"
    os.makedirs(a.out, exist_ok=True)
    c = Checks()
    c.passed = a.passed
    restarted = None
    outage = None

    # Load the page only once there is data: a 503 before the first sample is logged by the
    # browser as a failed resource load, which would count as a console error.
    deadline, health, why = time.time() + 20, None, ""
    while time.time() < deadline:
        try:
            health = get_json(base + "api/health")
            if health.get("samples", 0) > 0 and health.get("status") != "no-data":
                break
            why = "health: %s" % json.dumps(health)[:200]
        except Exception as e:
            why = str(e)
        time.sleep(0.25)
    else:
        c.check(False, "server has samples within 20 s", why)
        print("browser-test: %d passed, %d failed" % (c.passed, c.failed))
        return 1
    try:
        events = get_json(base + "api/events")
    except Exception as e:
        c.check(False, "GET /api/events", str(e))
        print("browser-test: %d passed, %d failed" % (c.passed, c.failed))
        return 1
    hw = [e for e in events.get("events", []) if e.get("hardware")]
    hw_unavailable = bool(hw) and all(e.get("status") != "counting" for e in hw)

    profile = tempfile.mkdtemp(prefix="perfring-chromium-")
    b = Browser(find_chromium(), profile)
    try:
        b.attach()
        for dom in ("Runtime", "Log", "Page"):
            b.send(dom + ".enable")
        set_viewport(b, 1280, 800, False, False)
        b.send("Page.navigate", {"url": base})
        d, ok = wait_for(b, lambda d: int(d.get("samples", "0")) > 0 and d.get("charts") == d.get("chartsExpected")
                         and d.get("updateMs") is not None, 20)
        c.check(ok and int(d.get("samples", 0)) > 0, "page loaded and samples arrived", "samples=%s" % d.get("samples"))
        c.check(d.get("charts") == d.get("chartsExpected") and int(d.get("charts", 0)) >= 9, "all charts created",
                "%s of %s" % (d.get("charts"), d.get("chartsExpected")))
        time.sleep(2.5)
        d2 = dataset(b)
        c.check(int(d2.get("samples", 0)) > int(d.get("samples", 0)), "live updates append new samples",
                "%s -> %s" % (d.get("samples"), d2.get("samples")))
        c.check(d2.get("state") == "live", "collector shown as live", "state=%s" % d2.get("state"))
        live, ok = wait_for(b, lambda d: int(d.get("updates", 0)) >= 8, 15)
        c.check(ok and live.get("updateMsMedian") is not None, "live update times measured",
                "%s updates, median %s ms, p95 %s ms" % (live.get("updates"), live.get("updateMsMedian"), live.get("updateMsP95")))
        nn = b.eval("""JSON.stringify([...document.querySelectorAll('.card')].filter(c => !c.classList.contains('card-na') && !c.hidden)
                       .map(c => [c.id, +(c.dataset.points || 0)]))""")
        drawn = json.loads(nn)
        c.check(any(i == "chart-sw" and n > 0 for i, n in drawn), "software-event chart draws data",
                ", ".join("%s:%d" % (i[6:], n) for i, n in drawn))
        c.check(all(n > 0 for _, n in drawn) and drawn, "every available chart draws data")
        ph, ok = wait_for(b, lambda d: int(d.get("phases", "0") or 0) >= 1, 10)
        segs = b.eval("""(() => { const p = document.getElementById('phasebar');
                       return p && !p.hidden ? p.querySelectorAll('#phase-band .phase-seg').length : -1; })()""")
        c.check(ok and segs >= 1, "phase band drawn from /api/phases (data-phases >= 1)",
                "data-phases=%s, segments=%s" % (ph.get("phases"), segs))
        # browser-test starts the server with --alert 'procs_running >= 1', true whenever /proc/stat
        # is read (the reader itself runs): the strip shows it firing.
        strip, deadline = None, time.time() + 10
        while time.time() < deadline:
            strip = json.loads(b.eval("""JSON.stringify((() => { const s = document.getElementById('alerts');
                       return s && { hidden: s.hidden, firing: +(s.dataset.firing || 0), text: s.textContent }; })())"""))
            if strip and not strip["hidden"] and strip["firing"] >= 1:
                break
            time.sleep(0.25)
        c.check(bool(strip) and not strip["hidden"] and strip["firing"] >= 1 and "procs_running >= 1" in strip["text"],
                "alerts strip shows the firing --alert rule", (strip or {}).get("text", "no #alerts element")[:90])
        unit_tests(b, c)
        header_facts(b, c, "system-wide")
        c.check(d2.get("scope") == "system" and b.eval("document.getElementById('charts-target').hidden")
                and b.eval("[...document.querySelectorAll('#charts .card')].filter(c => !c.hidden).map(c => c.id).join()")
                == "chart-rate,chart-miss,chart-cpi,chart-cpu,chart-mem,chart-io,chart-psi,chart-sw,chart-load",
                "system-wide: no target section, charts in today's order", "scope=%s" % d2.get("scope"))
        capped_axes(b, c, "system-wide")
        hm, ok = wait_for(b, lambda d: d.get("heatmap") == "off", 10)
        note = b.eval("document.getElementById('heatmap-note').textContent")
        c.check(ok and "per-CPU" in note and not b.eval("document.getElementById('heatmap-body').childElementCount"),
                "no per-CPU section: heatmap not drawn, one line says why", note[:90])
        zero = b.eval("""JSON.stringify([...document.querySelectorAll('.tile')].map(t =>
                       [t.querySelector('.tile-label').textContent, t.querySelector('.tile-val').textContent, t.title]))""")
        tiles = json.loads(zero)
        if hw_unavailable:
            banner = b.eval("(() => { const e = document.getElementById('banner-unavail'); return e.hidden ? '' : e.textContent; })()")
            c.check("Hardware counters unavailable" in banner and "cycles" in banner, "unavailable-hardware banner shown",
                    banner[:90] + "…" if banner else "banner hidden")
            na = json.loads(b.eval("""JSON.stringify(['chart-rate', 'chart-miss', 'chart-cpi'].map(id => {
                     const c = document.getElementById(id); const n = c.querySelector('.na-box');
                     return [id, !n.hidden && /not available on this machine/i.test(n.textContent)]; }))"""))
            c.check(all(v for _, v in na), "hardware charts say 'not available on this machine'",
                    ", ".join("%s=%s" % (i, v) for i, v in na))
            hwt = [t for t in tiles if t[0] in ("IPC", "CPI", "Cache miss", "Branch miss")]
            c.check(all(t[1] == "n/a" and "not available" in t[2] for t in hwt), "hardware tiles read n/a with a reason",
                    ", ".join("%s=%s" % (t[0], t[1]) for t in hwt))
            c.check(set(d2.get("unavailable", "").split(",")) >= {"cycles", "instructions"}, "data-unavailable lists the events",
                    d2.get("unavailable", ""))
        else:
            na = json.loads(b.eval("JSON.stringify(['chart-rate','chart-cpi'].map(id => document.getElementById(id).classList.contains('card-na')))"))
            c.check(not any(na), "hardware charts drawn (PMU present)")
        c.check(not any(t[1] in ("0", "0.00", "0.0") and "n/a" in t[2] for t in tiles), "no unavailable value shown as 0")

        # Interaction: drag to zoom, double-click to reset, pause / resume.
        drag(b, "#chart-cpu .plot", 0.55, 0.85)
        time.sleep(0.3)
        z = dataset(b)
        c.check(z.get("zoomed") == "1", "drag across a chart zooms all charts")
        drag(b, "#chart-cpu .plot", 0, 0, dbl=True)
        time.sleep(0.3)
        c.check(dataset(b).get("zoomed") is None, "double-click resets the zoom")
        b.eval("document.getElementById('pause-btn').click()")
        p1 = dataset(b)
        b.eval("document.getElementById('pause-btn').click()")
        c.check(p1.get("paused") == "1" and dataset(b).get("paused") == "0", "pause and resume")
        b.eval("window.scrollTo(0, 0)")

        time.sleep(1.5)
        shots = []
        for name, w, h, mobile, dark in (("desktop", 1280, 800, False, False), ("phone", 390, 844, True, False),
                                         ("desktop-dark", 1280, 800, False, True), ("phone-dark", 390, 844, True, True)):
            set_viewport(b, w, h, mobile, dark)
            time.sleep(1.5)
            b.eval("window.scrollTo(0, 0)")
            path = os.path.join(a.out, name + ".png")
            screenshot(b, path)
            shots.append(path)
            if a.full:
                screenshot(b, os.path.join(a.out, name + "-full.png"), full=True)
            if name == "phone":
                sw = b.eval("document.documentElement.scrollWidth")
                c.check(sw <= w, "phone layout has no horizontal overflow", "scrollWidth=%s" % sw)
        set_viewport(b, 1280, 800, False, False)

        # Server down: unreachable state, then recovery once it is back.
        if a.server_pid and a.server_cmd:
            outage = [len(b.events), None]
            os.kill(a.server_pid, signal.SIGTERM)
            dd, ok = wait_for(b, lambda d: d.get("conn") == "unreachable", 10)
            msg = b.eval("document.getElementById('banner-conn').textContent")
            c.check(ok and "unreachable" in msg, "server down shows 'server unreachable, retrying'", msg[:60])
            before = int(dd.get("samples", 0))
            log = open(a.server_log or os.devnull, "ab")
            restarted = subprocess.Popen(json.loads(a.server_cmd), stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            if a.server_pidfile:
                with open(a.server_pidfile, "w") as f:
                    f.write(str(restarted.pid))
            dd, ok = wait_for(b, lambda d: d.get("state") == "live" and int(d.get("samples", 0)) > before, 20)
            outage[1] = len(b.events)
            c.check(ok, "recovers by itself when the server is back", "state=%s samples %d -> %s" % (dd.get("state"), before, dd.get("samples")))

        errs = json.loads(dataset(b).get("errors", "[]"))
        c.check(not errs, "page caught no errors (data-errors)", "; ".join(errs)[:300])
        ce = console_errors(b, 0, outage)
        c.check(not ce, "no console errors, exceptions or CSP violations", "; ".join(ce)[:500])

        print("  screenshots: " + ", ".join(shots))
        print("  live update (append + redraw, real data, %s samples received, window %s): median %s ms, p95 %s ms over the last %s updates;"
              " history load %s ms; fast path %s" % (live.get("samples"), "5 min", live.get("updateMsMedian"), live.get("updateMsP95"),
                                                   min(30, int(live.get("updates", 0))), live.get("loadMs"), live.get("fastPath")))

        # Timing with a full hour of history: synthetic data, labelled as such on the page. The
        # budget check takes the best of up to three runs: on a shared 2-vCPU VM the other tenants'
        # load shows up as script time, and it only ever makes a run slower.
        if a.bench:
            mark = len(b.events)
            runs = []
            # Every chart in sight (as the old in-page benchmark redrew them all), 1 h window.
            set_viewport(b, 1280, 4000, False, False)
            for attempt in range(3):
                synth = SyntheticRun(a.bench)
                stubs = Stubs(b, ["*/api/*"], synth.handler)
                try:
                    b.send("Page.navigate", {"url": base + "?window=3600"})
                    d, ok = wait_for(b, lambda d: int(d.get("updates", 0) or 0) >= 20, 90, step=0.5)
                    label = b.eval("document.getElementById('target').textContent + ' / ' + document.getElementById('host').textContent")
                    if ok:
                        screenshot(b, os.path.join(a.out, "bench.png"))
                    errs = json.loads(dataset(b).get("errors", "[]"))
                    b.send("Page.navigate", {"url": "about:blank"})
                    time.sleep(0.5)
                finally:
                    stubs.close()
                if not ok:
                    break
                runs.append((float(d["updateMsMedian"]), float(d["updateMsP95"])))
                if runs[-1][0] < (a.bench_max_ms or 16):
                    break
            c.check(bool(runs) and "synthetic" in label, "benchmark run finished and is labelled synthetic", label[:60])
            if runs:
                med, p95v = min(runs)
                print("  benchmark: %d points per series in view, one update (append + redraw of all charts): %s"
                      % (a.bench, "; ".join("run %d median %.2f ms, p95 %.2f ms" % (i + 1, m, p) for i, (m, p) in enumerate(runs))))
                # The median is what the budget is about: p95 on a shared VM mostly measures the
                # neighbours. Reported, and a failed check only when PERFRING_BENCH_MAX_MS asks for it.
                if a.bench_max_ms:
                    c.check(med < a.bench_max_ms, "update with a full hour loaded under %g ms (median, best of %d)"
                            % (a.bench_max_ms, len(runs)), "median %.2f ms, p95 %.2f ms" % (med, p95v))
                else:
                    print("  benchmark: best median %.2f ms is %s the 16 ms budget%s" % (
                        med, "within" if med < 16 else "OVER",
                        "" if med < 16 else " (load average %.1f; set PERFRING_BENCH_MAX_MS to enforce)" % os.getloadavg()[0]))
            ce = console_errors(b, mark)
            c.check(not ce and not errs, "benchmark page has no errors", "; ".join(ce + errs)[:300])
    except Exception as e:
        c.check(False, "browser session", str(e))
    finally:
        b.close()
        if restarted:
            restarted.terminate()
            try:
                restarted.wait(5)
            except subprocess.TimeoutExpired:
                restarted.kill()
                restarted.wait()
        subprocess.run(["rm", "-rf", profile])
    print("browser-test: %d passed, %d failed" % (c.passed, c.failed))
    return 0 if c.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
