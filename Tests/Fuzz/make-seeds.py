#!/usr/bin/env python3
"""Writes the seed corpora under Tests/Fuzz/{http,ring}/corpus (committed; rerun after a format change).

Ring seeds are written from RING-FORMAT.md alone, so they double as a check that the document
is enough to write a ring a perfring reader accepts."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(HERE, target, "corpus")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# --- HTTP: valid requests for every endpoint, and the shapes the hostile battery sends.
REQ = "GET {} HTTP/1.1\r\nHost: t\r\n\r\n"
http = {
    "latest": REQ.format("/api/latest"),
    "data": REQ.format("/api/data?since=3&limit=10&fields=ipc,cycles&format=columns&generation=00ff"),
    "csv": REQ.format("/api/export.csv?since=0"),
    "stream": "GET /api/stream HTTP/1.1\r\nHost: t\r\nLast-Event-ID: 00000000000000ff:7\r\n\r\n",
    "health-head": "HEAD /api/health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    "metrics-10": "GET /metrics HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "static": REQ.format("/index.html") + REQ.format("/vendor/chart.min.js"),
    "absolute": "GET http://h:80/api/fields?x=%41+b HTTP/1.1\r\nHost: h\r\n\r\n",
    "pipelined": REQ.format("/api/events") * 3 + "GARBAGE\r\n\r\n",
    "post-body": "POST /api/data HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
    "chunked": "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "smuggle": "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\nabcd",
    "traversal": REQ.format("/..%2f..%2fetc/passwd") + REQ.format("/%2e%2e/secret.txt") + REQ.format("/static/../../secret.txt"),
    "options": "OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n",
    "connect": "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
    "leading-crlf": "\r\n\r\n" + REQ.format("/"),
    "bare-lf": "GET / HTTP/1.1\nHost: t\n\n",
    "fold": "GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n",
    "nul": "GET /\x00 HTTP/1.1\r\nHost: t\r\n\r\n",
    "conn-list": "GET / HTTP/1.1\r\nHost: t\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
}
for name, text in http.items():
    put("http", name, text.encode("latin-1"))

# --- ring files, version 1.
HEADER = 4096
FIXED = 792
OS_FIELDS = 45


def record_size(e, c):
    return (FIXED + c * (64 + 24 * e) + 63) & ~63


def ring(events, per_cpu=0, capacity=3, written=3, stopped=0, torn=None, values=None, mode=0, interval=100_000_000):
    rs = record_size(len(events), per_cpu)
    b = bytearray(HEADER + capacity * rs)
    struct.pack_into("<QIIII", b, 0, 0x474E495246524550, 1, HEADER, rs, capacity)
    struct.pack_into("<QIIII", b, 24, 0x1234_5678_9ABC_DEF0, 4242, mode, 0 if mode == 0 else 77, 2)
    struct.pack_into("<QQQ", b, 48, interval, 1_700_000_000_000_000_000, 1_000_000_000)
    struct.pack_into("<IIIIII", b, 72, len(events), per_cpu, FIXED, 64 + 24 * len(events), 1 if per_cpu else 0, 1)
    struct.pack_into("<Q", b, 128, written)
    struct.pack_into("<QIi", b, 192, 1_000_000_000 + written * interval, stopped, 0)
    b[256:256 + 4] = b"host"
    b[320:320 + 9] = b"all CPUs\0"
    b[576:576 + 9] = b"package-0"
    for j, (name, typ, status) in enumerate(events):
        o = 1024 + 64 * j
        b[o:o + len(name)] = name.encode()
        struct.pack_into("<IIQiII", b, o + 32, typ, status, j, 0 if status == 0 else 2, j // 2, 2)
        struct.pack_into("<Q", b, 2048 + 8 * j, 1000 * (j + 1))
    for i in range(max(0, written - capacity), written):
        o = HEADER + (i % capacity) * rs
        seq = 2 * i + 1 if torn == i else 2 * i + 2
        struct.pack_into("<QQQIIQ", b, o, seq, 1_000_000_000 + (i + 1) * interval, interval, i % 2, 1 if i == written - 1 and stopped else 0, (1 << OS_FIELDS) - 1)
        for j in range(len(events)):
            v = values(i, j) if values else (1000 * (i + 1) + j, interval, interval // (1 + j % 2))
            struct.pack_into("<QQQ", b, o + 48 + 24 * j, *v)
        for k in range(OS_FIELDS):
            struct.pack_into("<Q", b, o + 432 + 8 * k, (i + 1) * (k + 3))
        for c in range(per_cpu):
            p = o + FIXED + c * (64 + 24 * len(events))
            for k in range(8):
                struct.pack_into("<Q", b, p + 8 * k, 10_000_000 * (k + 1))
            for j in range(len(events)):
                struct.pack_into("<QQQ", b, p + 64 + 24 * j, 500 * (c + 1), interval, interval)
    return bytes(b)


HW = [("cycles", 0, 0), ("instructions", 0, 0), ("cache-references", 0, 0), ("cache-misses", 0, 0),
      ("branch-instructions", 0, 0), ("branch-misses", 0, 0), ("task-clock", 1, 0), ("context-switches", 1, 0),
      ("cpu-migrations", 1, 0), ("page-faults", 1, 0)]
put("ring", "default-events", ring(HW, capacity=4, written=4))
put("ring", "two-events-wrapped", ring(HW[:2], capacity=3, written=7))
put("ring", "per-cpu", ring(HW[6:8], per_cpu=2, capacity=2, written=2))
put("ring", "no-events-stopped", ring([], capacity=2, written=1, stopped=1, mode=2))
put("ring", "unsupported-hw", ring([("cycles", 0, 1), ("instructions", 0, 2), ("task-clock", 1, 0)], capacity=3, written=2))
put("ring", "torn-record", ring(HW[:4], capacity=4, written=4, torn=2))
put("ring", "extreme-values", ring(HW[:6], capacity=3, written=3,
                                     values=lambda i, j: [(2**64 - 1, 2**64 - 1, 1), (0, 0, 0), (5, 1, 2**64 - 1)][i % 3]))
put("ring", "empty", ring(HW[:2], capacity=2, written=0))
