// perfring's evaluation workload: runs a seeded random sequence of phases whose bottleneck is
// known by construction, and logs each phase's true start and end (CLOCK_MONOTONIC) to a
// labels file. The driver makes the labels, never the detector under test.
//
//   workload [--seed N] [--phases N] [--min S] [--max S] [--kinds a,b,...] [--dir DIR]
//            [--labels FILE]
//   workload --only KIND --duration S [--labels FILE]      one stationary phase
//
// Kinds and the bottleneck each one exercises:
//   compute  register-only integer loop                     compute-bound
//   chase    pointer chase over 256 MiB, one line per node  memory-bound
//   branch   data-dependent unpredictable branches (L1-resident data)  branch-bound
//   sleep    nanosleep                                      idle
//   fsync    64 KiB writes, each followed by fdatasync      io-bound
//   lock     64 threads on one mutex, short critical section   contention
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { COMPUTE, CHASE, BRANCH, SLEEP, FSYNC, LOCK, KINDS };
static const char *kindName[KINDS] = {"compute", "chase", "branch", "sleep", "fsync", "lock"};
static const char *kindClass[KINDS] = {"compute-bound", "memory-bound", "branch-bound", "idle", "io-bound", "contention"};

static uint64_t now(clockid_t c) {
    struct timespec t;
    clock_gettime(c, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/// splitmix64: the only randomness, so a seed fixes the whole run.
static uint64_t rng;
static uint64_t next(void) {
    uint64_t z = (rng += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/// Keeps a value alive so the optimiser cannot delete the loop that made it.
static volatile uint64_t sink;

// --- compute: two independent multiply-xorshift chains in registers, no loads or stores.
static void compute(uint64_t end) {
    uint64_t x = 88172645463325252u, y = 0x9e3779b97f4a7c15u;
    while (now(CLOCK_MONOTONIC) < end)
        for (int i = 0; i < 1 << 20; i++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17; x *= 0x2545f4914f6cdd1du;
            y ^= y << 13; y ^= y >> 7; y ^= y << 17; y *= 0x2545f4914f6cdd1du;
        }
    sink = x ^ y;
}

// --- chase: a random cyclic permutation (Sattolo) of 64-byte nodes, far larger than any cache;
// every load depends on the previous one and misses.
enum { NODE = 64 / sizeof(uint64_t), CHASE_BYTES = 256 << 20 };
static uint64_t *nodes;
static size_t nodeCount;
static void chaseSetup(void) {
    nodeCount = CHASE_BYTES / 64;
    nodes = aligned_alloc(64, CHASE_BYTES);
    if (!nodes) { perror("workload: chase buffer"); exit(1); }
    for (size_t i = 0; i < nodeCount; i++) nodes[i * NODE] = i;
    for (size_t i = nodeCount - 1; i > 0; i--) {
        size_t j = next() % i;
        uint64_t t = nodes[i * NODE]; nodes[i * NODE] = nodes[j * NODE]; nodes[j * NODE] = t;
    }
}
static void chase(uint64_t end) {
    uint64_t p = 0;
    while (now(CLOCK_MONOTONIC) < end)
        for (int i = 0; i < 1 << 16; i++) p = nodes[p * NODE];
    sink = p;
}

// --- branch: a branch on random bytes, half taken; 16 KiB stays in L1 so misses are branches.
// The asm barrier keeps the compiler from turning the branch into a conditional move.
static uint8_t bytes[16384];
static void branch(uint64_t end) {
    uint64_t a = 0, b = 0;
    while (now(CLOCK_MONOTONIC) < end)
        for (int r = 0; r < 64; r++)
            for (size_t i = 0; i < sizeof bytes; i++) {
                if (bytes[i] < 128) { a += bytes[i]; __asm__ volatile("" : "+r"(a)); }
                else { b ^= bytes[i]; __asm__ volatile("" : "+r"(b)); }
            }
    sink = a ^ b;
}

static void idle(uint64_t end) {
    struct timespec t = {(time_t)(end / 1000000000u), (long)(end % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR) {}
}

// --- fsync: synchronous small writes, the pattern of a database commit log.
static const char *dir = "/var/tmp";
static void fsyncs(uint64_t end) {
    char path[4096];
    snprintf(path, sizeof path, "%s/perfring-workload-%d.dat", dir, (int)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) { perror(path); exit(1); }
    static char block[65536];
    off_t off = 0;
    while (now(CLOCK_MONOTONIC) < end) {
        for (size_t i = 0; i < sizeof block; i += 64) block[i] = (char)next();
        if (pwrite(fd, block, sizeof block, off) != (ssize_t)sizeof block) { perror("workload: write"); exit(1); }
        fdatasync(fd);
        off = (off + (off_t)sizeof block) % (64 << 20);
    }
    close(fd);
    unlink(path);
}

// --- lock: many more threads than cores on one mutex. Each holds the lock briefly and works a
// little outside it, so threads are always runnable and the lock hand-offs switch contexts.
enum { LOCK_THREADS = 64 };
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static uint64_t shared, lockEnd;
static void *locker(void *arg) {
    uint64_t x = (uint64_t)(uintptr_t)arg + 1;
    while (now(CLOCK_MONOTONIC) < lockEnd) {
        for (int n = 0; n < 256; n++) {
            pthread_mutex_lock(&mutex);
            for (int i = 0; i < 50; i++) { shared = shared * 31 + x; }
            pthread_mutex_unlock(&mutex);
            for (int i = 0; i < 200; i++) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; }
            if ((n & 15) == 0) sched_yield();
        }
    }
    sink = x;
    return NULL;
}
static void contend(uint64_t end) {
    pthread_t t[LOCK_THREADS];
    lockEnd = end;
    for (int i = 0; i < LOCK_THREADS; i++) pthread_create(&t[i], NULL, locker, (void *)(uintptr_t)i);
    for (int i = 0; i < LOCK_THREADS; i++) pthread_join(t[i], NULL);
}

static void (*const run[KINDS])(uint64_t) = {compute, chase, branch, idle, fsyncs, contend};

static int kindOf(const char *s, size_t n) {
    for (int k = 0; k < KINDS; k++)
        if (strlen(kindName[k]) == n && strncmp(kindName[k], s, n) == 0) return k;
    fprintf(stderr, "workload: unknown kind '%.*s' (compute, chase, branch, sleep, fsync, lock)\n", (int)n, s);
    exit(2);
}

int main(int argc, char **argv) {
    uint64_t seed = 1;
    int phases = 10, only = -1;
    double minS = 2, maxS = 20, duration = 60;
    const char *labels = NULL, *kindList = "compute,chase,branch,sleep,fsync,lock";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) { fprintf(stderr, "workload: %s needs a value\n", a); return 2; }
        if (!strcmp(a, "--seed")) seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--phases")) phases = atoi(v);
        else if (!strcmp(a, "--min")) minS = atof(v);
        else if (!strcmp(a, "--max")) maxS = atof(v);
        else if (!strcmp(a, "--kinds")) kindList = v;
        else if (!strcmp(a, "--only")) only = kindOf(v, strlen(v));
        else if (!strcmp(a, "--duration")) duration = atof(v);
        else if (!strcmp(a, "--dir")) dir = v;
        else if (!strcmp(a, "--labels")) labels = v;
        else { fprintf(stderr, "workload: unknown option %s\n", a); return 2; }
        i++;
    }
    if (phases < 1 || minS <= 0 || maxS < minS || duration <= 0) { fprintf(stderr, "workload: bad phase count or durations\n"); return 2; }
    int kinds[KINDS], kindCount = 0;
    for (const char *s = kindList; *s;) {
        size_t n = strcspn(s, ",");
        if (kindCount == KINDS) { fprintf(stderr, "workload: too many kinds\n"); return 2; }
        kinds[kindCount++] = kindOf(s, n);
        s += n + (s[n] == ',');
    }
    if (only < 0 && kindCount < 2) { fprintf(stderr, "workload: give at least two kinds\n"); return 2; }

    // The whole plan is drawn before anything runs: the sequence depends on the seed alone.
    rng = seed;
    if (only >= 0) phases = 1;
    int plan[phases];
    double secs[phases];
    for (int p = 0; p < phases; p++) {
        if (only >= 0) { plan[p] = only; secs[p] = duration; break; }
        int k;
        do k = kinds[next() % (uint64_t)kindCount]; while (p > 0 && k == plan[p - 1]);
        plan[p] = k;
        secs[p] = minS + (maxS - minS) * (double)(next() >> 11) / 9007199254740992.0;
    }
    for (size_t i = 0; i < sizeof bytes; i++) bytes[i] = (uint8_t)next();
    int needChase = 0;
    for (int p = 0; p < phases; p++) needChase |= plan[p] == CHASE;
    if (needChase) chaseSetup();

    FILE *out = labels ? fopen(labels, "w") : stdout;
    if (!out) { perror(labels); return 1; }
    uint64_t mono0 = now(CLOCK_MONOTONIC), real0 = now(CLOCK_REALTIME);
    fprintf(out, "# perfring workload labels: seed=%llu phases=%d kinds=%s\n", (unsigned long long)seed, phases, only >= 0 ? kindName[only] : kindList);
    fprintf(out, "# anchor: monotonic_ns=%llu realtime_ns=%llu (unix_ms = (realtime_ns + mono_ns - monotonic_ns) / 1e6)\n",
            (unsigned long long)mono0, (unsigned long long)real0);
    fprintf(out, "phase,kind,class,start_mono_ns,end_mono_ns,start_unix_ms,end_unix_ms\n");
    fflush(out);
    for (int p = 0; p < phases; p++) {
        uint64_t start = now(CLOCK_MONOTONIC);
        run[plan[p]](start + (uint64_t)(secs[p] * 1e9));
        uint64_t end = now(CLOCK_MONOTONIC);
        fprintf(out, "%d,%s,%s,%llu,%llu,%.3f,%.3f\n", p, kindName[plan[p]], kindClass[plan[p]],
                (unsigned long long)start, (unsigned long long)end,
                (double)(real0 + start - mono0) / 1e6, (double)(real0 + end - mono0) / 1e6);
        fflush(out);
    }
    if (labels) fclose(out);
    return 0;
}
