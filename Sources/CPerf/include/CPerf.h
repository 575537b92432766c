// CPerf: the few things Swift cannot say directly to Linux.
//
// - perf_event_open(2) has no libc wrapper, and its ioctls are function-like macros Swift
//   cannot import; thin inline wrappers make both callable.
// - The ring file is shared between processes. Its cross-process synchronisation (the write
//   index, the heartbeat, the per-record seqlock) goes through the guarded acquire/release
//   routines here and nowhere else, so the memory-ordering argument lives in one place.
// - Both sides must survive a ring file that is truncated under their mapping (SIGBUS on
//   touch). The guarded routines (reads for the server, writes for the collector) turn that
//   fault into an error code.
// - fork/exec with a pause before exec (so counters can be attached with enable_on_exec) must
//   not run Swift code in the child.
#ifndef CPERF_H
#define CPERF_H

#include <sys/socket.h>

#include <linux/perf_event.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>
#include <errno.h>
// Linux-only headers the Glibc module does not export to Swift.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <grp.h>

// MARK: perf_event_open

static inline int cperf_event_open(struct perf_event_attr *attr, pid_t pid, int cpu, int group_fd,
                                   unsigned long flags) {
    return (int)syscall(SYS_perf_event_open, attr, pid, cpu, group_fd, flags);
}

static inline int cperf_ioctl_enable(int fd, int group) {
    return ioctl(fd, PERF_EVENT_IOC_ENABLE, group ? PERF_IOC_FLAG_GROUP : 0);
}
static inline int cperf_ioctl_disable(int fd, int group) {
    return ioctl(fd, PERF_EVENT_IOC_DISABLE, group ? PERF_IOC_FLAG_GROUP : 0);
}
static inline int cperf_ioctl_reset(int fd, int group) {
    return ioctl(fd, PERF_EVENT_IOC_RESET, group ? PERF_IOC_FLAG_GROUP : 0);
}
static inline int cperf_ioctl_id(int fd, uint64_t *id) { return ioctl(fd, PERF_EVENT_IOC_ID, id); }

static inline uint32_t cperf_attr_size(void) { return (uint32_t)sizeof(struct perf_event_attr); }

// Bitfield setters: Swift imports perf_event_attr's flag bits, but naming them here keeps the
// collector independent of how a given Swift version imports C bitfields.
static inline void cperf_attr_set_flags(struct perf_event_attr *a, int disabled, int inherit,
                                        int enable_on_exec, int exclude_guest) {
    a->disabled = disabled ? 1 : 0;
    a->inherit = inherit ? 1 : 0;
    a->enable_on_exec = enable_on_exec ? 1 : 0;
    a->exclude_guest = exclude_guest ? 1 : 0;
}

/// perf's fallback for a refusal on privilege: count user space only (attr.exclude_kernel and
/// exclude_hv, perf's `:u` modifier).
static inline void cperf_attr_set_exclude(struct perf_event_attr *a, int kernel, int hv) {
    a->exclude_kernel = kernel ? 1 : 0;
    a->exclude_hv = hv ? 1 : 0;
}

/// The attr's flag bits as a mask, for a simulated kernel to read: CPERF_ATTR_*.
enum {
    CPERF_ATTR_DISABLED = 1, CPERF_ATTR_INHERIT = 2, CPERF_ATTR_ENABLE_ON_EXEC = 4,
    CPERF_ATTR_EXCLUDE_KERNEL = 8, CPERF_ATTR_EXCLUDE_HV = 16
};
static inline int cperf_attr_flags(const struct perf_event_attr *a) {
    return (a->disabled ? CPERF_ATTR_DISABLED : 0) | (a->inherit ? CPERF_ATTR_INHERIT : 0)
        | (a->enable_on_exec ? CPERF_ATTR_ENABLE_ON_EXEC : 0)
        | (a->exclude_kernel ? CPERF_ATTR_EXCLUDE_KERNEL : 0) | (a->exclude_hv ? CPERF_ATTR_EXCLUDE_HV : 0);
}

// MARK: GNU extensions the Glibc module hides from Swift

int cperf_accept4(int fd, int flags);
int cperf_setresuid(uid_t r, uid_t e, uid_t s);
int cperf_setresgid(gid_t r, gid_t e, gid_t s);

/// An exclusive open-file-description lock (F_OFD_SETLK) on the whole file, without waiting:
/// 0, or -1 with errno (EAGAIN or EACCES while another descriptor holds it).
int cperf_ofd_trylock(int fd);

// MARK: process controls that are variadic in libc

static inline int cperf_set_no_new_privs(void) { return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); }
static inline int cperf_get_no_new_privs(void) { return prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0); }
static inline int cperf_set_pdeathsig(int sig) { return prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0); }

// MARK: guarded access to a mapping that may shrink under us

/// Installs the SIGBUS handler used by the guarded reads and writes (idempotent). Faults
/// outside a guarded access keep their default, fatal behaviour.
void cperf_install_fault_guard(void);

/// Copies n bytes; returns 0, or -1 if touching `src` faulted (the file was truncated).
int cperf_guarded_copy(void *dst, const void *src, size_t n);

/// Acquire-loads a u64 from a mapping; returns 0, or -1 on a fault.
int cperf_guarded_load_acquire_u64(const uint64_t *p, uint64_t *out);

/// Acquire-loads a u32 from a mapping; returns 0, or -1 on a fault.
int cperf_guarded_load_acquire_u32(const uint32_t *p, uint32_t *out);

/// Seqlock write of one record whose first 8 bytes are its sequence word, from a private
/// copy: stores `odd`, a release fence, the `n` bytes of `body` after the sequence word, then
/// `even` with release ordering. Returns 0, or -1 if the mapping faulted (the file shrank).
int cperf_guarded_seq_write(uint64_t *seq, const void *body, size_t n, uint64_t odd, uint64_t even);

/// Release-stores into a mapping; returns 0, or -1 on a fault.
int cperf_guarded_store_release_u64(uint64_t *p, uint64_t v);
int cperf_guarded_store_release_u32(uint32_t *p, uint32_t v);

/// Seqlock read of one record whose first 8 bytes are its sequence word. Copies `n` bytes into
/// `dst` and returns 0 when the copy is consistent and its sequence equals `expected`; 1 when
/// the record is being written, was overwritten, or is not the expected one; -1 on a fault.
int cperf_seq_read(const void *record, void *dst, size_t n, uint64_t expected);

/// Like cperf_seq_read, copying only the u64 fields at byte `offsets` (multiples of 8) of the
/// record to the same offsets of `dst`: a reply that needs one column of many records copies
/// the few words that column is derived from, not whole records.
int cperf_seq_gather(const void *record, void *dst, const uint32_t *offsets, size_t n, uint64_t expected);

/// cperf_seq_gather over `count` consecutive records of a ring, under one fault guard: record
/// first + i is ring slot (first + i) % capacity at `area` + slot * `record_size`, expected to
/// hold sequence 2 (first + i) + 2, and its words go to `dst` + i * `dst_stride`; ok[i] is 1
/// when that copy is consistent, else 0. Returns 0, or -1 on a fault (ok[] is then not set).
int cperf_seq_gather_block(const void *area, uint64_t capacity, size_t record_size, uint64_t first, size_t count,
                           const uint32_t *offsets, size_t n, void *dst, size_t dst_stride, uint8_t *ok);

// MARK: self-test

/// Runs a loop of exactly `n` iterations whose instruction count is known, and returns the
/// instructions per iteration (2), or 0 on architectures without a known loop.
static inline uint64_t cperf_known_loop(uint64_t n) {
    if (n == 0) return 0;
#if defined(__x86_64__)
    __asm__ volatile("1: dec %0\n\tjnz 1b" : "+r"(n) : : "cc");
    return 2;
#elif defined(__aarch64__)
    __asm__ volatile("1: subs %0, %0, #1\n\tb.ne 1b" : "+r"(n) : : "cc");
    return 2;
#else
    (void)n;
    return 0;
#endif
}

// MARK: launching a command paused before exec

/// Forks a child that waits for a byte on a pipe, then resets its signal mask and dispositions,
/// becomes uid/gid (groups: just gid) when as_user is set, and execvp()s argv. On success
/// returns 0 and sets *pid, *go_fd (write one byte, or close, to release the child) and *err_fd
/// (reads EOF once exec succeeded, or two ints when it failed: the stage, CPERF_SPAWN_EXEC or
/// CPERF_SPAWN_CREDENTIALS, and errno). Returns -1 with errno set when the pipes or fork fail.
enum { CPERF_SPAWN_EXEC = 0, CPERF_SPAWN_CREDENTIALS = 1 };
int cperf_spawn_paused(char *const argv[], int as_user, uid_t uid, gid_t gid, pid_t *pid, int *go_fd, int *err_fd);

#endif
