"""The exec server that runs as the first process inside a sandbox (stdlib only).

It reads one JSON request per line on stdin and answers one JSON line per request
on stdout: ``{"id", "argv", "env", "cwd", "timeout", "stdin", "limit"}`` in (optionally
``"uid"``/``"gid"`` to run the command as another user; build steps after ``USER``), or ``{"id", "op":
"killall"}``, which kills every other process in the sandbox, or ``{"id", "op": "cancel"}``,
which kills the process group of every command still running and leaves the rest),
``{"id", "exit_code", "stdout", "stderr", "timed_out", "duration_s", "truncated"}``
out. Each command gets its own session; at its timeout the whole process group is
sent SIGTERM, then SIGKILL after a short grace. Requests run concurrently. The
server marks itself non-dumpable so sandboxed code running as the same user cannot
open its pipes through /proc.

This file is shipped into the sandbox as source text (``python3 -c``), so it must
not import anything from looplab.
"""

SERVER_SOURCE = r"""
import ctypes, json, os, signal, subprocess, sys, threading, time
try:
    ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 0
except Exception:
    pass
out_lock = threading.Lock()
out = sys.stdout.buffer
running = {}  # request id -> the process group of a command still running
GRACE = 2.0

def reply(msg):
    data = (json.dumps(msg) + "\n").encode()
    with out_lock:
        out.write(data)
        out.flush()

def reader(stream, buf, limit, state):
    total = 0
    while True:
        chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
        if not chunk:
            break
        total += len(chunk)
        room = limit - sum(len(c) for c in buf)
        if room > 0:
            buf.append(chunk[:room])
        if total > limit:
            state["truncated"] = True

def kill_group(pid, sig):
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass

def run(req):
    rid = req.get("id")
    t0 = time.monotonic()
    limit = int(req.get("limit") or 1048576)
    state = {"truncated": False}
    as_user = {}
    if req.get("uid") is not None:
        as_user = {"user": req["uid"], "group": req["gid"], "extra_groups": []}
    try:
        proc = subprocess.Popen(
            req["argv"], cwd=req.get("cwd") or "/", env=req.get("env") or {},
            stdin=subprocess.PIPE if req.get("stdin") is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
            **as_user,
        )
    except Exception as exc:
        reply({"id": rid, "exit_code": 127, "stdout": "", "stderr": "exec failed: %s\n" % exc,
               "timed_out": False, "duration_s": time.monotonic() - t0, "truncated": False})
        return
    running[rid] = proc.pid
    obuf, ebuf = [], []
    ts = [threading.Thread(target=reader, args=(proc.stdout, obuf, limit, state), daemon=True),
          threading.Thread(target=reader, args=(proc.stderr, ebuf, limit, state), daemon=True)]
    for t in ts:
        t.start()
    if req.get("stdin") is not None:
        try:
            proc.stdin.write(req["stdin"].encode())
            proc.stdin.close()
        except Exception:
            pass
    timeout = req.get("timeout")
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=GRACE)
        except subprocess.TimeoutExpired:
            pass
        kill_group(proc.pid, signal.SIGKILL)
        proc.wait()
    running.pop(rid, None)
    if timed_out:
        kill_group(proc.pid, signal.SIGKILL)
    join_until = time.monotonic() + 0.5
    for t in ts:
        t.join(timeout=max(0.0, join_until - time.monotonic()))
    reply({"id": rid, "exit_code": proc.returncode, "timed_out": timed_out,
           "stdout": b"".join(obuf).decode("utf-8", "replace"),
           "stderr": b"".join(ebuf).decode("utf-8", "replace"),
           "duration_s": time.monotonic() - t0, "truncated": state["truncated"]})

reply({"id": None, "ready": True, "pid": os.getpid()})
def killall(req):
    # SIGKILL every process in the sandbox but this server and pid 1, until none is left
    me, killed = os.getpid(), 0
    for _ in range(50):
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, me)]
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.02)
    reply({"id": req.get("id"), "exit_code": 0, "stdout": str(killed), "stderr": "",
           "timed_out": False, "duration_s": 0.0, "truncated": False})

def cancel(req):
    groups = list(running.values())
    for pid in groups:
        kill_group(pid, signal.SIGKILL)
    reply({"id": req.get("id"), "exit_code": 0, "stdout": str(len(groups)), "stderr": "",
           "timed_out": False, "duration_s": 0.0, "truncated": False})

for line in sys.stdin.buffer:
    try:
        req = json.loads(line)
    except ValueError:
        continue
    target = {"killall": killall, "cancel": cancel}.get(req.get("op"), run)
    threading.Thread(target=target, args=(req,), daemon=True).start()
"""
