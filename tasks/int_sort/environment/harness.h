/* harness.h -- part of the fixed harness (not editable).
 *
 * The driver never runs the code under test in its own process. run_guarded()
 * forks a child that closes every file descriptor, installs a seccomp filter and
 * only then calls the code under test; the parent waits and checks the result,
 * which the child leaves in memory shared with the parent (shared_alloc). Under
 * the filter the child may use memory (brk/mmap/munmap/mremap/mprotect/madvise),
 * write to stdout/stderr, read clocks and exit; everything else (open, clone/fork,
 * exec, sockets, kill, ...) fails with EPERM. So the code under test is
 * single-threaded, cannot touch files, and cannot fake success by exiting early:
 * only the parent decides whether a run was correct, and only the CPU time the
 * kernel accounted to the child is reported.
 */
#ifndef LOOPLAB_HARNESS_H
#define LOOPLAB_HARNESS_H

#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#if !defined(__x86_64__) || !defined(__linux__)
#error "this harness supports x86-64 Linux only"
#endif

static double harness_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Zero-filled memory shared between the parent and the child it forks later. */
static void *shared_alloc(size_t bytes) {
    void *p = mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("harness: mmap");
        exit(2);
    }
    return p;
}

#define HARNESS_ALLOW(name) \
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_##name, 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

static void harness_guard(void) {
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1), /* x32 ABI */
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        HARNESS_ALLOW(read), HARNESS_ALLOW(write), HARNESS_ALLOW(close), HARNESS_ALLOW(lseek),
        HARNESS_ALLOW(fstat), HARNESS_ALLOW(newfstatat),
        HARNESS_ALLOW(brk), HARNESS_ALLOW(mmap), HARNESS_ALLOW(munmap), HARNESS_ALLOW(mremap),
        HARNESS_ALLOW(mprotect), HARNESS_ALLOW(madvise),
        HARNESS_ALLOW(clock_gettime), HARNESS_ALLOW(gettimeofday), HARNESS_ALLOW(getrandom),
        HARNESS_ALLOW(sysinfo), HARNESS_ALLOW(getpid), HARNESS_ALLOW(gettid), HARNESS_ALLOW(futex),
        HARNESS_ALLOW(sched_yield), HARNESS_ALLOW(rt_sigreturn), HARNESS_ALLOW(rt_sigprocmask),
        HARNESS_ALLOW(exit), HARNESS_ALLOW(exit_group),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
    };
    struct sock_fprog prog = {(unsigned short)(sizeof f / sizeof f[0]), f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
        perror("harness: cannot install the seccomp filter");
        _exit(90);
    }
}

/* Run fn(arg) in a guarded child process. Returns 0 if the child returned from
 * fn and exited normally, else -1 (with a message on stderr). *seconds gets the
 * CPU time (user + system) the child used, from its rusage as the kernel reports
 * it to this parent process, where the code under test cannot reach it. The child
 * is single-threaded (the filter forbids clone), so this is its running time
 * without the time it spent waiting for a CPU that other processes held: the
 * measure that stays comparable on a busy machine. *wall (optional) gets the wall
 * time from just before the fork to the child's exit. */
static int run_guarded(void (*fn)(void *), void *arg, double *seconds, double *wall) {
    volatile int *done = shared_alloc(sizeof(int));
    fflush(NULL);
    double t0 = harness_now();
    pid_t pid = fork();
    if (pid < 0) {
        perror("harness: fork");
        return -1;
    }
    if (pid == 0) {
        long maxfd = sysconf(_SC_OPEN_MAX);
        if (maxfd < 0 || maxfd > 65536) maxfd = 65536;
        for (int fd = 3; fd < maxfd; fd++) close(fd);
        harness_guard();
        fn(arg);
        *done = 1;
        fflush(NULL);
        _exit(77);
    }
    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            perror("harness: wait4");
            return -1;
        }
    }
    if (wall) *wall = harness_now() - t0;
    if (seconds)
        *seconds = (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
                   1e-6 * (double)ru.ru_stime.tv_usec;
    if (WIFSIGNALED(status)) {
        fprintf(stderr, "harness: the code under test died with signal %d (%s)\n", WTERMSIG(status),
                strsignal(WTERMSIG(status)));
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 77 || !*done) {
        fprintf(stderr, "harness: the code under test exited (status %d) instead of returning\n",
                WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        return -1;
    }
    return 0;
}

/* The timing line the verifier reads: the last line of stdout. It starts with a
 * newline so that nothing the code under test wrote can share its line. */
static void report_seconds(double seconds) {
    printf("\n{\"seconds\": %.6f}\n", seconds);
    fflush(stdout);
}

#endif
