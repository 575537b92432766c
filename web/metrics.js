// What the dashboard draws: its charts (each with one or more views of some series), its tiles,
// and which perf events or OS sources a field needs (for the "why unavailable" text). Data only.

// Each chart has one or more views (a toggle switches between them); each view lists series.
// scope: 'target' charts exist in process scope only (pid, command, a process's replay) and
// lead the page there, with the 'counters' (the target's own in that scope); 'machine'
// charts follow under their own heading. System-wide keeps the order below.
// cap: a percentage's natural top; the axis stops there unless a value passes it.
export const CHARTS = [
  { id: 'tcpu', scope: 'target', views: [{ name: 'tcpu', title: 'Target CPU', unit: 'pct', axis: '% of one CPU · the process itself, not its children', fill: true, suggestedMax: 10,
    series: [{ key: 'proc_cpu_pct', label: 'CPU time / wall time', color: 'c1', width: 2 }] }] },
  { id: 'tmem', scope: 'target', views: [{ name: 'tmem', title: 'Target memory (RSS)', unit: 'bytes', axis: 'resident bytes', fill: true,
    series: [{ key: 'proc_rss_bytes', label: 'RSS', color: 'c6' }] }] },
  { id: 'tio', scope: 'target', views: [{ name: 'tio', title: 'Target storage I/O', unit: 'bps', axis: 'bytes / second',
    series: [{ key: 'proc_read_bps', label: 'read', color: 'c1' }, { key: 'proc_write_bps', label: 'write', color: 'c2' }] }] },
  { id: 'tthr', scope: 'target', views: [{ name: 'tthr', title: 'Target threads & major faults', unit: 'count', axis: 'threads · faults / s', suggestedMax: 1,
    series: [{ key: 'proc_threads', label: 'threads', color: 'c3', width: 2 }, { key: 'proc_major_faults_per_s', label: 'major faults / s', color: 'c5' }] }] },
  { id: 'rate', scope: 'counters', views: [{ name: 'rate', title: 'Cycles & instructions', unit: 'persec', axis: 'per second',
    series: [{ key: 'cycles_per_s', label: 'cycles', color: 'c1' }, { key: 'instructions_per_s', label: 'instructions', color: 'c2' }] }] },
  { id: 'miss', scope: 'counters', views: [
    { name: '%', title: 'Cache & branch miss rate', unit: 'pct', axis: '% of references / branches',
      series: [{ key: 'cache_miss_rate', label: 'cache misses', color: 'c5' }, { key: 'branch_miss_rate', label: 'branch misses', color: 'c4' }] },
    { name: 'MPKI', title: 'Cache & branch MPKI', unit: 'ratio', axis: 'misses / 1000 instructions',
      series: [{ key: 'cache_mpki', label: 'cache MPKI', color: 'c5' }, { key: 'branch_mpki', label: 'branch MPKI', color: 'c4' }] }] },
  { id: 'cpi', scope: 'counters', views: [
    { name: 'CPI', title: 'Cycles per instruction', unit: 'ratio', axis: 'cycles / instruction', fill: true,
      series: [{ key: 'cpi', label: 'CPI', color: 'c1' }] },
    { name: 'IPC', title: 'Instructions per cycle', unit: 'ratio', axis: 'instructions / cycle', fill: true,
      series: [{ key: 'ipc', label: 'IPC', color: 'c2' }] }] },
  { id: 'cpu', scope: 'machine', views: [{ name: 'cpu', title: 'CPU utilisation', unit: 'pct', axis: '% of all CPUs', suggestedMax: 10, cap: 100,
    series: [{ key: 'cpu_util', label: 'total', color: 'fg', width: 2 }, { key: 'cpu_user', label: 'user', color: 'c1' },
      { key: 'cpu_system', label: 'system', color: 'c2' }, { key: 'cpu_iowait', label: 'iowait', color: 'c3' },
      { key: 'cpu_steal', label: 'steal', color: 'c5' }] }] },
  { id: 'mem', scope: 'machine', views: [{ name: 'mem', title: 'Memory used', unit: 'pct', axis: '% of RAM', fill: true, suggestedMax: 100, cap: 100,
    series: [{ key: 'mem_used_pct', label: 'used', color: 'c6' }] }] },
  { id: 'io', scope: 'machine', views: [{ name: 'io', title: 'Disk & network', unit: 'bps', axis: 'bytes / second',
    series: [{ key: 'disk_read_bps', label: 'disk read', color: 'c1' }, { key: 'disk_write_bps', label: 'disk write', color: 'c2' },
      { key: 'net_rx_bps', label: 'net rx', color: 'c3' }, { key: 'net_tx_bps', label: 'net tx', color: 'c4' }] }] },
  { id: 'psi', scope: 'machine', views: [{ name: 'psi', title: 'Pressure stall', unit: 'pct', axis: '% of wall time', suggestedMax: 1, cap: 100,
    series: [{ key: 'psi_cpu_some', label: 'cpu some', color: 'c1' }, { key: 'psi_cpu_full', label: 'cpu full', color: 'c1', dash: true },
      { key: 'psi_mem_some', label: 'mem some', color: 'c4' }, { key: 'psi_mem_full', label: 'mem full', color: 'c4', dash: true },
      { key: 'psi_io_some', label: 'io some', color: 'c2' }, { key: 'psi_io_full', label: 'io full', color: 'c2', dash: true }] }] },
  { id: 'sw', scope: 'counters', views: [{ name: 'sw', title: 'Software events', unit: 'persec', axis: 'per second',
    series: [{ key: 'context_switches_per_s', label: 'context switches', color: 'c1' },
      { key: 'page_faults_per_s', label: 'page faults', color: 'c2' }, { key: 'cpu_migrations_per_s', label: 'CPU migrations', color: 'c3' }] }] },
  { id: 'load', scope: 'counters', views: [{ name: 'load', title: 'CPUs utilised & load', unit: 'count', axis: 'CPUs / tasks', suggestedMax: 1,
    series: [{ key: 'cpus_utilized', label: 'CPUs utilised', color: 'c1', width: 2 }, { key: 'load1', label: 'load 1 min', color: 'c2' },
      { key: 'procs_running', label: 'running tasks', color: 'c3' }] }] },
];
// scope: tiles for one scope only ('target' in process scope, 'machine' system-wide).
export const TILES = [
  { key: 'proc_cpu_pct', label: 'Target CPU', unit: 'pct', help: "the target's CPU time over wall time (100% = one CPU)", scope: 'target' },
  { key: 'proc_rss_bytes', label: 'RSS', unit: 'bytes', help: "the target's resident memory", scope: 'target' },
  { key: 'proc_threads', label: 'Threads', unit: 'count', help: "the target's threads", scope: 'target' },
  { key: 'proc_read_bps', label: 'Read', unit: 'bps', help: "the target's storage reads per second", scope: 'target' },
  { key: 'proc_write_bps', label: 'Write', unit: 'bps', help: "the target's storage writes per second", scope: 'target' },
  { key: 'proc_major_faults_per_s', label: 'Major faults', unit: 'persec', help: "the target's major page faults per second", scope: 'target' },
  { key: 'ipc', label: 'IPC', unit: 'ratio', help: 'instructions per cycle' },
  { key: 'cpi', label: 'CPI', unit: 'ratio', help: 'cycles per instruction' },
  { key: 'cache_miss_rate', label: 'Cache miss', unit: 'pct', help: 'cache misses per cache reference' },
  { key: 'branch_miss_rate', label: 'Branch miss', unit: 'pct', help: 'mispredicted branches per branch' },
  { key: 'cpu_util', label: 'CPU', unit: 'pct', help: 'CPU utilisation, all CPUs', scope: 'machine' },
  { key: 'mem_used_pct', label: 'Memory', unit: 'pct', help: 'memory used', scope: 'machine' },
  { key: 'cpus_utilized', label: 'CPUs used', unit: 'count', help: 'CPUs utilised (task clock / wall time)' },
  { key: 'context_switches_per_s', label: 'Switches', unit: 'persec', help: 'context switches per second' },
];
// Which perf events a field is computed from (for the "why unavailable" text).
export const EVENT_DEPS = {
  cycles_per_s: ['cycles'], instructions_per_s: ['instructions'],
  cache_miss_rate: ['cache_references', 'cache_misses'], branch_miss_rate: ['branches', 'branch_misses'],
  cache_mpki: ['cache_misses', 'instructions'], branch_mpki: ['branch_misses', 'instructions'],
  cpi: ['cycles', 'instructions'], ipc: ['cycles', 'instructions'],
  context_switches_per_s: ['context_switches'], page_faults_per_s: ['page_faults'],
  cpu_migrations_per_s: ['cpu_migrations'], cpus_utilized: ['task_clock'],
};
export const OS_REASONS = {
  psi: 'no /proc/pressure (kernel without PSI, or booted with psi=0)',
  cpu_steal: 'the kernel reports no steal time',
  power_watts: 'no RAPL energy counters readable',
};
export const FIELDS = (() => {
  const s = new Set(['gap']);
  for (const c of CHARTS) for (const v of c.views) for (const r of v.series) s.add(r.key);
  for (const t of TILES) s.add(t.key);
  return [...s];
})();
