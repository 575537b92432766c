#!/usr/bin/env python3
"""perfring's benchmarks (issue 6), run by scripts/bench. Python standard library only.

Every figure is a ratio or a distribution measured in this run against a peer measured in the
same run (perf stat, nginx, the deadline itself). Absolute numbers are printed with the
machine's description but never asserted: the exit status is non-zero only when something
could not be measured. One function per measurement; each returns table rows.
"""
import argparse
import datetime
import json
import mmap
import os
import random
import re
import selectors
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOFTWARE_EVENTS = ["task-clock", "context-switches", "cpu-migrations", "page-faults"]
HARDWARE_EVENTS = ["cycles", "instructions", "cache-references", "cache-misses",
                   "branch-instructions", "branch-misses"]
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------------------------------
# Rows of the result table
# ------------------------------------------------------------------------------------------

class Row:
    """One line of the table: what, the measured figure, the goal, and met / missed / info."""
    def __init__(self, section, figure, measured, goal="", status="info"):
        self.section, self.figure, self.measured, self.goal, self.status = section, figure, measured, goal, status


def verdict(ok):
    return "met" if ok else "missed"


def log(msg):
    print("bench: " + msg, flush=True)


# ------------------------------------------------------------------------------------------
# Processes and /proc
# ------------------------------------------------------------------------------------------

def cpu_seconds(pid):
    """CPU time used so far by a process, all threads, user + system.

    /proc/PID/stat's utime+stime count in 10 ms ticks, too coarse for a collector that uses a
    few ms per second; the scheduler's runtime in ns (/proc/PID/task/*/schedstat, the same
    quantity the kernel scales utime+stime to) is used when present, else stat's ticks."""
    total, found = 0, False
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                    total += int(f.read().split()[0])
                    found = True
            except (OSError, ValueError, IndexError):
                pass
    except OSError:
        pass
    if found:
        return total / 1e9
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def settle(pid, quiet_ms=3, window=0.5, timeout=120):
    """Waits until process `pid` uses under `quiet_ms` of CPU in `window` seconds; False when it
    was still busy after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(window)
        now = cpu_seconds(pid)
        if (now - last) * 1000 < quiet_ms:
            return True
        last = now
    return False


def online_cpus():
    """The online CPUs (/sys/devices/system/cpu/online: "0-3,6"), as the collector counts them."""
    out = []
    with open("/sys/devices/system/cpu/online") as f:
        for part in f.read().strip().split(","):
            a, _, b = part.partition("-")
            out += range(int(a), int(b or a) + 1)
    return out


def memory_kb(pid):
    """VmHWM, VmRSS and the RSS split (anon, file-backed, shmem) from /proc/PID/status, in kB."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem"):
                out[k] = int(v.split()[0])
    return out


def fmt_mem(m):
    return "%.1f MB (anon %.1f, file %.1f, shmem %.1f)" % (
        m["VmRSS"] / 1024, m["RssAnon"] / 1024, m["RssFile"] / 1024, m["RssShmem"] / 1024)


class Procs:
    """Processes this run started; all are stopped (by pid) when the run ends."""
    def __init__(self):
        self.live = []

    def start(self, argv, stdout=None, stderr=None, **kw):
        p = subprocess.Popen(argv, stdout=stdout or subprocess.DEVNULL, stderr=stderr or subprocess.DEVNULL,
                             stdin=subprocess.DEVNULL, **kw)
        self.live.append(p)
        return p

    def stop(self, p, sig=signal.SIGINT, timeout=10):
        if p.poll() is None:
            try:
                p.send_signal(sig)
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if p in self.live:
            self.live.remove(p)
        return p.returncode

    def stop_all(self):
        for p in list(self.live):
            self.stop(p, signal.SIGTERM, 5)


def wait_for(pred, timeout, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return None


def pct(values, p):
    """Nearest-rank percentile of a list (p in 0..100)."""
    s = sorted(values)
    if not s:
        return float("nan")
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


# ------------------------------------------------------------------------------------------
# The ring file, read and written from its documentation (Sources/Shared/Ring/RING-FORMAT.md)
# ------------------------------------------------------------------------------------------

HEADER_SIZE, RECORD_FIXED, OS_FIELDS = 4096, 792, 45


class RingFile:
    """Reads a ring file: header, event table and the records still present (seqlock-checked)."""
    def __init__(self, path):
        with open(path, "rb") as f:
            self.data = f.read()
        d = self.data
        magic, version, hsize, self.record_size, self.capacity = struct.unpack_from("<QIIII", d, 0)
        if magic != 0x474E495246524550 or version != 1 or hsize != HEADER_SIZE:
            raise ValueError("%s is not a version 1 perfring ring" % path)
        self.generation, self.pid, self.mode, self.target_pid, self.ncpus = struct.unpack_from("<QIIII", d, 24)
        self.interval_ns, self.created_rt, self.created_mono = struct.unpack_from("<QQQ", d, 48)
        self.nevents, self.npercpu = struct.unpack_from("<II", d, 72)
        self.write_index = struct.unpack_from("<Q", d, 128)[0]
        self.events = []
        for j in range(self.nevents):
            name = d[1024 + 64 * j:1024 + 64 * j + 32].rstrip(b"\0").decode()
            status = struct.unpack_from("<I", d, 1024 + 64 * j + 36)[0]
            self.events.append((name, status))
        self.totals = struct.unpack_from("<%dQ" % self.nevents, d, 2048)

    def records(self):
        """Complete records, oldest first: dicts with time, dt, missed, flags and scaled counts."""
        out = []
        for i in range(max(0, self.write_index - self.capacity), self.write_index):
            off = HEADER_SIZE + (i % self.capacity) * self.record_size
            seq, t, dt, missed, flags = struct.unpack_from("<QQQII", self.data, off)
            if seq != 2 * i + 2:
                continue
            counts = []
            for j in range(self.nevents):
                v, en, run = struct.unpack_from("<QQQ", self.data, off + 48 + 24 * j)
                counts.append(v * en / run if run else None)
            out.append({"index": i, "time": t, "dt": dt, "missed": missed, "flags": flags, "counts": counts})
        return out


class SyntheticRing:
    """Writes a full ring of plausible 100 ms system-wide samples straight from RING-FORMAT.md
    (so a large history exists in seconds, and an independent writer proves the document),
    then appends live records with the documented seqlock protocol."""
    EVENTS = [("cycles", 0, 0, 0), ("instructions", 0, 1, 0), ("cache-references", 0, 2, 1),
              ("cache-misses", 0, 3, 1), ("branch-instructions", 0, 4, 2), ("branch-misses", 0, 5, 2),
              ("task-clock", 1, 1, 3), ("context-switches", 1, 3, 3), ("cpu-migrations", 1, 4, 3),
              ("page-faults", 1, 2, 3)]
    INTERVAL = 100_000_000
    VARIANTS = 4096  # distinct record bodies, repeated through the ring

    def __init__(self, path, records):
        self.path, self.capacity = path, records
        e = len(self.EVENTS)
        self.record_size = (RECORD_FIXED + 63) // 64 * 64
        self.ncpus = os.cpu_count() or 1
        now_mono, now_rt = time.clock_gettime_ns(time.CLOCK_MONOTONIC), time.time_ns()
        # The newest record is "now"; older ones lie further back (their monotonic times may wrap
        # below zero on a young machine: the format's wall-time rule uses a signed difference).
        self.created_mono, self.created_rt = now_mono, now_rt
        h = bytearray(HEADER_SIZE)
        struct.pack_into("<QIIII", h, 0, 0x474E495246524550, 1, HEADER_SIZE, self.record_size, records)
        struct.pack_into("<QIIII", h, 24, random.getrandbits(64), os.getpid(), 0, 0, self.ncpus)
        struct.pack_into("<QQQ", h, 48, self.INTERVAL, now_rt, now_mono)
        struct.pack_into("<IIIIII", h, 72, e, 0, RECORD_FIXED, 64 + 24 * e, 0, 0)
        h[256:256 + 15] = b"bench-synthetic"
        target = b"synthetic history written by scripts/bench"
        h[320:320 + len(target)] = target
        for j, (name, typ, config, group) in enumerate(self.EVENTS):
            base = 1024 + 64 * j
            h[base:base + len(name)] = name.encode()
            struct.pack_into("<IIQiII", h, base + 32, typ, 0, config, 0, group, self.ncpus)
        bodies = self._bodies()
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(h)
            chunk = bytearray(self.record_size * self.VARIANTS)
            for start in range(0, records, self.VARIANTS):
                n = min(self.VARIANTS, records - start)
                chunk[:] = bodies
                for k in range(n):
                    i = start + k
                    struct.pack_into("<QQ", chunk, k * self.record_size, 2 * i + 2,
                                     (now_mono - (records - 1 - i) * self.INTERVAL) % (1 << 64))
                f.write(memoryview(chunk)[:n * self.record_size])
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)
        self.f = open(path, "r+b")
        self.map = mmap.mmap(self.f.fileno(), 0)
        self.written = records
        self._publish(now_mono)

    def _bodies(self):
        """VARIANTS record bodies with counts and OS fields varying like a lightly loaded host."""
        rnd = random.Random(6)
        rs, ncpu, ivl = self.record_size, self.ncpus, self.INTERVAL
        out = bytearray(rs * self.VARIANTS)
        for k in range(self.VARIANTS):
            off = k * rs
            busy = rnd.uniform(0.05, 0.9)
            cycles = int(busy * ncpu * 3e8 * rnd.uniform(0.9, 1.1))
            instr = int(cycles * rnd.uniform(0.4, 2.5))
            refs = int(instr * rnd.uniform(0.005, 0.05))
            br = int(instr * rnd.uniform(0.1, 0.25))
            counts = [cycles, instr, refs, int(refs * rnd.uniform(0.05, 0.6)), br, int(br * rnd.uniform(0.001, 0.05)),
                      ncpu * ivl, rnd.randint(200, 20000), rnd.randint(0, 300), rnd.randint(0, 50000)]
            struct.pack_into("<QII", out, off + 16, ivl, 0, 0)
            struct.pack_into("<Q", out, off + 32, (1 << 32) - 1)  # OS fields 0-31 present
            for j, v in enumerate(counts):
                struct.pack_into("<QQQ", out, off + 48 + 24 * j, v, ivl, ivl)
            total = ncpu * ivl
            user, system = int(total * busy * 0.8), int(total * busy * 0.2)
            iowait = int(total * rnd.uniform(0, 0.02))
            fields = [user, 0, system, total - user - system - iowait, iowait, 0, 0, 0,
                      24 << 30, int((24 << 30) * rnd.uniform(0.5, 0.9)), 0, 0,
                      rnd.randint(0, 1 << 20), rnd.randint(0, 4 << 20), rnd.randint(0, 1 << 18), rnd.randint(0, 1 << 18),
                      rnd.randint(0, 50000), rnd.randint(0, 20000), rnd.randint(0, 5000), 0, rnd.randint(0, 3000), 0,
                      rnd.randint(0, 4000), rnd.randint(0, 3000), rnd.randint(0, 2000), rnd.randint(1, 8), rnd.randint(0, 2),
                      counts[7], rnd.randint(0, 20), rnd.randint(500, 5000), counts[9], rnd.randint(0, 3)]
            fields += [0] * (OS_FIELDS - len(fields))
            struct.pack_into("<%dQ" % OS_FIELDS, out, off + 432, *fields)
        return out

    def _publish(self, heartbeat):
        struct.pack_into("<Q", self.map, 128, self.written)
        struct.pack_into("<Q", self.map, 192, heartbeat)

    def append(self):
        """One live record now, seqlock protocol: odd sequence word, body, even word, index."""
        i = self.written
        off = HEADER_SIZE + (i % self.capacity) * self.record_size
        now = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        struct.pack_into("<Q", self.map, off, 2 * i + 1)
        struct.pack_into("<Q", self.map, off + 8, now)
        struct.pack_into("<Q", self.map, off, 2 * i + 2)
        self.written += 1
        self._publish(now)

    def close(self, remove=True):
        self.map.close()
        self.f.close()
        if remove:
            os.unlink(self.path)


# ------------------------------------------------------------------------------------------
# HTTP helpers
# ------------------------------------------------------------------------------------------

def http_get(port, path, timeout=300, keep=1 << 62):
    """One GET over a fresh connection: (status, body, wall seconds to the last byte). Only the
    first `keep` bytes are kept (history replies run to a gigabyte); `len(body)` is then the
    kept part and the byte count is returned as the fourth element."""
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" % path).encode())
    chunks, kept, total = [], 0, 0
    while True:
        b = s.recv(1 << 20)
        if not b:
            break
        total += len(b)
        if kept < keep:
            chunks.append(b)
            kept += len(b)
    t1 = time.monotonic()
    s.close()
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    return status, body, t1 - t0, total - len(head) - 4


def latest_seq(port):
    """The newest sample's seq from /api/latest, or None while there is none."""
    try:
        status, body, _, _ = http_get(port, "/api/latest", timeout=10)
        return json.loads(body)["seq"] if status == 200 else None
    except (OSError, ValueError, KeyError):
        return None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class SSEClients:
    """N server-sent-event clients in this one process (selectors): arrival time of each event."""
    def __init__(self, port, n):
        self.sel = selectors.DefaultSelector()
        self.bufs = {}
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
            s.setblocking(False)
            self.sel.register(s, selectors.EVENT_READ)
            self.bufs[s] = b""
        self.latencies_ms = []

    def run(self, seconds, tick=None, record=True):
        """Reads for `seconds`; `tick` is called every 100 ms (a live writer, when there is one)."""
        end = time.monotonic() + seconds
        next_tick = time.monotonic()
        while time.monotonic() < end:
            if tick and time.monotonic() >= next_tick:
                tick()
                next_tick += 0.1
            for key, _ in self.sel.select(timeout=0.01):
                arrived = time.time() * 1000
                try:
                    b = key.fileobj.recv(1 << 16)
                except BlockingIOError:
                    continue
                if not b:
                    self.sel.unregister(key.fileobj)
                    continue
                buf = self.bufs[key.fileobj] + b
                while b"\n\n" in buf:
                    ev, buf = buf.split(b"\n\n", 1)
                    i = ev.find(b"data: ")
                    if record and i >= 0:
                        m = re.search(rb'"time_ms":([0-9.]+)', ev[i:])
                        if m:
                            self.latencies_ms.append(arrived - float(m.group(1)))
                self.bufs[key.fileobj] = buf
        return len(self.sel.get_map())

    def close(self):
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()
        self.sel.close()


# ------------------------------------------------------------------------------------------
# The benchmark run
# ------------------------------------------------------------------------------------------

# The machine's own timer floor: the collector's wake-up mechanism (an absolute periodic
# timerfd on CLOCK_MONOTONIC) and nothing else, run beside it; prints each tick's lateness in ns.
TIMERFLOOR_C = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long long interval = atoll(argv[1]), ticks = atoll(argv[2]);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long start = now.tv_sec * 1000000000LL + now.tv_nsec + interval;
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    struct itimerspec its = {{interval / 1000000000, interval % 1000000000}, {start / 1000000000, start % 1000000000}};
    timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL);
    long long n = 0;
    while (n < ticks) {
        uint64_t expired;
        if (read(fd, &expired, sizeof expired) != sizeof expired) return 1;
        clock_gettime(CLOCK_MONOTONIC, &now);
        n += expired;
        printf("%lld\n", now.tv_sec * 1000000000LL + now.tv_nsec - (start + (n - 1) * interval));
        fflush(stdout);
    }
    return 0;
}
"""

# The machine's floor for counting: what any collector that reads every CPU's counters once
# per tick must do, and nothing else. An absolute periodic timerfd on CLOCK_MONOTONIC (the
# collector's wake-up), one blocking read of it per tick, then one PERF_FORMAT_GROUP read per
# CPU and counter group, of the same events in the same groups and read format the collector
# opens. Arguments: interval_ns, then "cpu,cpu,..." and one "type:config:group" per event.
COUNTERFLOOR_C = r"""
#define _GNU_SOURCE
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc < 4) return 2;
    long long interval = atoll(argv[1]);
    int cpus[1024], ncpu = 0;
    for (char *c = strtok(argv[2], ","); c && ncpu < 1024; c = strtok(NULL, ",")) cpus[ncpu++] = atoi(c);
    int nev = argc - 3, leaders[8192], nlead = 0;
    for (int c = 0; c < ncpu; c++) {
        int leader_of[64];
        for (int g = 0; g < 64; g++) leader_of[g] = -1;
        for (int e = 0; e < nev; e++) {
            unsigned type, group; unsigned long long config;
            if (sscanf(argv[3 + e], "%u:%llu:%u", &type, &config, &group) != 3 || group >= 64) return 2;
            struct perf_event_attr a;
            memset(&a, 0, sizeof a);
            a.size = sizeof a;
            a.type = type;
            a.config = config;
            a.read_format = PERF_FORMAT_GROUP | PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING | PERF_FORMAT_ID;
            a.disabled = leader_of[group] < 0;
            int fd = syscall(SYS_perf_event_open, &a, -1, cpus[c], leader_of[group], 0);
            if (fd < 0) continue;  /* unsupported here: the collector does not read it either */
            if (leader_of[group] < 0 && nlead < 8192) { leader_of[group] = fd; leaders[nlead++] = fd; }
        }
    }
    for (int i = 0; i < nlead; i++) ioctl(leaders[i], PERF_EVENT_IOC_ENABLE, PERF_IOC_FLAG_GROUP);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long start = now.tv_sec * 1000000000LL + now.tv_nsec + interval;
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    struct itimerspec its = {{interval / 1000000000, interval % 1000000000}, {start / 1000000000, start % 1000000000}};
    timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
    uint64_t buf[3 + 2 * 64];
    for (;;) {
        uint64_t expired;
        if (read(tfd, &expired, sizeof expired) != sizeof expired) return 1;
        for (int i = 0; i < nlead; i++)
            if (read(leaders[i], buf, sizeof buf) <= 0) return 1;
    }
}
"""

WORKLOAD_C = r"""
/* scripts/bench's deterministic workload: a fixed busy loop, a page-touching loop and a fixed
   number of short sleeps (each one voluntary context switch), then its own getrusage on stderr;
   "spin" is the CPU hog. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <stdio.h>
#include <sys/resource.h>
int main(int argc, char **argv) {
    volatile unsigned long acc = 0;
    if (argc > 1 && strcmp(argv[1], "spin") == 0) for (;;) acc++;
    if (argc < 5) return 2;
    long iters = atol(argv[2]), pages = atol(argv[3]), sleeps = atol(argv[4]);
    for (long i = 0; i < iters; i++) acc += (unsigned long)i ^ (acc >> 3);
    long pg = sysconf(_SC_PAGESIZE);
    char *p = mmap(NULL, pages * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return 1;
    madvise(p, pages * pg, MADV_NOHUGEPAGE);  /* one fault per page, not per 2 MB */
    for (long i = 0; i < pages; i++) p[i * pg] = 1;
    struct timespec ts = {0, 100000};
    for (long i = 0; i < sleeps; i++) nanosleep(&ts, NULL);
    /* The kernel's own accounting of this run, for the comparison. */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    fprintf(stderr, "rusage cpu_ns %ld csw %ld faults %ld\n",
            (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000L + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000L,
            ru.ru_nvcsw + ru.ru_nivcsw, ru.ru_minflt + ru.ru_majflt);
    return 0;
}
"""


class Bench:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.bin = args.bin
        self.collector = os.path.join(self.bin, "perfring-collector")
        self.server = os.path.join(self.bin, "perfring-server")
        self.procs = Procs()
        self.tmp = tempfile.mkdtemp(prefix="perfring-bench.")
        os.chmod(self.tmp, 0o755)  # the server drops to nobody and must read the rings
        self.rows = []
        self.errors = []
        self.root = os.geteuid() == 0
        self.tools = {t: shutil.which(t) for t in ("perf", "wrk", "nginx", "cc")}
        self.pmu = self._pmu()
        self.events = SOFTWARE_EVENTS + (HARDWARE_EVENTS if self.pmu else [])
        self.workload = self._compile_workload()
        self.timerfloor = self._compile("timerfloor", TIMERFLOOR_C)
        self.counterfloor = self._compile("counterfloor", COUNTERFLOOR_C)

    # -- set-up -----------------------------------------------------------------------------

    def _pmu(self):
        """Whether the hardware counters exist: `perf stat -e cycles true` counts something."""
        if not self.tools["perf"]:
            return False
        r = subprocess.run(["perf", "stat", "-x,", "-e", "cycles", "true"], capture_output=True, text=True)
        return r.returncode == 0 and "<not supported>" not in r.stderr and "<not counted>" not in r.stderr

    def _compile_workload(self):
        return self._compile("workload", WORKLOAD_C)

    def _compile(self, name, source):
        if not self.tools["cc"]:
            return None
        src = os.path.join(self.tmp, name + ".c")
        with open(src, "w") as f:
            f.write(source)
        exe = os.path.join(self.tmp, name)
        r = subprocess.run(["cc", "-O1", "-o", exe, src], capture_output=True, text=True)
        return exe if r.returncode == 0 else None

    def machine(self):
        model = "unknown CPU"
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        with open("/proc/loadavg") as f:
            load = float(f.read().split()[0])
        return "%s, %d CPUs, Linux %s, %s; load average %.2f at start%s" % (
            model, os.cpu_count(), os.uname().release,
            "hardware PMU present" if self.pmu else "no hardware PMU (software events only)", load,
            " (a busy machine: the figures are noisy)" if load >= 1.5 else "")

    def seconds(self, full, quick):
        return quick if self.quick else full

    def start_collector(self, ring, interval="100ms", extra=(), events=None, capacity=None, log_name="collector.log"):
        argv = [self.collector, "--ring", ring, "--interval", interval, "-q"]
        if events is not False:
            argv += ["--events", ",".join(events or self.events)]
        if capacity:
            argv += ["--capacity", str(capacity)]
        argv += list(extra)
        p = self.procs.start(argv, stderr=open(os.path.join(self.tmp, log_name), "ab"))
        if not wait_for(lambda: os.path.exists(ring) or p.poll() is not None, 10) or p.poll() is not None:
            raise RuntimeError("perfring-collector did not start: " + self._tail(log_name))
        return p

    def start_server(self, ring, extra=()):
        logf = os.path.join(self.tmp, "server-%d.log" % time.monotonic_ns())
        p = self.procs.start([self.server, "--ring", ring, "--listen", "127.0.0.1:0"] + list(extra),
                             stderr=open(logf, "wb"))

        def port():
            if p.poll() is not None:
                raise RuntimeError("perfring-server exited: " + open(logf).read()[-500:])
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", open(logf).read())
            return int(m.group(1)) if m else None
        found = wait_for(port, 15)
        if not found:
            raise RuntimeError("perfring-server printed no 'listening on' line")
        return p, found

    def _tail(self, name):
        try:
            return open(os.path.join(self.tmp, name)).read()[-500:]
        except OSError:
            return ""

    def hogs(self, n):
        """n CPU-bound processes (the compiled workload's spin mode)."""
        return [self.procs.start([self.workload, "spin"]) for _ in range(n)]

    # -- 0. self-test -----------------------------------------------------------------------

    def self_test(self):
        r = subprocess.run([self.collector, "--self-test"], capture_output=True, text=True, timeout=120)
        print((r.stdout + r.stderr).rstrip(), flush=True)
        m = re.search(r"collector overhead\s+\S+\s+(.*)", r.stdout)
        summary = re.search(r"self-test: (.*)", r.stdout + r.stderr)
        return [Row("0 self-test", "perfring-collector --self-test: %s" % (summary.group(1) if summary else "exit %d" % r.returncode),
                    "own overhead: " + (m.group(1).strip() if m else "see output"))]

    # -- 1 + 2. collector cost and tick accuracy --------------------------------------------

    def side_by_side(self, interval_ms, seconds, per_cpu=False, busy=0, no_os=False):
        """perfring-collector and `perf stat -I` at the same interval over the same events, side
        by side: CPU seconds and memory of each over the same window, and both tick series.
        no_os: the collector counts only (--no-os), the same work perf stat does."""
        tag = "%gms%s%s%s" % (interval_ms, "-percpu" if per_cpu else "", "-busy" if busy else "", "-noos" if no_os else "")
        ring = os.path.join(self.tmp, "ring-" + tag)
        perf_out = os.path.join(self.tmp, "perf-%s.csv" % tag)
        hogs = self.hogs(busy) if busy else []
        capacity = int((seconds + 10) * 1000 / interval_ms) + 100
        col = self.start_collector(ring, "%gms" % interval_ms, (["--per-cpu"] if per_cpu else []) + (["--no-os"] if no_os else []), capacity=capacity,
                                   log_name="collector-%s.log" % tag)
        perf_argv = ["perf", "stat", "-I", "%g" % interval_ms, "-a", "-x,", "-e", ",".join(self.events), "-o", perf_out]
        if per_cpu:
            perf_argv.insert(4, "-A")  # one line per CPU, like --per-cpu
        perf = self.procs.start(perf_argv, stderr=open(perf_out + ".err", "wb"))
        floor_out = os.path.join(self.tmp, "floor-%s.txt" % tag)
        floor = None
        if self.timerfloor and interval_ms == 100 and not per_cpu and not no_os:
            floor = self.procs.start([self.timerfloor, str(int(interval_ms * 1e6)), str(int((seconds + 1) * 1000 / interval_ms))],
                                     stdout=open(floor_out, "wb"))
        # The counting floor beside both at 100 ms (the goals' interval; not in the tick-accuracy
        # run with hogs, whose peer is the timer floor alone): see COUNTERFLOOR_C.
        counting = None
        if self.counterfloor and interval_ms == 100 and not per_cpu and not busy:
            specs = ["%d:%d:%d" % (t, c, g) for name, t, c, g in SyntheticRing.EVENTS if name in self.events]
            counting = self.procs.start([self.counterfloor, str(int(interval_ms * 1e6)), ",".join(map(str, online_cpus()))] + specs)
        time.sleep(1.0)  # both are counting: measure the steady state from here
        perf_refused = perf.poll() is not None
        c0 = cpu_seconds(col.pid)
        p0 = None if perf_refused else cpu_seconds(perf.pid)
        f0 = cpu_seconds(counting.pid) if counting and counting.poll() is None else None
        t0 = time.monotonic()
        time.sleep(seconds)
        wall = time.monotonic() - t0
        c_cpu = cpu_seconds(col.pid) - c0
        f_cpu = cpu_seconds(counting.pid) - f0 if f0 is not None and counting.poll() is None else None
        c_mem = memory_kb(col.pid)
        p_cpu = p_mem = None
        if perf.poll() is None and p0 is not None:
            p_cpu = cpu_seconds(perf.pid) - p0
            p_mem = memory_kb(perf.pid)
        else:
            perf_refused = True
        self.procs.stop(perf)
        self.procs.stop(col)
        if counting:
            self.procs.stop(counting, signal.SIGTERM)
        floor_late = None
        if floor:
            self.procs.stop(floor)
            late = [int(x) / 1e6 for x in open(floor_out).read().split()]
            if late:
                floor_late = {"p50": pct(late, 50), "p99": pct(late, 99), "max": max(late), "n": len(late)}
        for h in hogs:
            self.procs.stop(h, signal.SIGKILL)
        ticks = self.ring_ticks(ring, interval_ms)
        perf_ticks = None if perf_refused else self.perf_ticks(perf_out, interval_ms)
        perf_err = open(perf_out + ".err").read().strip() + (open(perf_out).read().strip() if perf_refused else "")
        os.unlink(ring)
        return {"wall": wall, "c_cpu": c_cpu, "c_mem": c_mem, "p_cpu": p_cpu, "p_mem": p_mem, "f_cpu": f_cpu,
                "ticks": ticks, "perf_ticks": perf_ticks, "floor": floor_late, "perf_refused": perf_refused, "perf_err": perf_err[-300:]}

    @staticmethod
    def lateness(times_ns, tick_numbers, interval_ns):
        """Lateness of each tick against its deadline (first deadline + (n-1) x interval, the
        first deadline estimated as the minimum of time - (n-1) x interval) and the drift: how
        much later the last tenth of ticks is than the first tenth. Each tenth's least late tick
        is compared: scheduling noise only ever adds lateness, so the minimum tracks the clock."""
        first = min(t - (n - 1) * interval_ns for t, n in zip(times_ns, tick_numbers))
        late = [(t - first - (n - 1) * interval_ns) / 1e6 for t, n in zip(times_ns, tick_numbers)]
        k = max(1, len(late) // 10)
        return {"p50": pct(late, 50), "p99": pct(late, 99), "max": max(late),
                "drift": min(late[-k:]) - min(late[:k]), "n": len(late),
                "span_s": (times_ns[-1] - times_ns[0]) / 1e9}

    def ring_ticks(self, ring, interval_ms):
        """Tick lateness from the ring's own timestamps; tick number = running sum of 1+missed."""
        recs = [r for r in RingFile(ring).records() if not r["flags"] & 1]  # not the final record
        n, times, numbers, missed = 0, [], [], 0
        for r in recs:
            n += 1 + r["missed"]
            missed += r["missed"]
            times.append(r["time"])
            numbers.append(n)
        out = self.lateness(times, numbers, int(interval_ms * 1e6))
        out["missed"] = missed
        return out

    def perf_ticks(self, path, interval_ms):
        """The same figures from perf's interval timestamps (first column, seconds since start)."""
        stamps = []
        for line in open(path):
            if not line.strip() or line.startswith("#"):
                continue
            try:
                t = float(line.split(",", 1)[0])
            except ValueError:
                continue
            if not stamps or t != stamps[-1]:
                stamps.append(t)
        if len(stamps) < 3:
            return None
        ns = [int(t * 1e9) for t in stamps]
        return self.lateness(ns, list(range(1, len(ns) + 1)), int(interval_ms * 1e6))

    def collector_cost(self):
        rows = []
        d = self.seconds(60, 10)
        d_other = self.seconds(30, 3)  # 10 ms, 1 ms and --per-cpu: 30 s keeps a full run under 15 min
        # The --no-os runs count only: the same work as perf stat, without the /proc files
        # perfring also reads, so the floor both share shows.
        runs = [(100, False, False, d), (10, False, False, d_other), (1, False, False, d_other), (100, True, False, d_other),
                (100, False, True, d_other), (1, False, True, d_other)]
        # The two goals (issue 14) are ratios on a shared, busy machine: each is measured side by
        # side with perf stat, three times (the first 100 ms runs above and two more each,
        # alternating), and the median decides.
        repeats = {(100, False): [], (100, True): []}
        self.tick_runs = {}
        peaks = []
        extra = [(100, False, False, d_other), (100, False, True, d_other)] * 2
        for i, (interval, per_cpu, no_os, secs) in enumerate(runs + extra):
            label = "%g ms%s%s" % (interval, " --per-cpu" if per_cpu else "", " --no-os" if no_os else "")
            log("collector cost at %s for %g s beside perf stat -I %g%s" % (label, secs, interval, " -A" if per_cpu else ""))
            r = self.side_by_side(interval, secs, per_cpu, no_os=no_os)
            c = r["c_cpu"]
            ratio = c / r["p_cpu"] if r["p_cpu"] else float("inf")
            peaks.append((label, r["c_mem"], r["p_mem"]))
            goal_run = interval == 100 and not per_cpu
            if goal_run and not r["perf_refused"]:
                repeats[(100, no_os)].append((ratio, c, r["p_cpu"], r["wall"], r["f_cpu"]))
            if i >= len(runs):
                continue
            if interval == 100 and not per_cpu and not no_os:
                self.tick_runs["idle"] = r
            elif not per_cpu and not no_os:
                self.tick_runs["%g ms" % interval] = r
            if r["perf_refused"]:
                rows.append(Row("1 cost", "collector CPU at %s (perf refuses this interval: %s)" % (label, r["perf_err"][:80]),
                                "%.3f s CPU in %.0f s (%.2f %% of a CPU); perf: none" % (c, r["wall"], 100 * c / r["wall"]),
                                "", "info"))
            elif not goal_run:
                rows.append(Row("1 cost", "collector CPU at %s vs perf stat -I %g%s" % (label, interval, " -A" if per_cpu else ""),
                                "%.3f s vs %.3f s CPU in %.0f s (%.2f %% vs %.2f %% of a CPU) = %.2f×" % (
                                    c, r["p_cpu"], r["wall"], 100 * c / r["wall"], 100 * r["p_cpu"] / r["wall"], ratio),
                                "", "info"))
        def median(values):
            v = sorted(values)
            return v[len(v) // 2] if v else float("nan")
        for no_os, goal in ((False, 0.5), (True, 0.3)):
            got = repeats[(100, no_os)]
            if not got:
                continue
            # Beside the goal's ratio: the counting floor's (COUNTERFLOOR_C, in the same runs),
            # against perf and against perfring; each a median over the runs; CPU per 100 ms tick.
            us = lambda cpu, wall: "%.0f" % (cpu / wall * 0.1 * 1e6)
            floors = [x for x in got if x[4]]
            floor_text = ("; floor/perf median %.2f×, perfring/floor median %.2f×" % (
                median(f / p for _, _, p, _, f in floors), median(c / f for _, c, _, _, f in floors))) if floors else "; floor: not measured"
            rows.append(Row("1 cost", "collector CPU at 100 ms%s vs perf stat -I 100 -a -e %s, side by side, %d runs; "
                                      "beside them the floor (a bare C loop: the timerfd wake-up and one group read per CPU)" % (
                                " --no-os" if no_os else " with OS signals", ",".join(self.events), len(got)),
                            "median %.2f×%s (µs CPU per tick, perfring / floor / perf: %s)" % (
                                median(x[0] for x in got), floor_text,
                                "; ".join("%s / %s / %s" % (us(c, w), us(f, w) if f else "-", us(p, w)) for x, c, p, w, f in got)),
                            "≤ %.1f× perf" % goal, verdict(median(x[0] for x in got) <= goal)))
        # Memory: the private (anonymous) pages are the collector's own cost; the ring's pages
        # are shared file pages and so is the Swift runtime's text.
        label, mem, _ = max(peaks, key=lambda x: x[1]["RssAnon"])
        perf_anon = max((p["RssAnon"] for _, _, p in peaks if p), default=0)
        rows.append(Row("1 cost", "collector private (anonymous) memory, largest over every run; its RSS split",
                        "%.2f MB at %s: %s; peak RSS (VmHWM) %.1f MB; perf stat anon %.2f MB" % (
                            mem["RssAnon"] / 1024, label, fmt_mem(mem), max(m["VmHWM"] for _, m, _ in peaks) / 1024, perf_anon / 1024),
                        "≤ 1 MB", verdict(mem["RssAnon"] <= 1024)))
        return rows

    def tick_accuracy(self):
        rows = []
        idle = self.tick_runs.get("idle")
        log("tick accuracy with both CPUs busy (%d hogs) at 100 ms" % (os.cpu_count() or 1))
        busy = self.side_by_side(100, self.seconds(60, 5), busy=os.cpu_count() or 1)
        for name, r in (("idle", idle), ("both CPUs busy", busy)):
            if r is None:
                continue
            t, p = r["ticks"], r["perf_ticks"]
            limit = 1.0 if name == "idle" else 10.0
            f = r.get("floor")
            floor = ("; the machine's floor (a bare C timerfd loop beside it): p50 %.3f, p99 %.3f, max %.3f ms" % (
                f["p50"], f["p99"], f["max"])) if f else ""
            rows.append(Row("2 ticks", "tick lateness at 100 ms, %s (%d ticks in %.0f s)" % (name, t["n"], t["span_s"]),
                            "p50 %.3f, p99 %.3f, max %.3f ms, %d missed%s" % (t["p50"], t["p99"], t["max"], t["missed"], floor),
                            "p99 < %g ms" % limit, verdict(t["p99"] < limit)))
            # perf stat -I sleeps one interval after each print: its ticks fall ever later.
            perf = ("perf stat -I 100 %+.1f ms (%+.3f ms per interval)" % (p["drift"], p["drift"] / max(1, p["n"] * 0.9))) if p else "perf: no interval lines"
            rows.append(Row("2 ticks", "cumulative drift after %.0f s, %s" % (t["span_s"], name),
                            "perfring %+.3f ms; %s" % (t["drift"], perf),
                            "none (|drift| < 1 ms)", verdict(abs(t["drift"]) < 1.0)))
        for name in ("10 ms", "1 ms"):  # the faster runs of measurement 1, for reference
            r = self.tick_runs.get(name)
            if r:
                t = r["ticks"]
                rows.append(Row("2 ticks", "tick lateness at %s, idle (%d ticks in %.0f s)" % (name, t["n"], t["span_s"]),
                                "p50 %.3f, p99 %.3f, max %.3f ms, %d missed, drift %+.3f ms" % (
                                    t["p50"], t["p99"], t["max"], t["missed"], t["drift"])))
        return rows

    # -- 3. count agreement -----------------------------------------------------------------

    # The kernel's own accounting of each run (getrusage), which the workload prints: the
    # bridge that cancels what two separate runs cannot share (preemptions, frequency, steal).
    RUSAGE_OF = {"task-clock": "cpu_ns", "context-switches": "csw", "page-faults": "faults"}

    def count_agreement(self):
        """The same deterministic workload counted by perfring (command mode, summing the ring's
        records) and by `perf stat -- CMD`, runs alternating. Compared twice: the medians of the
        raw counts, and the medians of each run's count over that run's own getrusage."""
        args = ["work", "300000000", "20000", "1000"]  # busy loop, 20000 pages, 1000 sleeps
        reps = self.seconds(5, 3)
        raw = {"perfring": {e: [] for e in self.events}, "perf": {e: [] for e in self.events}}
        norm = {"perfring": {e: [] for e in self.events}, "perf": {e: [] for e in self.events}}

        def record(tool, counts, stderr):
            m = re.search(r"rusage cpu_ns (\d+) csw (\d+) faults (\d+)", stderr)
            own = dict(zip(("cpu_ns", "csw", "faults"), map(int, m.groups()))) if m else {}
            for e, v in counts.items():
                raw[tool][e].append(v)
                ref = own.get(self.RUSAGE_OF.get(e, ""), 0)
                if ref:
                    norm[tool][e].append(v / ref)

        for _ in range(reps):
            ring = os.path.join(self.tmp, "ring-cmd")
            r = subprocess.run([self.collector, "--ring", ring, "--interval", "100ms", "--capacity", "1000", "-q",
                                "--events", ",".join(self.events), "--", self.workload] + args,
                               capture_output=True, text=True, timeout=120)
            if r.returncode != 0:
                raise RuntimeError("perfring-collector -- workload exited %d: %s" % (r.returncode, r.stderr[-300:]))
            rf = RingFile(ring)
            recs = rf.records()
            record("perfring", {name: sum(rec["counts"][j] or 0 for rec in recs)
                                for j, (name, status) in enumerate(rf.events) if status == 0 and name in self.events}, r.stderr)
            os.unlink(ring)
            out = os.path.join(self.tmp, "perf-cmd.csv")
            r = subprocess.run(["perf", "stat", "-x,", "-o", out, "-e", ",".join(self.events), "--", self.workload] + args,
                               capture_output=True, text=True, timeout=120, check=True)
            counts = {}
            for line in open(out):
                f = line.strip().split(",")
                if len(f) > 2 and f[2] in self.events and f[0] not in ("<not supported>", "<not counted>"):
                    counts[f[2]] = float(f[0]) * (1e6 if f[1] == "msec" else 1)  # task-clock: msec -> ns like the ring
            record("perf", counts, r.stderr)
        rows = []
        for e in self.events:
            ours, theirs = raw["perfring"][e], raw["perf"][e]
            if not ours or not theirs:
                rows.append(Row("3 counts", e, "not counted by %s" % ("perfring" if not ours else "perf"), "within 1 %", "n/a"))
                continue
            a, b = statistics.median(ours), statistics.median(theirs)
            diff = 100 * (a - b) / b if b else (0.0 if a == 0 else float("inf"))
            show = (lambda v: "%.1f ms" % (v / 1e6)) if e == "task-clock" else (lambda v: "%.0f" % v)
            text = "perfring %s vs perf %s (raw medians, %+.2f %%)" % (show(a), show(b), diff)
            if norm["perfring"][e] and norm["perf"][e]:
                na, nb = statistics.median(norm["perfring"][e]), statistics.median(norm["perf"][e])
                diff = 100 * (na / nb - 1)
                text += "; over each run's getrusage: perfring %.4f×, perf %.4f× → %+.2f %%" % (na, nb, diff)
            rows.append(Row("3 counts", "%s of the workload (%d runs each, alternating)" % (e, reps), text,
                            "within 1 %", verdict(abs(diff) <= 1.0) if e in self.RUSAGE_OF or b >= 100 else "info"))
        return rows

    # -- 4. server throughput ---------------------------------------------------------------

    def wrk(self, url, conns, secs):
        r = subprocess.run(["wrk", "-t2", "-c%d" % conns, "-d%ds" % secs, "--latency", url],
                           capture_output=True, text=True, timeout=secs + 60)
        rps = re.search(r"Requests/sec:\s*([0-9.]+)", r.stdout)
        p99 = re.search(r"^\s*99%\s+([0-9.]+)(us|ms|s)\s*$", r.stdout, re.M)
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", r.stdout)
        sock = re.search(r"Socket errors: (.*)", r.stdout)
        if not rps or not p99:
            raise RuntimeError("wrk gave no figures for %s: %s" % (url, (r.stdout + r.stderr)[-300:]))
        scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}[p99.group(2)]
        note = ""
        if errors:
            note += " (%s non-2xx)" % errors.group(1)
        if sock:
            note += " (socket errors: %s)" % sock.group(1)
        return float(rps.group(1)), float(p99.group(1)) * scale, note

    def start_nginx(self, root, port):
        conf = os.path.join(self.tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write("""daemon off;
worker_processes 2;
pid %(t)s/nginx.pid;
error_log %(t)s/nginx-error.log;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path %(t)s/nginx-body;
    proxy_temp_path %(t)s/nginx-proxy;
    fastcgi_temp_path %(t)s/nginx-fastcgi;
    uwsgi_temp_path %(t)s/nginx-uwsgi;
    scgi_temp_path %(t)s/nginx-scgi;
    types { application/json json; }
    server {
        listen 127.0.0.1:%(p)d;
        root %(r)s;
    }
}
""" % {"t": self.tmp, "p": port, "r": root})
        p = self.procs.start(["nginx", "-e", os.path.join(self.tmp, "nginx-error.log"), "-c", conf, "-p", self.tmp],
                             stderr=open(os.path.join(self.tmp, "nginx.log"), "wb"))
        if not wait_for(lambda: self._port_open(port) or p.poll() is not None, 10) or p.poll() is not None:
            raise RuntimeError("nginx did not start: " + self._tail("nginx-error.log") + self._tail("nginx.log"))
        return p

    @staticmethod
    def _port_open(port):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def server_throughput(self):
        """wrk against /api/latest, /metrics and the last second of /api/data, and against nginx
        serving a static file of /api/latest's size, in the same run."""
        secs = self.seconds(10, 3)
        ring = os.path.join(self.tmp, "ring-http")
        col = self.start_collector(ring, events=False)  # the collector's default events, as deployed
        srv, port = self.start_server(ring)
        if not wait_for(lambda: (latest_seq(port) or 0) >= 20, 15, 0.2):
            raise RuntimeError("no samples from the server")
        _, body, _, _ = http_get(port, "/api/latest")
        seq = json.loads(body)["seq"]
        www = os.path.join(self.tmp, "www")
        os.makedirs(www, exist_ok=True)
        with open(os.path.join(www, "latest.json"), "wb") as f:
            f.write(body)  # the same bytes, so the same size
        os.chmod(www, 0o755)
        nport = free_port()
        ngx = self.start_nginx(www, nport)
        rows = []
        for conns in (64, 256):
            log("wrk -t2 -c%d -d%ds: nginx, /api/latest, /metrics, /api/data" % (conns, secs))
            base_rps, base_p99, note = self.wrk("http://127.0.0.1:%d/latest.json" % nport, conns, secs)
            rows.append(Row("4 http", "nginx static %d B, %d conns" % (len(body), conns),
                            "%.0f req/s, p99 %.2f ms%s" % (base_rps, base_p99, note)))
            newest = latest_seq(port)
            targets = [("/api/latest", "/api/latest"), ("/metrics", "/metrics"),
                       ("/api/data last 1 s (10 samples)", "/api/data?since=%d&limit=10" % (newest - 10))]
            for name, path in targets:
                rps, p99, note = self.wrk("http://127.0.0.1:%d%s" % (port, path), conns, secs)
                ratio = rps / base_rps
                if path == "/api/latest":
                    goal = 1.0 if conns == 64 else 0.5
                    ok = ratio >= goal and (conns == 64 or p99 < 5)
                    rows.append(Row("4 http", "%s, %d conns" % (name, conns),
                                    "%.0f req/s = %.2f× nginx, p99 %.2f ms%s" % (rps, ratio, p99, note),
                                    "≥ 1.0× nginx" if conns == 64 else "≥ 0.5× nginx, p99 < 5 ms", verdict(ok)))
                elif path == "/metrics" and conns == 64:
                    rows.append(Row("4 http", "%s, %d conns" % (name, conns),
                                    "%.0f req/s = %.2f× nginx, p99 %.2f ms%s" % (rps, ratio, p99, note),
                                    "≥ 0.5× nginx", verdict(ratio >= 0.5)))
                else:
                    rows.append(Row("4 http", "%s, %d conns" % (name, conns),
                                    "%.0f req/s = %.2f× nginx, p99 %.2f ms%s" % (rps, ratio, p99, note)))
        self.procs.stop(ngx, signal.SIGQUIT)
        self.procs.stop(srv)
        self.procs.stop(col)
        os.unlink(ring)
        return rows

    # -- 5 + 7. history at scale and memory -------------------------------------------------

    def history_and_memory(self, sizes=None):
        """Full rings of 1 h, 6 h (and 24 h) of 100 ms samples, written synthetically: the
        server's RSS with 100 SSE clients, then /api/data's cost in three shapes."""
        rows_hist, rows_mem, rows_beside = [], [], []
        sizes = sizes or [1, 6] + ([] if self.quick else [24])
        variants = [("objects", "/api/data"), ("columns", "/api/data?format=columns"),
                    ("dashboard fields, columns", "/api/data?fields=cpu_util,task_clock_per_s,context_switches_per_s&format=columns")]
        per36k = {v[0]: [] for v in variants}
        for hours in sizes:
            n = hours * 36000
            path = os.path.join(self.tmp, "ring-%dh" % hours)
            t0 = time.monotonic()
            ring = SyntheticRing(path, n)
            log("%d h ring: %d records written in %.1f s" % (hours, n, time.monotonic() - t0))
            t0 = time.monotonic()  # from start to the newest sample served
            srv, port = self.start_server(path)
            if not wait_for(lambda: latest_seq(port) == n - 1, 300, 0.01):
                raise RuntimeError("server did not load the %d h ring" % hours)
            load_s = time.monotonic() - t0
            load_cpu = cpu_seconds(srv.pid)
            rows_mem.append(self.memory(srv, port, ring, hours, load_s, load_cpu))
            goals = {"objects": 100, "columns": 40}
            for name, url in variants:
                r = self.encode_cost(srv, port, url, n)
                per36k[name].append((hours, r["cpu_ms"] * 36000 / n))
                goal = goals.get(name) if hours == 1 else None
                rows_hist.append(Row("5 history", "/api/data %d h (%d samples), %s" % (hours, n, name),
                                     "CPU %.1f ms, wall %.1f ms, %.1f MB reply (%d reqs) = %.1f ms CPU per 36,000; server private memory +%.1f MB while serving it" % (
                                         r["cpu_ms"], r["wall_ms"], r["bytes"] / 1e6, r["reqs"], r["cpu_ms"] * 36000 / n, r["extra_mb"]),
                                     "≤ %d ms, ≤ 4 MB extra" % goal if goal else "≤ 4 MB extra",
                                     verdict((r["cpu_ms"] <= goal if goal else True) and r["extra_mb"] <= 4)))
            if hours == sizes[-1]:
                rows_beside.append(self.latest_beside_export(port, hours))
            self.procs.stop(srv)
            ring.close()
        for name, pts in per36k.items():
            lo, hi = pts[0][1], pts[-1][1]
            growth = hi / lo if lo else float("inf")
            rows_hist.append(Row("5 history", "growth, %s: per-36,000 cost at %d h over %d h" % (name, pts[-1][0], pts[0][0]),
                                 "%.2f× (1.00 = linear)" % growth, "≤ 1.2×", verdict(growth <= 1.2)))
        return rows_hist + rows_beside + rows_mem

    def latest_beside_export(self, port, hours):
        """wrk on /api/latest while one client downloads the whole ring as CSV beside it, again
        and again until wrk ends (one export may finish sooner than wrk)."""
        secs = self.seconds(8, 3)
        done = {"bytes": 0, "exports": 0}
        stop = threading.Event()
        def export():
            while not stop.is_set():
                _, _, _, size = http_get(port, "/api/export.csv", keep=4096)
                done["bytes"] = size
                done["exports"] += 1
        t = threading.Thread(target=export)
        t.start()
        time.sleep(0.2)
        rps, p99, note = self.wrk("http://127.0.0.1:%d/api/latest" % port, 8, secs)
        stop.set()
        t.join()
        return Row("5 history", "/api/latest beside a %d h /api/export.csv (%.0f MB, repeated: %d started), 8 conns" % (hours, done["bytes"] / 1e6, done["exports"]),
                   "%.0f req/s, p99 %.2f ms%s" % (rps, p99, note), "p99 < 10 ms", verdict(p99 < 10))

    def encode_cost(self, srv, port, path, n):
        """Server CPU (from /proc/PID/schedstat deltas) and wall time per request, over a few."""
        # A server just started works through the ring's phase backlog between requests (a
        # second or more of CPU at 24 h): measured beside a request, it would be counted as the
        # request's. Wait until the server is quiet.
        if not settle(srv.pid):
            log("note: the server was still busy after 120 s; measuring anyway")
        if n <= 36000:
            http_get(port, path)  # warm-up, cheap at this size
        # Medians of several: this VM's run-to-run spread is tens of percent.
        reqs = 5 if n <= 36000 else (1 if self.quick else 3)
        cpu, walls, extra = [], [], []
        for _ in range(reqs):
            # The server's private (anonymous) memory, sampled while the reply streams.
            base = memory_kb(srv.pid)["RssAnon"]
            peak, stop = [base], threading.Event()
            def sample():
                while not stop.is_set():
                    try:
                        peak[0] = max(peak[0], memory_kb(srv.pid)["RssAnon"])
                    except OSError:
                        return
                    time.sleep(0.005)
            sampler = threading.Thread(target=sample)
            sampler.start()
            c0 = cpu_seconds(srv.pid)
            status, body, wall, size = http_get(port, path, keep=1 << 16)
            cpu.append(cpu_seconds(srv.pid) - c0)
            stop.set()
            sampler.join()
            if status != 200:
                raise RuntimeError("%s: HTTP %d %s" % (path, status, body[:200]))
            walls.append(wall)
            extra.append((peak[0] - base) / 1024)
        return {"cpu_ms": 1000 * statistics.median(cpu), "wall_ms": 1000 * statistics.median(walls),
                "bytes": size, "reqs": reqs, "extra_mb": max(extra)}

    def memory(self, srv, port, ring, hours, load_s, load_cpu):
        """Server RSS with the ring loaded and 100 SSE clients receiving live records."""
        before = memory_kb(srv.pid)
        clients = SSEClients(port, 100)
        alive = clients.run(self.seconds(5, 2), tick=ring.append, record=False)
        m = memory_kb(srv.pid)
        clients.close()
        # Private memory (anonymous pages) is the server's own; the ring's file pages are the
        # page cache's, shared with the collector, and dropped behind each reply.
        return Row("7 memory", "server RSS, %d h ring, 100 SSE clients (%d alive)" % (hours, alive),
                   "%s; peak %.1f MB; before clients %.1f MB; newest sample served %.3f s after start (%.2f s CPU)" % (
                       fmt_mem(m), m["VmHWM"] / 1024, before["VmRSS"] / 1024, load_s, load_cpu),
                   "private ≤ 25 MB", verdict(m["RssAnon"] <= 25 * 1024))

    # -- 6. live latency --------------------------------------------------------------------

    def live_latency(self):
        """From a record's time_ms to its arrival at SSE clients in this process."""
        rows = []
        ring = os.path.join(self.tmp, "ring-live")
        col = self.start_collector(ring, events=False)
        srv, port = self.start_server(ring)
        wait_for(lambda: latest_seq(port) is not None, 10)
        for n in (1, 100):
            secs = self.seconds(20, 3)
            log("live latency with %d SSE client(s) for %d s" % (n, secs))
            c = SSEClients(port, n)
            c.run(0.5, record=False)  # connected and settled
            c.latencies_ms = []
            alive = c.run(secs)
            c.close()
            lat = c.latencies_ms
            if not lat:
                raise RuntimeError("no SSE events with %d clients" % n)
            p99 = pct(lat, 99)
            rows.append(Row("6 live", "record write → SSE arrival, %d client%s (%d events, %d alive)" % (n, "s" if n > 1 else "", len(lat), alive),
                            "p50 %.1f ms, p99 %.1f ms, max %.1f ms" % (pct(lat, 50), p99, max(lat)),
                            "p99 < 20 ms + 25 ms poll" if n == 100 else "",
                            verdict(p99 < 45) if n == 100 else "info"))
        self.procs.stop(srv)
        self.procs.stop(col)
        os.unlink(ring)
        return rows

    # -- 8. dashboard and phase detector ----------------------------------------------------

    def dashboard(self):
        if self.quick:
            return [Row("8 dashboard", "dashboard update time (scripts/browser-test)", "skipped with --quick", "< 16 ms", "skipped")]
        log("scripts/browser-test (dashboard update time)")
        r = subprocess.run([os.path.join(REPO, "scripts", "browser-test")], capture_output=True, text=True, timeout=900)
        return self.dashboard_rows(r.stdout + r.stderr, r.returncode)

    @staticmethod
    def dashboard_rows(out, rc):
        """browser-test's figures; the goal is its own: a median update under 16 ms (one frame)."""
        rows = []
        live = re.search(r"live update \((.*?)\): median ([0-9.]+) ms, p95 ([0-9.]+) ms", out)
        if live:
            rows.append(Row("8 dashboard", "live update (%s)" % live.group(1)[:70],
                            "median %s ms, p95 %s ms" % (live.group(2), live.group(3)), "median < 16 ms", verdict(float(live.group(2)) < 16)))
        bench = re.search(r"benchmark: (\d+) points per series.*?: (.*)", out)
        best = re.search(r"best median ([0-9.]+) ms", out)
        if bench:
            rows.append(Row("8 dashboard", "update with %s points per series (synthetic hour served by browser_check.py)" % bench.group(1),
                            bench.group(2)[:160], "best median < 16 ms", verdict(float(best.group(1)) < 16) if best else "info"))
        if not rows:
            rows.append(Row("8 dashboard", "dashboard update time", "browser-test printed no figures (exit %d): %s" % (rc, out[-200:].replace("\n", " ")), "median < 16 ms", "error"))
        return rows

    def phase_quality(self):
        """The phase engineer's evaluation (Tests/ServerTests/PhaseEvaluationTests): its table."""
        src = os.path.join(self.args.package, "Tests", "ServerTests", "PhaseEvaluationTests.swift")
        pending = Row("8 phases", "phase detector: boundary F1, covering, macro-F1, delay",
                      "pending: no evaluation yet", "F1 ≥ 0.9, covering ≥ 0.85, macro-F1 ≥ 0.9", "pending")
        if not os.path.exists(src):
            return [pending]
        argv = ["swift", "test", "--package-path", self.args.package, "--scratch-path", self.args.scratch,
                "--filter", "PhaseEvaluationTests"]
        if self.args.tests_built != "1":
            pending.measured = "pending: the test build is missing or older than the sources (a full run builds it)"
            return [pending]
        argv.insert(2, "--skip-build")
        log("phase detector evaluation (swift test --filter PhaseEvaluationTests)")
        r = subprocess.run(argv, capture_output=True, text=True, timeout=600)
        out = r.stdout + r.stderr
        m = re.search(r"PHASE-EVALUATION programs held-out.*?\n(?:.*\n)*?perfring\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)\s+(\S+)\s+([0-9.]+)", out)
        if not m:
            pending.measured = "pending: the evaluation printed no table (exit %d)" % r.returncode
            return [pending]
        f1, cov, mf1, delay, false_pm = m.groups()
        base = re.search(r"PHASE-EVALUATION programs held-out(?:.*\n)*?fixed-threshold\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)", out)
        ok = float(f1) >= 0.9 and float(cov) >= 0.85 and float(mf1) >= 0.9 and (delay == "n/a" or float(delay) <= 5) and float(false_pm) <= 1
        peer = (" | fixed-threshold baseline: F1 %s, covering %s, macro-F1 %s" % base.groups()) if base else ""
        return [Row("8 phases", "phase detector on the programs set's held-out traces (boundary F1@5, covering, macro-F1, median delay, false/min)",
                    "F1 %s, covering %s, macro-F1 %s, delay %s samples, %s false/min%s" % (f1, cov, mf1, delay, false_pm, peer),
                    "F1 ≥ 0.9, covering ≥ 0.85, macro-F1 ≥ 0.9, delay ≤ 5, ≤ 1 false/min", verdict(ok))]

    # -- driver -----------------------------------------------------------------------------

    # -- 9. an upload analysed beside the live endpoints (issue 20) -------------------------

    def upload_beside_latest(self):
        """/api/latest's p99 while POST /api/analyze analyses a 16 MB recording beside it (on the
        server's worker thread), against its p99 in the same run with no upload."""
        ring = SyntheticRing(os.path.join(self.tmp, "ring-upload"), 600)
        srv, port = self.start_server(ring.path, extra=["--upload"])
        if not wait_for(lambda: latest_seq(port) is not None, 30, 0.1):
            raise RuntimeError("server has no latest sample")
        # A perfring CSV of plausible 100 ms samples, just under the 16 MiB default limit.
        cols = "time_ms,dt_ms,cycles,instructions,cache_references,cache_misses,branches,branch_misses,task_clock,cpu_util"
        lines, size, i = [cols + "\n"], len(cols) + 1, 0
        limit = (16 << 20) - 4096
        while True:
            phase = (i // 3000) % 3
            line = "%d,100,%d,%d,%d,%d,%d,%d,%d,%.2f\n" % (
                100 * (i + 1), 2_000_000_000 + 7919 * (i % 97), (3, 1, 2)[phase] * 1_000_000_000 + 104729 * (i % 89),
                50_000_000 + i % 1000, (1, 20, 4)[phase] * 1_000_000 + i % 777, 400_000_000 + i % 555, 8_000_000 + i % 333,
                99_000_000 + i % 999, 95.0 + (i % 50) / 10)
            if size + len(line) > limit:
                break
            lines.append(line)
            size += len(line)
            i += 1
        body = "".join(lines).encode()

        def latencies(until):
            out = []
            while not until():
                t0 = time.monotonic()
                status, _, _, _ = http_get(port, "/api/latest", timeout=10)
                if status == 200:
                    out.append((time.monotonic() - t0) * 1000)
                ring.append()
            return out

        base_end = time.monotonic() + self.seconds(10, 4)
        base = latencies(lambda: time.monotonic() >= base_end)
        during, upload_s, status = [], [], []
        for _ in range(self.seconds(5, 2)):
            result = {}

            def post():
                t0 = time.monotonic()
                s = socket.create_connection(("127.0.0.1", port), timeout=300)
                s.sendall(b"POST /api/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\n"
                          b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
                raw = b""
                while True:
                    b = s.recv(1 << 16)
                    if not b:
                        break
                    raw += b
                s.close()
                result["status"] = int(raw.split(b" ", 2)[1]) if raw else 0
                result["s"] = time.monotonic() - t0
            t = threading.Thread(target=post)
            t.start()
            during += latencies(lambda: not t.is_alive())
            t.join()
            status.append(result.get("status"))
            upload_s.append(result.get("s", float("nan")))
        if any(st != 200 for st in status):
            raise RuntimeError("POST /api/analyze answered %s" % status)
        p99, p99_base = pct(during, 99), pct(base, 99)
        return [Row("9 upload", "/api/latest p99 while a %.1f MB upload is analysed beside it" % (len(body) / 1e6),
                    "p99 %.2f ms (max %.2f, %d requests) beside %d uploads of %.1f–%.1f s each; no upload: p99 %.2f ms (%d requests)" % (
                        p99, max(during), len(during), len(upload_s), min(upload_s), max(upload_s), p99_base, len(base)),
                    "p99 < 10 ms", verdict(p99 < 10))]

    def step(self, name, fn, needs=()):
        """Runs one measurement; a missing tool is a skip, a failure is an error row."""
        have = dict(self.tools, root=self.root, workload=self.workload)
        missing = [t for t in needs if not have.get(t)]
        if missing:
            self.rows.append(Row(name, "skipped", "needs " + ", ".join(missing), "", "skipped"))
            return
        t0 = time.monotonic()
        try:
            rows = fn()
            self.rows.extend(rows)
            self.errors += ["%s: %s" % (name, r.measured) for r in rows if r.status == "error"]
        except Exception as e:  # noqa: BLE001 - any failure is reported as "could not measure"
            self.errors.append("%s: %s" % (name, e))
            self.rows.append(Row(name, "could not measure", str(e)[:200], "", "error"))
        finally:
            self.procs.stop_all()
        log("%s done in %.0f s" % (name, time.monotonic() - t0))

    def run(self):
        started = time.monotonic()
        self.description = self.machine()
        log(self.description)
        if not self.root:
            log("not root: the collector measurements (1-3, 6) need system-wide counters; they are skipped")
        col = ("root", "perf")
        if self.args.only:
            if self.args.only == "upload":
                self.step("9 upload", self.upload_beside_latest)
            elif self.args.only == "http":
                self.step("4 http", self.server_throughput, needs=("root", "wrk", "nginx"))
            elif self.args.only == "history":
                self.step("5+7 history/memory", self.history_and_memory)
            elif self.args.only == "cost":
                self.step("1 cost", self.collector_cost, needs=col + ("workload",))
            self.rows.sort(key=lambda r: int(r.section[0]) if r.section[0].isdigit() else 0)
            self.elapsed = time.monotonic() - started
            self.report()
            return 1 if self.errors else 0
        self.step("self-test", self.self_test)
        self.step("1 cost", self.collector_cost, needs=col + ("workload",))
        self.step("2 ticks", self.tick_accuracy, needs=col + ("workload",))
        self.step("3 counts", self.count_agreement, needs=col + ("workload",))
        self.step("4 http", self.server_throughput, needs=("root", "wrk", "nginx"))
        self.step("6 live", self.live_latency, needs=("root",))
        self.step("5+7 history/memory", self.history_and_memory)
        self.step("8 dashboard", self.dashboard, needs=("root",))
        self.step("8 phases", self.phase_quality)
        self.step("9 upload", self.upload_beside_latest)
        self.rows.sort(key=lambda r: int(r.section[0]) if r.section[0].isdigit() else 0)  # table order: by issue item
        self.elapsed = time.monotonic() - started
        self.report()
        shutil.rmtree(self.tmp, ignore_errors=True)
        return 1 if self.errors else 0

    def table_header_line(self):
        """The note a partial run (--only) adds above the table: which rows it replaced, when."""
        with open("/proc/loadavg") as f:
            load_end = f.read().split()[0]
        sections = sorted({r.section for r in self.rows})
        return "Section %s re-measured by `scripts/bench --%s` on %s in %.0f s; load average %s at the end." % (
            ", ".join(sections), self.args.only, datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), self.elapsed, load_end)

    def table(self):
        with open("/proc/loadavg") as f:
            load_end = f.read().split()[0]
        kind = "quick run (--quick: short durations, no 24 h ring, no browser)" if self.quick else "full run"
        lines = ["Measured by `scripts/bench` on %s, %s in %.0f s; load average %s at the end." % (
                     datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), kind, self.elapsed, load_end),
                 "Machine: %s. Peers ran in the same run; absolute figures depend on this machine." % self.description,
                 "Binaries: %s (%s)." % (os.path.relpath(self.bin, REPO) if self.bin.startswith(REPO) else self.bin,
                                         "static Swift runtime, as scripts/install ships them" if "static" in self.bin else "as given"),
                 "",
                 "| # | figure | measured | goal | result |",
                 "|---|---|---|---|---|"]
        for r in self.rows:
            cells = [r.section, r.figure, r.measured, r.goal, r.status]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        return "\n".join(lines)

    def report(self):
        t = self.table()
        print("\n" + t + "\n", flush=True)
        missed = [r for r in self.rows if r.status == "missed"]
        log("%d goals met, %d missed, %d not measured" % (
            sum(r.status == "met" for r in self.rows), len(missed), sum(r.status in ("error", "skipped", "pending") for r in self.rows)))
        if self.errors:
            log("could not measure: " + "; ".join(self.errors))
        if not self.args.no_readme:
            if self.args.only:
                replace_readme_rows(os.path.join(REPO, "README.md"), self.rows, self.table_header_line())
                log("the %s rows of README.md's table replaced" % self.args.only)
            else:
                write_readme(os.path.join(REPO, "README.md"), t)
                log("table written to README.md")


def write_readme(path, table):
    """Replaces the text between the bench markers; adds a Benchmarks section at the end if absent."""
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    with open(path) as f:
        text = f.read()
    block = start + "\n" + table + "\n" + end
    if start in text and end in text:
        a = text.index(start)
        b = text.index(end) + len(end)
        text = text[:a] + block + text[b:]
    else:
        text = text.rstrip("\n") + "\n\n## Benchmarks\n\n" + block + "\n"
    tmp = path + ".bench.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def replace_readme_rows(path, rows, note):
    """A partial run: its sections' rows replace those in README.md's table (the others stay,
    with their own run's header), and a note under the header says which and when."""
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    with open(path) as f:
        text = f.read()
    if start not in text or end not in text:
        log("README.md has no bench table; run a full scripts/bench first")
        return
    a, b = text.index(start) + len(start), text.index(end)
    lines = text[a:b].strip("\n").split("\n")
    sections = {r.section for r in rows}
    first = next(i for i, l in enumerate(lines) if l.startswith("|"))
    option = note.split("`")[1]  # a earlier note of the same option is replaced
    head = [l for l in lines[:first] if not (l.startswith("Section ") and "`%s`" % option in l)]
    titles = lines[first:first + 2]
    table = [l for l in lines[first + 2:] if l.split("|")[1].strip() not in sections]
    new = ["| " + " | ".join(c.replace("|", "\\|") for c in [r.section, r.figure, r.measured, r.goal, r.status]) + " |" for r in rows]
    def order(l):
        sec = l.split("|")[1].strip()
        return int(sec[0]) if sec[:1].isdigit() else 0
    merged = sorted(table + new, key=order)  # stable: each section's rows keep their order
    blank = head.index("") if "" in head else len(head)
    body = head[:blank] + [note] + head[blank:] + titles + merged
    text = text[:a] + "\n" + "\n".join(body) + "\n" + text[b:]
    tmp = path + ".bench.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-readme", action="store_true")
    ap.add_argument("--bin", required=True, help="directory with perfring-collector and perfring-server")
    ap.add_argument("--package", default=REPO, help="package directory (for the phase evaluation test)")
    ap.add_argument("--scratch", default=os.path.join(REPO, ".build"), help="swift scratch path of the test build")
    ap.add_argument("--tests-built", default="0", help="1 when the test build is fresh")
    ap.add_argument("--only", choices=["upload", "http", "history", "cost"], help="one measurement alone (its rows replace the same sections' rows of README's table)")
    args = ap.parse_args()
    bench = Bench(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    try:
        return bench.run()
    finally:
        bench.procs.stop_all()
        shutil.rmtree(bench.tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
