"""Start a command as root of a new user namespace that maps a whole range of host uids.

Build steps (``RUN apt-get install ...``) need a real-looking root: dpkg chowns files
to ``man``, ``_apt``, ``shadow``... which a single-uid namespace (``bwrap --uid 0``)
cannot do. Run as host root, this launcher unshares a user namespace, has a helper
child (still in the host namespace) write ``uid_map``/``gid_map`` mapping
``0..count-1`` onto host ``base..base+count-1``, then becomes uid 0 inside and
``exec``s the command (bwrap without ``--unshare-user``). Every process of the build
is an unprivileged host uid of that range; nothing it does reaches host files it does
not own. Stdlib only: run as ``python3 -I -S userns.py BASE COUNT -- /abs/path ARGS...``.
"""

import ctypes
import os
import sys

CLONE_NEWUSER = 0x10000000
PR_SET_PDEATHSIG = 1


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        sys.stderr.write("usage: userns.py BASE COUNT -- ARGV...\n")
        return 2
    base, count = int(argv[0]), int(argv[1])
    cmd = argv[3:]
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)
    go_r, go_w = os.pipe()
    done_r, done_w = os.pipe()
    parent = os.getpid()
    child = os.fork()
    if child == 0:  # host namespace: wait until the parent unshared, then write its maps
        os.close(go_w)
        os.close(done_r)
        os.read(go_r, 1)
        try:
            for name in ("uid_map", "gid_map"):
                with open(f"/proc/{parent}/{name}", "w") as f:
                    f.write(f"0 {base} {count}\n")
            os.write(done_w, b"1")
        except OSError as exc:
            sys.stderr.write(f"userns: cannot write the id maps: {exc}\n")
        os._exit(0)
    os.close(go_r)
    os.close(done_w)
    if libc.unshare(CLONE_NEWUSER) != 0:
        sys.stderr.write(f"userns: unshare(CLONE_NEWUSER) failed: {os.strerror(ctypes.get_errno())}\n")
        return 1
    os.write(go_w, b"1")
    ok = os.read(done_r, 1) == b"1"
    os.waitpid(child, 0)
    if not ok:
        return 1
    os.setgroups([])
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)
    os.execv(cmd[0], cmd)  # an absolute path: after setresuid the host's lookups may fail
    return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
