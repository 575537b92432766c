// Unit tests of the page's store, decimation and formatting, run inside the headless browser
// on the served modules themselves (scripts/browser_check.py evaluates this expression on the
// dashboard's origin, so the imports obey the page's CSP). Resolves to {n, fails}.
(async () => {
  const { Store, decimate, lowerBound, toColumns } = await import('/store.js');
  const f = await import('/format.js');
  const fails = [];
  let n = 0;
  const eq = (got, want, what) => {
    n++;
    const a = JSON.stringify(got), b = JSON.stringify(want);
    if (a !== b) fails.push(what + ': got ' + a.slice(0, 120) + ', want ' + b.slice(0, 120));
  };
  const ok = (cond, what) => { n++; if (!cond) fails.push(what); };
  const isNaNs = (a) => a.map((x) => (x !== x ? 'NaN' : x));

  // lowerBound: the first index whose value is not below x.
  eq([lowerBound([], 5), lowerBound([1, 3, 5, 7], 5), lowerBound([1, 3, 5, 7], 4), lowerBound([1, 3], 9)], [0, 2, 2, 2], 'lowerBound');

  // append: null is NaN (never 0); gap flag and a long pause break the line; seen fields.
  {
    const s = new Store(['a', 'b', 'gap'], 1000);
    const added = s.append({ time_ms: [100, 200, 300, 400, 2000], a: [1, null, 3, 4, 5], b: [null, null, null, null, null], gap: [0, 0, 0, 1, 0] }, false, 100);
    eq(added, 5, 'append: rows added');
    eq(isNaNs(s.t), [100, 200, 300, 350, 400, 1200, 2000], 'append: break rows at the gap flag and after a pause over 3 intervals');
    eq(isNaNs(s.v.a), [1, 'NaN', 3, 'NaN', 4, 'NaN', 5], 'append: null and breaks are NaN, not 0');
    eq(s.breaks, 2, 'append: breaks counted');
    eq([s.seen.has('a'), s.seen.has('b')], [true, false], 'append: a field never seen with a value stays unseen');
    eq(s.append({ time_ms: [1500, 2000], a: [9, 9] }, false, 100), 0, 'append: samples not after the last are skipped');
    const e = s.epoch;
    eq(s.append({ time_ms: [50, 150], a: [7, 8] }, true, 100), 2, 'append: a restarted run (older clock, breakFirst) replaces');
    eq([s.t, s.epoch === e + 1, s.seen.has('a')], [[50, 150], true, true], 'append: clear bumps the epoch');
  }

  // trim: keeps one row left of the edge, counts what it dropped, and caps the rows.
  {
    const s = new Store(['a'], 100000);
    const t = [], a = [];
    for (let i = 0; i < 2000; i++) { t.push(i * 10); a.push(i); }
    s.append({ time_ms: t, a }, false, 10);
    s.trim(10000);
    eq([s.base, s.t[0], s.v.a[0], s.t.length], [999, 9990, 999, 1001], 'trim: one row left of the edge kept, base advanced');
    s.trim(10005);
    eq(s.base, 999, 'trim: fewer than 256 rows is not worth a splice');
    const c = new Store(['a'], 500);
    c.append({ time_ms: t, a }, false, 10);
    c.trim(0);
    eq(c.t.length, 500, 'trim: never more rows than maxPoints');
  }

  // toColumns: the stream's sample objects as columns.
  eq(toColumns({ samples: [{ time_ms: 1, a: 2 }, { time_ms: 3, a: null }] }, ['a']), { time_ms: [1, 3], gap: [], a: [2, null] }, 'toColumns from samples');

  // decimate: few rows drawn as they are; many rows to about two points a pixel at most, with
  // breaks kept as nulls and a one-sample spike kept; a live update matches a fresh pass.
  {
    const s = new Store(['a'], 200000);
    s.append({ time_ms: [0, 10, 20, 30], a: [1, null, 3, 4] }, false, 10);
    const ds = {};
    eq(decimate(ds, s, s.v.a, 0, 4, { min: 0, max: 30 }, 100).map((p) => [p.x, p.y]), [[0, 1], [10, null], [20, 3], [30, 4]], 'decimate: few rows drawn whole, NaN as a break (null)');

    const big = new Store(['a'], 200000);
    const t = [], a = [];
    for (let i = 0; i < 20000; i++) { t.push(i * 10); a.push(i === 7777 ? 1000 : (i >= 12000 && i < 12010 ? null : Math.sin(i / 300))); }
    big.append({ time_ms: t, a }, false, 10);
    const view = { min: 0, max: 199990 };
    const d1 = {};
    const out = decimate(d1, big, big.v.a, 0, big.t.length, view, 200).map((p) => [p.x, p.y]);
    ok(out.length > 150 && out.length < 460, 'decimate: about one point per pixel (' + out.length + ' for 200 px)');
    ok(out.some((p) => p[1] === 1000), 'decimate: a one-sample spike survives');
    ok(out.some((p) => p[1] === null), 'decimate: a break survives as null');
    ok(out.every((p, i) => i === 0 || p[0] >= out[i - 1][0]), 'decimate: time never goes backwards');
    ok(!out.some((p) => p[1] === 0 && p[0] >= 120000 && p[0] < 120100), 'decimate: no value in the break is drawn as 0');
    // Live: append in two steps, decimating in between (cached buckets), then compare with one pass.
    const live = new Store(['a'], 200000);
    live.append({ time_ms: t.slice(0, 15000), a: a.slice(0, 15000) }, false, 10);
    const d2 = {};
    decimate(d2, live, live.v.a, 0, live.t.length, view, 200);
    live.append({ time_ms: t.slice(15000), a: a.slice(15000) }, false, 10);
    const inc = decimate(d2, live, live.v.a, 0, live.t.length, view, 200).map((p) => [p.x, p.y]);
    eq(inc, out, 'decimate: incremental buckets give what a fresh pass gives');
  }

  // format: units and durations as the page prints them.
  eq([f.UNITS.pct.val(100.24), f.UNITS.pct.val(5.678), f.UNITS.bytes.val(10.2e6), f.UNITS.bps.val(1536), f.UNITS.persec.val(1234567)],
    ['100%', '5.68%', '10.2 MB', '1.54 kB/s', '1.23M/s'], 'format: units');
  eq([f.fmtDur(5.25), f.fmtDur(75), f.fmtDur(7200), f.fmtInterval(50), f.fmtInterval(1500)], ['5.3 s', '1 min 15 s', '2.0 h', '50 ms', '1.5 s'], 'format: durations');
  return { n, fails };
})()
