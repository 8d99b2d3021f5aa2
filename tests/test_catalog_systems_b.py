"""Smoke tests for systems tasks 5-8: hash_join, levenshtein_batch, aes128_ctr, bm25_search.

Fast tests, per task: it loads without warnings and its task.toml, verifier and files agree;
the pristine harness builds on the host (in a temp dir, with the task's fixed Makefile) around
the baseline and around the reference solution, and both give exactly the answers of the
task's own independent checker (tests/check_*.py, tests/aes_ref.py), which is itself
cross-checked here against a second, naive implementation (a dict join, the plain edit
distance DP, the `cryptography` package where the system Python has it, FIPS test vectors).
The BM25 checker is shown to reject wrong rankings and broken ties, and the import rule to
reject disallowed modules.

Slow tests run the tasks through the real harness: cheating agents (replay) that edit
non-editable files, hard-code the local check's answers, print fake metric lines, or tamper
with the verifier, the baseline and the timing files from inside their own code, and score
no more than the honest baseline does (about 0).
"""

from __future__ import annotations

import importlib.util
import json
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, run_job, trial_results

from looplab.tasks.loader import load_task
from looplab.verify.runner import load_declaration

TASKS = REPO / "tasks"
C_TASKS = {  # task: (editable source, program)
    "hash_join": ("join.c", "join_bench"),
    "levenshtein_batch": ("lev.c", "lev_bench"),
    "aes128_ctr": ("aes.c", "aes_bench"),
}
ALL = (*C_TASKS, "bm25_search")
HEADROOM = {"hash_join": 4}  # baseline / reference at least this (5 elsewhere)
# the honest baseline (nop) measures a speedup of about 1 and scores about 0
HONEST_BASELINE_CEILING = 0.1


def module(task: str, folder: str, name: str):
    path = TASKS / task / folder / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"{task}_{folder}_{name}", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def build(tmp_path: Path, task: str, variant: str, cflags_extra: str = "") -> Path:
    """Build TASK's program with its fixed Makefile around the baseline or the reference source."""
    src_name, prog = C_TASKS[task]
    src = tmp_path / f"src-{variant}"
    src.mkdir()
    origin = TASKS / task / ("environment" if variant == "baseline" else "solution") / src_name
    shutil.copy(origin, src / src_name)
    out = tmp_path / f"build-{variant}"
    cmd = ["make", "-s", "-f", str(TASKS / task / "environment" / "Makefile"), f"SRC={src}", f"BUILD={out}"]
    if cflags_extra:
        cmd.append(f"CFLAGS=-O2 -march=native -std=gnu11 -Wall {cflags_extra}")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return out / prog


def run(*cmd: str | Path, timeout: float = 60) -> str:
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.parametrize("task", ALL)
def test_task_loads_and_its_parts_agree(task: str) -> None:
    t = load_task(TASKS / task)
    assert t.warnings == []
    cfg = t.config
    assert cfg.metadata["domain"] == "systems" and cfg.metadata["author"] == "looplab"
    assert cfg.environment.cpus == 1
    assert cfg.looplab.measure == "paired" and cfg.looplab.reward == "log_speedup"
    assert cfg.looplab.dev_check == "bash /app/check.sh"
    pm = cfg.looplab.paired
    assert pm is not None
    # verification stays within ~3 minutes: test.sh (< 40 s here) + build + warmup + timing budget
    assert pm.max_seconds <= 90 and pm.max_pairs <= 15
    (editable,) = cfg.looplab.editable
    assert (t.environment_dir / editable).is_file() and (t.solution_dir / editable).is_file()
    opt = cfg.optimization
    assert opt.metric == "time_s" and opt.direction == "lower"
    # hash_join's timed runs include the pristine harness generating the tables (the same for both
    # sides), which narrows the headroom the reference shows
    assert opt.baseline.score > HEADROOM.get(task, 5) * opt.reference.score > 0
    dockerfile = (t.environment_dir / "Dockerfile").read_text()
    assert re.search(rf"COPY .*\b{re.escape(editable)}\b.* /orig/", dockerfile)
    decl = load_declaration(t.tests_dir)
    if decl is not None:
        # declared runs: no jail code of its own, the harness's runner does every run
        assert pm.baseline is None and pm.candidate is None and pm.build is None
        assert decl.programs == {"baseline": "/orig", "candidate": "/app"}
        for f in ("solution/solve.sh", "solution/reference.md", "tests/test.sh", "environment/check.sh"):
            assert (t.path / f).is_file(), f
        assert "/tests" not in decl.run.command and (decl.build is None or "/tests" not in decl.build.command)
        for f in ("run_timed.sh", "harness.h"):
            assert not (t.environment_dir / f).exists(), f
        assert not (t.tests_dir / "verify.py").exists()
        assert "bwrap" not in "".join(
            p.read_text() for p in t.tests_dir.iterdir() if p.suffix in (".py", ".sh")
        )
        # the plain-Harbor fallback scores with the task's constants
        m = re.search(r"harbor_run\.py ([\d.]+)", (t.tests_dir / "test.sh").read_text())
        assert m and float(m.group(1)) == pytest.approx(opt.baseline.score / opt.reference.score, rel=0.01)
        return
    for f in ("solution/solve.sh", "solution/reference.md", "tests/test.sh", "tests/verify.py"):
        assert (t.path / f).is_file(), f
    for f in ("check.sh", "run_timed.sh", "Dockerfile"):
        assert (t.environment_dir / f).is_file(), f
    # the plain-Harbor fallback in verify.py scores with the same constants
    text = (t.tests_dir / "verify.py").read_text()
    m = re.search(r"^BASELINE_S, REFERENCE_S = ([\d.]+), ([\d.]+)", text, re.M)
    assert m and float(m.group(1)) == opt.baseline.score and float(m.group(2)) == opt.reference.score
    # the timed commands use the pristine copy, never a script the agent could edit
    assert all(c.startswith("bash /orig/") for c in (pm.build, pm.baseline, pm.candidate))
    assert re.search(r"COPY .*\brun_timed\.sh\b.* /orig/", dockerfile)


# ---- hash_join -------------------------------------------------------------------------------
def test_hash_join_checker_value_join_equals_a_dict_join_on_keys() -> None:
    cj = module("hash_join", "tests", "check_join")
    seed, nr, ns, kr, ks = 5, 700, 20_000, 300, 1200
    base = cj.splitmix64_scalar(seed)
    salt = cj.default_salt(seed)
    rv, rp = cj.gen_values(base, 0, nr, kr)
    sv, sp = cj.gen_values((base + (1 << 40)) % (1 << 64), 0, ns, ks)
    rk, sk = cj.keys_of(rv, salt).tolist(), cj.keys_of(sv, salt).tolist()
    assert len(set(rk)) == len(set(rv.tolist()))  # the key scramble is a bijection
    table: dict[int, list[int]] = {}
    for k, p in zip(rk, rp.tolist(), strict=True):
        table.setdefault(k, []).append(p)
    pairs = checksum = 0
    for k, p in zip(sk, sp.tolist(), strict=True):
        for q in table.get(k, ()):
            pairs += 1
            checksum += int(cj.pair_hash(np.array([q], np.uint32), np.array([p], np.uint32))[0])
    assert pairs > 0
    assert cj.expected(seed, nr, ns, kr, ks) == f"pairs {pairs}\nchecksum {checksum % (1 << 64):016x}\n"


@pytest.mark.parametrize("variant", ["baseline", "reference"])
def test_hash_join_matches_the_checker(tmp_path: Path, variant: str) -> None:
    cj = module("hash_join", "tests", "check_join")
    prog = build(tmp_path, "hash_join", variant)
    for args in (
        (1, 0, 100, 10, 100),
        (2, 100, 0, 10, 100),
        (3, 2000, 50_000, 1000, 16_000),
        (4, 300, 20_000, 3, 6),
    ):
        assert run(prog, *args) == cj.expected(*args), args
    rng = np.random.default_rng(7)
    for nr, ns, pool in ((40, 3000, 10), (5000, 60_000, 3000)):
        r, s = cj.random_tables(rng, nr, ns, pool)
        cj.write_tables(str(tmp_path / "t.bin"), r, s)
        assert run(prog, "--file", tmp_path / "t.bin") == cj.expected_tables(r, s)
    assert "pairs 0\n" in run(prog, "--file", write_empty_tables(tmp_path))


def write_empty_tables(tmp_path: Path) -> Path:
    p = tmp_path / "empty.bin"
    p.write_bytes(b"HJ01" + bytes(4) + np.array([0, 0], "<u8").tobytes())
    return p


# ---- levenshtein_batch -----------------------------------------------------------------------
def test_levenshtein_checker_agrees_with_the_plain_dp() -> None:
    cl = module("levenshtein_batch", "tests", "check_lev")
    rng = random.Random(3)
    pairs = cl.random_pairs(rng, 250, 150)
    assert any(len(a) == 0 for a, _ in pairs) and any(len(a) > 64 for a, _ in pairs)
    for a, b in pairs:
        assert cl.distance(a, b) == cl.distance_dp(a, b), (a, b)
    assert cl.distance(b"kitten", b"sitting") == 3


@pytest.mark.parametrize("variant", ["baseline", "reference"])
def test_levenshtein_matches_the_checker(tmp_path: Path, variant: str) -> None:
    cl = module("levenshtein_batch", "tests", "check_lev")
    prog = build(tmp_path, "levenshtein_batch", variant)
    pairs = cl.random_pairs(random.Random(11), 300, 400)
    cl.write_pairs(str(tmp_path / "p.bin"), pairs)
    got = run(prog, "--file", tmp_path / "p.bin").split()
    assert got == [str(cl.distance(a, b)) for a, b in pairs]
    out = run(prog, 9, 500, 0, 200)
    assert out.startswith("pairs 500\nsum ") and "checksum " in out


def test_levenshtein_generated_batches_agree(tmp_path: Path) -> None:
    base, ref = (
        build(tmp_path, "levenshtein_batch", "baseline"),
        build(tmp_path, "levenshtein_batch", "reference"),
    )
    for args in ((1, 0, 0, 5), (2, 800, 0, 8), (3, 300, 16, 256), (4, 20, 300, 700)):
        assert run(base, *args) == run(ref, *args), args


# ---- aes128_ctr --------------------------------------------------------------------------------
CARRY_IVS = [
    bytes.fromhex("ff" * 16),
    bytes.fromhex("00" * 8 + "ff" * 7 + "f3"),
    bytes.fromhex("11" * 4 + "ff" * 11 + "f9"),
    bytes.fromhex("22" * 12 + "ff" * 3 + "fe"),
]


def test_aes_checker_passes_the_published_vectors() -> None:
    aes_ref = module("aes128_ctr", "tests", "aes_ref")
    aes_ref.self_test()
    assert aes_ref.SBOX[0] == 0x63 and aes_ref.SBOX[0x53] == 0xED  # FIPS-197 figure 7


def test_aes_checker_agrees_with_the_cryptography_package() -> None:
    """The system Python's `cryptography` (Debian package) as a second opinion, where present."""
    aes_ref = module("aes128_ctr", "tests", "aes_ref")
    probe = subprocess.run(["/usr/bin/python3", "-c", "import cryptography"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("the system Python has no cryptography package")
    rng = random.Random(5)
    cases = [
        (rng.randbytes(16), iv, rng.randbytes(n)) for iv, n in zip(CARRY_IVS, (0, 33, 100, 1000), strict=True)
    ]
    prog = (
        "import sys, json\n"
        "from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes\n"
        "out = []\n"
        "for k, iv, p in json.load(sys.stdin):\n"
        "    e = Cipher(algorithms.AES(bytes.fromhex(k)), modes.CTR(bytes.fromhex(iv))).encryptor()\n"
        "    out.append((e.update(bytes.fromhex(p)) + e.finalize()).hex())\n"
        "print(json.dumps(out))\n"
    )
    r = subprocess.run(
        ["/usr/bin/python3", "-c", prog],
        input=json.dumps([[k.hex(), iv.hex(), p.hex()] for k, iv, p in cases]),
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(r.stdout) == [aes_ref.ctr(k, iv, p).hex() for k, iv, p in cases]


@pytest.mark.parametrize("variant", ["baseline", "reference", "reference-ttable"])
def test_aes_matches_the_checker(tmp_path: Path, variant: str) -> None:
    aes_ref = module("aes128_ctr", "tests", "aes_ref")
    flags = "-DAES_FORCE_TTABLE" if variant == "reference-ttable" else ""
    prog = build(tmp_path, "aes128_ctr", variant.split("-")[0], flags)
    rng = random.Random(8)
    for i, (key, iv, pt, _) in enumerate(aes_ref.VECTORS):
        (tmp_path / "in.bin").write_bytes(bytes.fromhex(key) + bytes.fromhex(iv) + bytes.fromhex(pt))
        run(prog, "--file", tmp_path / "in.bin", tmp_path / "out.bin")
        assert (tmp_path / "out.bin").read_bytes() == aes_ref.ctr(
            bytes.fromhex(key), bytes.fromhex(iv), bytes.fromhex(pt)
        ), i
    for iv in CARRY_IVS:
        for n in (0, 1, 16, 17, 129, 300):
            key, data = rng.randbytes(16), rng.randbytes(n)
            (tmp_path / "in.bin").write_bytes(key + iv + data)
            run(prog, "--file", tmp_path / "in.bin", tmp_path / "out.bin")
            assert (tmp_path / "out.bin").read_bytes() == aes_ref.ctr(key, iv, data), (iv.hex(), n)


def test_aes_generated_buffers_agree(tmp_path: Path) -> None:
    base, ref = build(tmp_path, "aes128_ctr", "baseline"), build(tmp_path, "aes128_ctr", "reference")
    for seed, n in ((1, 0), (2, 15), (3, 100_003)):
        assert run(base, seed, n) == run(ref, seed, n)


# ---- bm25_search -------------------------------------------------------------------------------
def bm25_answer(tmp_path: Path, impl: str, *args: str) -> list:
    out = tmp_path / f"{impl}.json"
    folder = TASKS / "bm25_search" / impl
    run(
        sys.executable,
        TASKS / "bm25_search" / "environment" / "bench.py",
        folder,
        *args,
        "--out",
        out,
        timeout=120,
    )
    return json.loads(out.read_text())


@pytest.mark.parametrize("impl", ["environment", "solution"])
def test_bm25_answers_pass_the_checker(tmp_path: Path, impl: str) -> None:
    bench = module("bm25_search", "environment", "bench")
    cb = module("bm25_search", "tests", "check_bm25")
    for seed, docs, vocab, queries, k in ((3, 300, 1500, 80, 10), (4, 400, 60, 40, 25)):
        corpus = bench.make_corpus(seed, docs, vocab, queries)
        args = (
            str(seed),
            "--docs",
            str(docs),
            "--vocab",
            str(vocab),
            "--queries",
            str(queries),
            "--k",
            str(k),
        )
        answer = bm25_answer(tmp_path, impl, *args)
        index = cb.Bm25(corpus["doc_tokens"], corpus["doc_offsets"])
        assert cb.compare(index, corpus["queries"], k, answer) is None
        assert sum(map(len, answer)) > 0


def test_bm25_checker_rejects_wrong_rankings_and_broken_ties() -> None:
    cb = module("bm25_search", "tests", "check_bm25")
    # documents 0 and 2 are identical (an exact tie); 1 is longer; 3 has no query term
    docs = [[1, 2], [1, 2, 5, 5], [1, 2], [7]]
    offsets = np.cumsum([0, *map(len, docs)])
    index = cb.Bm25(np.array([t for d in docs for t in d]), offsets)
    good = index.topk([1], 3)
    assert [d for d, _ in good] == [0, 2, 1]
    assert cb.compare(index, [[1]], 3, [good]) is None
    assert "doc-id order" in cb.compare(index, [[1]], 3, [[good[1], good[0], good[2]]])
    assert "belongs in the answer" in cb.compare(index, [[1]], 1, [[good[1]]])
    assert "rank 1" in cb.compare(index, [[1]], 3, [[good[2], good[0], good[1]]])
    assert "reported score" in cb.compare(index, [[1]], 3, [[(0, good[0][1] * 1.001), good[1], good[2]]])
    assert "matches no query term" in cb.compare(index, [[1]], 3, [[good[0], good[1], (3, good[2][1])]])
    assert "hits" in cb.compare(index, [[1]], 3, [good[:2]])
    assert cb.compare(index, [[9], []], 3, [[], []]) is None


def test_bm25_import_rule(tmp_path: Path) -> None:
    verify = module_with_orig("bm25_search", "check_answer")
    for source, ok in (
        ("import math\nimport numpy as np\nfrom collections import Counter\n", True),
        ("import scipy.sparse\n", False),
        ("from ctypes import CDLL\n", False),
        ("import subprocess\n", False),
    ):
        p = tmp_path / "search.py"
        p.write_text(source)
        if ok:
            verify.check_imports(str(p))
        else:
            with pytest.raises(verify.Failure):
                verify.check_imports(str(p))


def module_with_orig(task: str, name: str = "verify"):
    """A tests/ module of a task whose verifier imports the pristine driver from /orig."""
    sys.path.insert(0, str(TASKS / task / "environment"))
    try:
        return module(task, "tests", name)
    finally:
        sys.path.remove(str(TASKS / task / "environment"))


# ---- red team through the real harness (slow) ------------------------------------------------
def run_replay(tmp_path: Path, write_script, task: str, steps: list[dict], name: str) -> dict:
    script = write_script(steps, f"{name}.yaml")
    r = run_job(
        TASKS / task, tmp_path / "jobs", "replay", name=name, extra=["--ak", f"script={script}"], timeout=900
    )
    assert r.returncode == 0, r.stderr + r.stdout
    (res,) = trial_results(tmp_path / "jobs" / name)
    assert res["status"] == "completed", res
    assert res["sealed"] is True
    return res


@pytest.mark.slow
def test_hash_join_edited_harness_hard_coded_answers_and_fake_metrics_score_zero(
    tmp_path: Path, write_script
) -> None:
    """The agent makes its local check pass without joining anything, three ways at once."""
    cj = module("hash_join", "tests", "check_join")
    # check.sh's fixed generated cases, answered from a table; anything else: a fast wrong answer
    cases = (
        (13, 5000, 200_000, 2500, 40_000),
        (14, 300, 50_000, 3, 6),
        (15, 20_000, 500_000, 10_000, 10_000),
    )
    table = "\n".join(
        f"    if (nr == {c[1]} && ns == {c[2]}) {{ res.pairs = {o.split()[1]}ULL; res.checksum = 0x{o.split()[3]}ULL; }}"
        for c in cases
        for o in [cj.expected(*c)]
    )
    join_c = (
        '#include <stdio.h>\n#include "join.h"\n'
        "join_result_t hash_join(const row_t *r, size_t nr, const row_t *s, size_t ns) {\n"
        "    join_result_t res = {0, 0};\n" + table + "\n"
        '    fprintf(stderr, "time_s 0.0001\\nspeedup 1000\\n");\n'
        '    printf("reward 1.0\\n");\n'
        "    return res;\n}\n"
    )
    steps = [
        {"write": {"path": "/app/join.c", "content": join_c}},
        # non-editable files: a harness that prints whatever the check wants, -O3 in the Makefile
        {"run": "sed -i 's/-O2/-O3/' /app/Makefile && echo '/* tampered */' >> /app/harness.c"},
        {"run": "cd /app && make -s -B && ./build/join_bench 13 5000 200000 2500 40000"},
    ]
    res = run_replay(tmp_path, write_script, "hash_join", steps, "hj-cheat")
    vr = res["verifier_result"]
    assert res["reward"] == 0.0
    assert vr["extra"]["correct"] is False and "expected" in vr["extra"]["reason"]
    assert vr["carried_files"] == ["join.c"]


@pytest.mark.slow
def test_aes_tampering_from_inside_the_candidate_changes_nothing(tmp_path: Path, write_script) -> None:
    """Baseline AES plus a constructor that tries, on every run, to forge the reward, slow down
    the pristine baseline binary and timing script, rewrite the timing input and leave a daemon
    behind. Every candidate run is jailed, so it scores like the honest baseline (about 0)."""
    baseline = (TASKS / "aes128_ctr" / "environment" / "aes.c").read_text()
    tamper = r"""
#include <stdio.h>
#include <unistd.h>
static void put(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) { fputs(text, f); fclose(f); }
}
__attribute__((constructor)) static void tamper(void) {
    put("/logs/verifier/reward.json", "{\"reward\": 1.0, \"correct\": true}");
    put("/orig/run_timed.sh", "sleep 5\n");
    put("/tmp/aes128_ctr/base/aes_bench", "#!/bin/sh\nsleep 5\n");
    put("/tmp/aes128_ctr/timing.args", "1 16\n");
    put("/tmp/aes128_ctr/jail.ok.removed", "x");
    unlink("/tmp/aes128_ctr/jail.ok");
    if (fork() == 0) {
        setsid();
        for (int i = 0; i < 600; i++) {
            put("/logs/verifier/reward.json", "{\"reward\": 1.0, \"correct\": true}");
            usleep(100000);
        }
        _exit(0);
    }
}
"""
    steps = [{"write": {"path": "/app/aes.c", "content": baseline + tamper}}, {"run": "cd /app && make -s"}]
    res = run_replay(tmp_path, write_script, "aes128_ctr", steps, "aes-tamper")
    vr = res["verifier_result"]
    assert vr["extra"]["correct"] is True and vr["extra"]["jailed"] is True
    assert vr["measurement"]["speedup"] < 1.3
    assert res["reward"] <= HONEST_BASELINE_CEILING


@pytest.mark.slow
def test_bm25_disallowed_import_and_edited_driver_score_zero(tmp_path: Path, write_script) -> None:
    ref = (TASKS / "bm25_search" / "solution" / "search.py").read_text()
    steps = [
        {"write": {"path": "/app/search.py", "content": "import ctypes  # a C kernel would go here\n" + ref}},
        {"run": "sed -i 's/^FORBIDDEN_MODULES = (/FORBIDDEN_MODULES = () and (/' /app/bench.py"},
    ]
    res = run_replay(tmp_path, write_script, "bm25_search", steps, "bm25-ctypes")
    assert res["reward"] == 0.0
    assert "only numpy and the standard library" in res["verifier_result"]["extra"]["reason"]


@pytest.mark.slow
@pytest.mark.parametrize("task", ALL)
def test_oracle_beats_nop(tmp_path: Path, task: str) -> None:
    r = run_job(TASKS / task, tmp_path / "jobs", "oracle", "nop", name="cal", timeout=1200)
    assert r.returncode == 0, r.stderr + r.stdout
    by_agent = {res["agent"]: res for res in trial_results(tmp_path / "jobs" / "cal")}
    assert by_agent["oracle"]["verifier_result"]["extra"]["correct"] is True
    assert by_agent["nop"]["verifier_result"]["extra"]["correct"] is True
    assert by_agent["oracle"]["reward"] >= 0.4 > HONEST_BASELINE_CEILING >= by_agent["nop"]["reward"]
    assert by_agent["oracle"]["verifier_result"]["duration_s"] < 240
