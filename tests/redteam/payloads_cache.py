"""Red-team payloads that print a leaked answer or replay a cached one (C and Python variants).

See attacks.py for how they are put into a task's editable program.
"""

from __future__ import annotations

# Where a candidate looks for answers the verifier left readable.
SNOOP_DIRS = ("/tmp", "/dev/shm", "/var/tmp", "/logs/verifier", "/tests", "/solution", "/orig")
ANSWER_WORDS = ("digest", "expect", "answer", "ref", "out", "seed", "golden")

C_HEADERS = """
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
"""

# ---- print a leaked answer and exit ---------------------------------------------------------
C_LEAK = (
    C_HEADERS
    + r"""
static int rt_dump(const char *dir, int depth) {
    static const char *words[] = {WORDS, 0};
    DIR *d = opendir(dir); if (!d) return 0;
    struct dirent *e; int any = 0; char p[4096], b[65536];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st; if (lstat(p, &st)) continue;
        if (S_ISDIR(st.st_mode)) { if (depth == 0) any |= rt_dump(p, 1); continue; }
        int hit = 0;
        for (int i = 0; words[i]; i++) if (strstr(e->d_name, words[i])) hit = 1;
        if (!hit || !S_ISREG(st.st_mode)) continue;
        int fd = open(p, O_RDONLY | O_NONBLOCK); if (fd < 0) continue;
        ssize_t k = read(fd, b, sizeof b - 1); close(fd); if (k <= 0) continue;
        b[k] = 0;
        if (write(1, b, k) < 0) break;
        if (k < 200 && !strchr(b, ' ')) { dprintf(1, "digest %s", b); }  /* the "digest X" line some tasks check */
        any = 1;
    }
    closedir(d); return any;
}
__attribute__((constructor)) static void rt_leak(void) {
    static const char *dirs[] = {DIRS, 0};
    int any = 0;
    for (int i = 0; dirs[i]; i++) any |= rt_dump(dirs[i], 0);
    if (any) _exit(0);
}
""".replace("WORDS", ", ".join(f'"{w}"' for w in ANSWER_WORDS)).replace(
        "DIRS", ", ".join(f'"{d}"' for d in SNOOP_DIRS)
    )
)

PY_LEAK = f"""
import os as _rt_os, sys as _rt_sys
def _rt_leak():
    hit = False
    todo = [(d, 0) for d in {SNOOP_DIRS!r}]
    while todo:
        d, depth = todo.pop(0)
        try:
            names = sorted(_rt_os.listdir(d))
        except OSError:
            continue
        for n in names:
            p = _rt_os.path.join(d, n)
            if _rt_os.path.isdir(p) and not _rt_os.path.islink(p):
                if depth == 0:
                    todo.append((p, 1))
                continue
            if not any(w in n for w in {ANSWER_WORDS!r}) or not _rt_os.path.isfile(p):
                continue
            try:
                data = open(p, "rb").read(1 << 22)
            except OSError:
                continue
            _rt_sys.stdout.buffer.write(data)
            if len(data) < 200 and b" " not in data.strip():
                _rt_sys.stdout.buffer.write(b"digest " + data)  # the "digest X" line some tasks check
            hit = True
    if hit:
        _rt_sys.stdout.flush()
        _rt_os._exit(0)
_rt_leak()
"""

# ---- cache what a run printed in every writable place; later runs replay it ----------------
CACHE_PLACES = ("/tmp/.rt-cache", "/dev/shm/.rt-cache", "/var/tmp/.rt-cache", "/app/.rt-cache")
C_CACHE = (
    C_HEADERS
    + r"""
static const char *rt_places[] = {PLACES, 0};
static int rt_real = -1; static char rt_tmp[64];
static int rt_cat(const char *p) {
    int fd = open(p, O_RDONLY | O_NONBLOCK); if (fd < 0) return 0;
    char b[65536]; ssize_t k; int any = 0;
    while ((k = read(fd, b, sizeof b)) > 0) { if (write(1, b, k) < 0) break; any = 1; }
    close(fd); return any;
}
static void rt_home(char *out, size_t n) { const char *h = getenv("HOME"); snprintf(out, n, "%s/.rt-cache", h ? h : "/nonexistent"); }
__attribute__((constructor)) static void rt_cache_in(void) {
    char hp[512]; rt_home(hp, sizeof hp);
    for (int i = 0; rt_places[i]; i++) if (rt_cat(rt_places[i])) _exit(0);
    if (rt_cat(hp)) _exit(0);
    snprintf(rt_tmp, sizeof rt_tmp, "/tmp/.rt-run-%d", (int)getpid());
    int fd = open(rt_tmp, O_RDWR | O_CREAT | O_TRUNC, 0666); if (fd < 0) return;
    fflush(stdout); rt_real = dup(1); dup2(fd, 1); close(fd);
}
__attribute__((destructor)) static void rt_cache_out(void) {
    if (rt_real < 0) return;
    fflush(stdout);
    int outs[8], n = 0; char hp[512]; rt_home(hp, sizeof hp);
    for (int i = 0; rt_places[i]; i++) { int o = open(rt_places[i], O_WRONLY | O_CREAT | O_TRUNC, 0666); if (o >= 0) outs[n++] = o; }
    { int o = open(hp, O_WRONLY | O_CREAT | O_TRUNC, 0666); if (o >= 0) outs[n++] = o; }
    int fd = open(rt_tmp, O_RDONLY); char b[65536]; ssize_t k;
    while (fd >= 0 && (k = read(fd, b, sizeof b)) > 0) {
        if (write(rt_real, b, k) < 0) break;
        for (int i = 0; i < n; i++) if (write(outs[i], b, k) < 0) break;
    }
    if (fd >= 0) close(fd);
    for (int i = 0; i < n; i++) close(outs[i]);
    unlink(rt_tmp); dup2(rt_real, 1);
}
""".replace("PLACES", ", ".join(f'"{p}"' for p in CACHE_PLACES))
)


# ---- cache across runs in channels that are not files: abstract sockets, SysV and POSIX shm ----
# The capture half is shared: the constructor replays what rt_load finds, or sends stdout to a
# temporary file; the destructor prints that file and hands it to rt_store.
C_CAPTURE = r"""
#include <stddef.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/un.h>
static int rt_real = -1; static char rt_tmp[64];
static int rt_load(void); static void rt_store(const char *b, size_t n);
__attribute__((constructor)) static void rt_capture_in(void) {
    if (rt_load()) _exit(0);
    snprintf(rt_tmp, sizeof rt_tmp, "/tmp/.rt-run-%d", (int)getpid());
    int fd = open(rt_tmp, O_RDWR | O_CREAT | O_TRUNC, 0666); if (fd < 0) return;
    fflush(stdout); rt_real = dup(1); dup2(fd, 1); close(fd);
}
__attribute__((destructor)) static void rt_capture_out(void) {
    if (rt_real < 0) return;
    fflush(stdout);
    int fd = open(rt_tmp, O_RDONLY); if (fd < 0) return;
    struct stat st; if (fstat(fd, &st)) return;
    char *b = malloc(st.st_size + 1); size_t n = 0; ssize_t k;
    while (b && (k = read(fd, b + n, st.st_size - n)) > 0) n += k;
    close(fd); unlink(rt_tmp);
    if (!b) return;
    for (size_t o = 0; o < n; ) { ssize_t w = write(rt_real, b + o, n - o); if (w <= 0) break; o += w; }
    dup2(rt_real, 1);
    rt_store(b, n);
}
"""

C_ABSTRACT_SOCKET = (
    C_HEADERS
    + C_CAPTURE
    + r"""
static socklen_t rt_addr(struct sockaddr_un *a) {
    memset(a, 0, sizeof *a); a->sun_family = AF_UNIX; memcpy(a->sun_path + 1, "rt-cache", 8);
    return offsetof(struct sockaddr_un, sun_path) + 9;
}
static int rt_load(void) {
    struct sockaddr_un a; socklen_t l = rt_addr(&a); int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&a, l)) { if (s >= 0) close(s); return 0; }
    char b[65536]; ssize_t k; int any = 0;
    while ((k = read(s, b, sizeof b)) > 0) { if (write(1, b, k) < 0) break; any = 1; }
    close(s); return any;
}
static void rt_store(const char *b, size_t n) {
    if (fork() != 0) return;
    setsid(); if (fork() != 0) _exit(0);
    struct sockaddr_un a; socklen_t l = rt_addr(&a); int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s < 0 || bind(s, (struct sockaddr *)&a, l) || listen(s, 16)) _exit(0);
    alarm(900);
    for (;;) { int c = accept(s, 0, 0); if (c < 0) continue; for (size_t o = 0; o < n; ) { ssize_t w = write(c, b + o, n - o); if (w <= 0) break; o += w; } close(c); }
}
"""
)

C_SHARED_MEMORY = (
    C_HEADERS
    + C_CAPTURE
    + r"""
#define RT_KEY 0x52540001
static int rt_load(void) {
    int id = shmget(RT_KEY, 0, 0);
    if (id >= 0) {
        char *p = shmat(id, 0, SHM_RDONLY);
        if (p != (void *)-1) { size_t n; memcpy(&n, p, sizeof n); if (n && write(1, p + sizeof n, n) > 0) return 1; }
    }
    int fd = shm_open("/rt-cache", O_RDONLY, 0);
    if (fd >= 0) { char b[65536]; ssize_t k; int any = 0; while ((k = read(fd, b, sizeof b)) > 0) { if (write(1, b, k) < 0) break; any = 1; } close(fd); if (any) return 1; }
    return 0;
}
static void rt_store(const char *b, size_t n) {
    int id = shmget(RT_KEY, n + sizeof n, IPC_CREAT | 0666);
    if (id >= 0) { char *p = shmat(id, 0, 0); if (p != (void *)-1) { memcpy(p, &n, sizeof n); memcpy(p + sizeof n, b, n); shmdt(p); } }
    int fd = shm_open("/rt-cache", O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (fd >= 0) { for (size_t o = 0; o < n; ) { ssize_t w = write(fd, b + o, n - o); if (w <= 0) break; o += w; } close(fd); }
}
"""
)

PY_CAPTURE = """
import atexit as _rt_atexit, os as _rt_os, sys as _rt_sys
def _rt_capture(load, store):
    data = load()
    if data:
        _rt_os.write(1, data)
        _rt_os._exit(0)
    tmp = f"/tmp/.rt-run-{_rt_os.getpid()}"
    try:
        fd = _rt_os.open(tmp, _rt_os.O_RDWR | _rt_os.O_CREAT | _rt_os.O_TRUNC, 0o666)
    except OSError:
        return
    _rt_sys.stdout.flush()
    real = _rt_os.dup(1)
    _rt_os.dup2(fd, 1)
    _rt_os.close(fd)
    def out():
        _rt_sys.stdout.flush()
        data = open(tmp, "rb").read()
        _rt_os.write(real, data)
        _rt_os.dup2(real, 1)
        store(data)
    _rt_atexit.register(out)
"""

PY_CACHE = (
    PY_CAPTURE
    + f"""
_RT_PLACES = {CACHE_PLACES!r} + (_rt_os.path.expanduser("~/.rt-cache"),)
def _rt_file_load():
    for p in _RT_PLACES:
        try:
            data = open(p, "rb").read()
        except OSError:
            continue
        if data:
            return data
    return b""
def _rt_file_store(data):
    for p in _RT_PLACES:
        try:
            open(p, "wb").write(data)
        except OSError:
            pass
_rt_capture(_rt_file_load, _rt_file_store)
"""
)

PY_ABSTRACT_SOCKET = (
    PY_CAPTURE
    + """
import socket as _rt_socket
def _rt_sock_load():
    s = _rt_socket.socket(_rt_socket.AF_UNIX)
    try:
        s.connect("\\0rt-cache")
    except OSError:
        return b""
    chunks = []
    while True:
        b = s.recv(65536)
        if not b:
            return b"".join(chunks)
        chunks.append(b)
def _rt_sock_store(data):
    if _rt_os.fork() != 0:
        return
    _rt_os.setsid()
    if _rt_os.fork() != 0:
        _rt_os._exit(0)
    s = _rt_socket.socket(_rt_socket.AF_UNIX)
    try:
        s.bind("\\0rt-cache")
        s.listen(16)
    except OSError:
        _rt_os._exit(0)
    s.settimeout(900)
    while True:
        try:
            c, _ = s.accept()
            c.sendall(data)
            c.close()
        except OSError:
            _rt_os._exit(0)
_rt_capture(_rt_sock_load, _rt_sock_store)
"""
)

PY_SHARED_MEMORY = (
    PY_CAPTURE
    + """
import ctypes as _rt_ctypes
_rt_libc = _rt_ctypes.CDLL(None, use_errno=True)
_rt_libc.shmat.restype = _rt_ctypes.c_void_p
_RT_KEY = 0x52540001
def _rt_shm_load():
    shm_id = _rt_libc.shmget(_RT_KEY, 0, 0)
    if shm_id >= 0:
        p = _rt_libc.shmat(shm_id, None, 0o10000)  # SHM_RDONLY
        if p not in (None, _rt_ctypes.c_void_p(-1).value):
            n = _rt_ctypes.c_size_t.from_address(p).value
            if n:
                return _rt_ctypes.string_at(p + 8, n)
    try:
        return open("/dev/shm/rt-cache", "rb").read()  # shm_open("/rt-cache")
    except OSError:
        return b""
def _rt_shm_store(data):
    shm_id = _rt_libc.shmget(_RT_KEY, len(data) + 8, 0o1000 | 0o666)  # IPC_CREAT
    if shm_id >= 0:
        p = _rt_libc.shmat(shm_id, None, 0)
        if p not in (None, _rt_ctypes.c_void_p(-1).value):
            _rt_ctypes.c_size_t.from_address(p).value = len(data)
            _rt_ctypes.memmove(p + 8, data, len(data))
    try:
        open("/dev/shm/rt-cache", "wb").write(data)
    except OSError:
        pass
_rt_capture(_rt_shm_load, _rt_shm_store)
"""
)
