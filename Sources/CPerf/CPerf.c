#define _GNU_SOURCE
#include "CPerf.h"

#include <setjmp.h>
#include <signal.h>
#include <ucontext.h>
#include <string.h>
#include <fcntl.h>
#include <grp.h>

#include <sys/socket.h>

int cperf_accept4(int fd, int flags) { return accept4(fd, NULL, NULL, flags); }
int cperf_setresuid(uid_t r, uid_t e, uid_t s) { return setresuid(r, e, s); }
int cperf_setresgid(gid_t r, gid_t e, gid_t s) { return setresgid(r, e, s); }

int cperf_ofd_trylock(int fd) {
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;  // l_start 0, l_len 0: the whole file, however it grows
    return fcntl(fd, F_OFD_SETLK, &fl);
}

// MARK: guarded reads and writes

static __thread sigjmp_buf *guard_env;

static void fault_handler(int sig, siginfo_t *info, void *context) {
    (void)info;
    sigjmp_buf *env = guard_env;
    if (env) {
        guard_env = NULL;
        // sigsetjmp(env, 0) keeps the fast path free of a sigprocmask call, so the jump does not
        // restore the mask. Restore the one the fault interrupted: a runtime that wraps signal
        // handlers (ThreadSanitizer does) may run this one with every signal blocked, and a
        // SIGBUS left blocked kills the process at the next fault.
        sigprocmask(SIG_SETMASK, &((ucontext_t *)context)->uc_sigmask, NULL);
        siglongjmp(*env, 1);
    }
    // Not inside a guarded read: a real bug. Restore the default action and re-raise so the
    // process dies with the right signal and a core.
    signal(sig, SIG_DFL);
    raise(sig);
}

void cperf_install_fault_guard(void) {
    static int installed;
    if (__atomic_exchange_n(&installed, 1, __ATOMIC_ACQ_REL)) return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = fault_handler;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;  // the signal stays unblocked after siglongjmp(…, 0-mask)
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
}

int cperf_guarded_copy(void *dst, const void *src, size_t n) {
    sigjmp_buf env;
    if (sigsetjmp(env, 0)) return -1;
    guard_env = &env;
    memcpy(dst, src, n);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    guard_env = NULL;
    return 0;
}

// One body for both widths: the load happens between arming and disarming the guard.
#define GUARDED_LOAD_ACQUIRE(name, type)                       \
    int name(const type *p, type *out) {                       \
        sigjmp_buf env;                                        \
        if (sigsetjmp(env, 0)) return -1;                      \
        guard_env = &env;                                      \
        type v = __atomic_load_n(p, __ATOMIC_ACQUIRE);         \
        __atomic_signal_fence(__ATOMIC_SEQ_CST);               \
        guard_env = NULL;                                      \
        *out = v;                                              \
        return 0;                                              \
    }
GUARDED_LOAD_ACQUIRE(cperf_guarded_load_acquire_u64, uint64_t)
GUARDED_LOAD_ACQUIRE(cperf_guarded_load_acquire_u32, uint32_t)

int cperf_guarded_seq_write(uint64_t *seq, const void *body, size_t n, uint64_t odd, uint64_t even) {
    sigjmp_buf env;
    if (sigsetjmp(env, 0)) return -1;
    guard_env = &env;
    __atomic_store_n(seq, odd, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    memcpy(seq + 1, body, n);
    __atomic_store_n(seq, even, __ATOMIC_RELEASE);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    guard_env = NULL;
    return 0;
}

#define GUARDED_STORE_RELEASE(name, type)                      \
    int name(type *p, type v) {                                \
        sigjmp_buf env;                                        \
        if (sigsetjmp(env, 0)) return -1;                      \
        guard_env = &env;                                      \
        __atomic_store_n(p, v, __ATOMIC_RELEASE);              \
        __atomic_signal_fence(__ATOMIC_SEQ_CST);               \
        guard_env = NULL;                                      \
        return 0;                                              \
    }
GUARDED_STORE_RELEASE(cperf_guarded_store_release_u64, uint64_t)
GUARDED_STORE_RELEASE(cperf_guarded_store_release_u32, uint32_t)

int cperf_seq_read(const void *record, void *dst, size_t n, uint64_t expected) {
    const uint64_t *seq = (const uint64_t *)record;
    sigjmp_buf env;
    if (sigsetjmp(env, 0)) return -1;
    guard_env = &env;
    int result = 1;
    uint64_t s1 = __atomic_load_n(seq, __ATOMIC_ACQUIRE);
    if (s1 == expected) {
        memcpy(dst, record, n);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        uint64_t s2 = __atomic_load_n(seq, __ATOMIC_RELAXED);
        result = (s2 == s1) ? 0 : 1;
    }
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    guard_env = NULL;
    return result;
}

int cperf_seq_gather(const void *record, void *dst, const uint32_t *offsets, size_t n, uint64_t expected) {
    const uint64_t *seq = (const uint64_t *)record;
    sigjmp_buf env;
    if (sigsetjmp(env, 0)) return -1;
    guard_env = &env;
    int result = 1;
    uint64_t s1 = __atomic_load_n(seq, __ATOMIC_ACQUIRE);
    if (s1 == expected) {
        for (size_t i = 0; i < n; i++) {
            memcpy((char *)dst + offsets[i], (const char *)record + offsets[i], 8);
        }
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        uint64_t s2 = __atomic_load_n(seq, __ATOMIC_RELAXED);
        result = (s2 == s1) ? 0 : 1;
    }
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    guard_env = NULL;
    return result;
}

int cperf_seq_gather_block(const void *area, uint64_t capacity, size_t record_size, uint64_t first, size_t count,
                           const uint32_t *offsets, size_t n, void *dst, size_t dst_stride, uint8_t *ok) {
    sigjmp_buf env;
    if (sigsetjmp(env, 0)) return -1;
    guard_env = &env;
    // A pass over the ring is a strided walk through memory: each record's words are fetched
    // `ahead` records early. Slots advance by addition (no division per record).
    enum { ahead = 8 };
    const char *records = (const char *)area;
    size_t slot = (size_t)(first % capacity), later = slot;
    for (size_t r = 0; r < count && r < ahead; r++) {
        for (size_t i = 0; i < n; i++) __builtin_prefetch(records + later * record_size + offsets[i]);
        if (++later == capacity) later = 0;
    }
    uint64_t expected = first * 2 + 2;
    char *out = (char *)dst;
    for (size_t r = 0; r < count; r++, expected += 2, out += dst_stride) {
        const char *record = records + slot * record_size;
        if (++slot == capacity) slot = 0;
        if (r + ahead < count) {
            for (size_t i = 0; i < n; i++) __builtin_prefetch(records + later * record_size + offsets[i]);
            if (++later == capacity) later = 0;
        }
        const uint64_t *seq = (const uint64_t *)record;
        uint8_t good = 0;
        uint64_t s1 = __atomic_load_n(seq, __ATOMIC_ACQUIRE);
        if (s1 == expected) {
            for (size_t i = 0; i < n; i++) memcpy(out + offsets[i], record + offsets[i], 8);
            __atomic_thread_fence(__ATOMIC_ACQUIRE);
            good = __atomic_load_n(seq, __ATOMIC_RELAXED) == s1;
        }
        ok[r] = good;
    }
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    guard_env = NULL;
    return 0;
}

// MARK: spawn paused

/// Reports a failed stage to the parent and exits as a shell does for a command it cannot run.
static void spawn_fail(int fd, int stage) {
    int msg[2] = {stage, errno};
    ssize_t w;
    do { w = write(fd, msg, sizeof msg); } while (w < 0 && errno == EINTR);
    _exit(127);
}

int cperf_spawn_paused(char *const argv[], int as_user, uid_t uid, gid_t gid, pid_t *pid, int *go_fd, int *err_fd) {
    int go[2], err[2];
    if (pipe2(go, O_CLOEXEC) < 0) return -1;
    if (pipe2(err, O_CLOEXEC) < 0) {
        int e = errno; close(go[0]); close(go[1]); errno = e;
        return -1;
    }
    pid_t child = fork();
    if (child < 0) {
        int e = errno;
        close(go[0]); close(go[1]); close(err[0]); close(err[1]);
        errno = e;
        return -1;
    }
    if (child == 0) {
        // Only async-signal-safe calls from here on.
        close(go[1]);
        close(err[0]);
        char b;
        ssize_t r;
        do { r = read(go[0], &b, 1); } while (r < 0 && errno == EINTR);
        if (r != 1) _exit(127);  // the collector gave up before releasing us
        close(go[0]);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        for (int s = 1; s < 32; s++) {
            if (s != SIGKILL && s != SIGSTOP) signal(s, SIG_DFL);
        }
        // The command runs as the --user account, never as the collector's root: the collector
        // drops to that account too and must still be able to signal it.
        if (as_user && (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0))
            spawn_fail(err[1], CPERF_SPAWN_CREDENTIALS);
        execvp(argv[0], argv);
        spawn_fail(err[1], CPERF_SPAWN_EXEC);
    }
    close(go[0]);
    close(err[1]);
    *pid = child;
    *go_fd = go[1];
    *err_fd = err[0];
    return 0;
}
