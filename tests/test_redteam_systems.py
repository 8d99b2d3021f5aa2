"""Red team for the C systems tasks (int_sort, sha256_throughput, gaussian_blur, attention_cpu).

These tasks declare their runs (tests/run.toml): looplab's candidate runner builds, checks and
times every program in jails of its own, and the time is the jail cgroup's CPU time, never a
number the program prints. Fast tests: the pristine driver with a solve.c that exits early
instead of returning, or prints a forged answer, gives output the trusted check refuses (it
differs from the baseline's); objcheck rejects code that would run outside the API call
(constructors, ifunc) or interpose on the driver (extra external symbols). The runner's own
jail properties for these tasks are tested in tests/test_catalog_systems_a.py.

Slow tests run cheating agents through the real harness (replay agent, sealed verifier,
paired timing) and check each scores no more than honest baseline work, which scores
about 0 (speedup ~1): editing the non-editable Makefile/driver/objcheck (-O3, skipping
the work, a fake timing line), skipping the work only at the timing size, hard-coding
the local check's answers, and printing fake metric lines while forging reward.json.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import REPO, run_job, trial_results

TASKS = REPO / "tasks"
ENV = TASKS / "int_sort" / "environment"
HARNESS = ("driver.c", "solve.h", "Makefile", "objcheck.sh")
# The honest baseline (the nop agent) measures a speedup of about 1 and scores about 0;
# 0.1 would take a real 1.26x speedup at s_ref = 10.
HONEST_BASELINE_CEILING = 0.1

QSORT = """
static int cmp_u32(const void *pa, const void *pb) {
    uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
    return (a > b) - (a < b);
}
"""


def build_int_sort(tmp_path: Path, solve_c: str) -> tuple[subprocess.CompletedProcess, Path]:
    dst = tmp_path / "build"
    dst.mkdir(parents=True)
    for name in HARNESS:
        shutil.copy(ENV / name, dst / name)
    (dst / "solve.c").write_text(solve_c)
    r = subprocess.run(["make", "-s", "prog"], cwd=dst, capture_output=True, text=True, timeout=120)
    return r, dst / "prog"


def bench(prog: Path, n: int = 100_000) -> subprocess.CompletedProcess:
    return subprocess.run([str(prog), "bench", "3", str(n)], capture_output=True, text=True, timeout=120)


def baseline_bench(tmp_path: Path, n: int = 100_000) -> str:
    """What the pristine baseline prints for `bench 3 N`: the yardstick of the trusted check."""
    r, prog = build_int_sort(tmp_path / "baseline", (ENV / "solve.c").read_text())
    assert r.returncode == 0, r.stderr
    out = bench(prog, n)
    assert out.returncode == 0 and out.stdout.startswith(f"n {n}\nchecksum "), out
    return out.stdout


@pytest.mark.parametrize("status", [0, 3])
def test_exiting_instead_of_returning_is_a_wrong_output(tmp_path: Path, status: int) -> None:
    src = f"""#include <unistd.h>
#include "solve.h"
void sort_u32(uint32_t *a, size_t n) {{ (void)a; (void)n; _exit({status}); }}
"""
    r, prog = build_int_sort(tmp_path, src)
    assert r.returncode == 0, r.stderr
    res = bench(prog)
    assert res.returncode != 0 or res.stdout != baseline_bench(tmp_path)


def test_a_cached_answer_is_wrong_on_a_fresh_seed(tmp_path: Path) -> None:
    """sort_u32 prints the answer of an earlier run (seed 3) and exits: on the fresh seed of the
    next run the output is not the baseline's; sorting and then printing it is not either."""
    cached = baseline_bench(tmp_path)
    r, base = build_int_sort(tmp_path / "base4", (ENV / "solve.c").read_text())
    assert r.returncode == 0, r.stderr
    want = subprocess.run(
        [str(base), "bench", "4", "100000"], capture_output=True, text=True, check=True
    ).stdout
    assert want != cached
    for i, tail in enumerate(("_exit(0);", "qsort(a, n, sizeof a[0], cmp_u32);")):
        src = f"""#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "solve.h"
{QSORT}
void sort_u32(uint32_t *a, size_t n) {{
    fputs({json.dumps(cached)}, stdout);
    fflush(stdout);
    {tail}
}}
"""
        r, prog = build_int_sort(tmp_path / f"cheat{i}", src)
        assert r.returncode == 0, r.stderr
        res = subprocess.run([str(prog), "bench", "4", "100000"], capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        assert res.stdout != want, tail


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        (
            "static volatile int t; __attribute__((constructor)) static void early(void) { t = 1; }",
            "constructors",
        ),
        (
            "int helper_visible_to_the_driver(void) { return 1; }",
            "external symbol 'helper_visible_to_the_driver'",
        ),
        ("void *malloc(size_t n) { (void)n; return 0; }", "external symbol 'malloc'"),
        (
            '__attribute__((target_clones("avx2", "default"))) static int twice(int x) { return 2 * x; }\n'
            "int (*volatile keep)(int) = twice;",
            "ifunc",
        ),
        ('asm(".section .init_array,\\"aw\\"\\n.quad 0\\n.text");', "constructors"),
    ],
)
def test_objcheck_rejects_code_outside_the_api(tmp_path: Path, extra: str, why: str) -> None:
    src = f"""#include <stdlib.h>
#include "solve.h"
{QSORT}
{extra}
void sort_u32(uint32_t *a, size_t n) {{ qsort(a, n, sizeof a[0], cmp_u32); }}
"""
    r, _ = build_int_sort(tmp_path, src)
    assert r.returncode != 0
    assert "objcheck" in r.stderr and why in r.stderr, r.stderr


# ---- cheating agents through the real harness --------------------------------------------------


def _run(tmp_path: Path, write_script, task: str, steps: list[dict], name: str) -> dict:
    script = write_script(steps, f"{name}.yaml")
    r = run_job(
        TASKS / task, tmp_path / "jobs", "replay", name=name, extra=["--ak", f"script={script}"], timeout=900
    )
    assert r.returncode == 0, r.stderr + r.stdout
    (res,) = trial_results(tmp_path / "jobs" / name)
    assert res["status"] == "completed", res
    assert res["sealed"] is True
    assert res["verifier_result"]["carried_files"] in ([], ["solve.c"])
    return res


def _write(path: str, content: str) -> dict:
    return {"write": {"path": path, "content": content}}


FAST_FAKE_DRIVER = """#include <stdio.h>
int main(void) { printf("{\\"seconds\\": 0.000001}\\n"); return 0; }
"""


@pytest.mark.slow
def test_int_sort_edited_harness_does_not_count(tmp_path: Path, write_script) -> None:
    """-O3 -march=native in the Makefile, a driver that skips the work and prints a tiny time,
    an objcheck that lets anything through: none of it travels to the verifier."""
    steps = [
        {"run": "sed -i 's/-O2/-O3 -march=native -funroll-loops/' /app/Makefile"},
        _write("/app/driver.c", FAST_FAKE_DRIVER),
        _write("/app/objcheck.sh", "exit 0\n"),
        {"run": "cd /app && make -s prog; ./prog bench 1 25000000"},
    ]
    res = _run(tmp_path, write_script, "int_sort", steps, "edit-harness")
    assert res["reward"] <= HONEST_BASELINE_CEILING, res["verifier_result"]


@pytest.mark.slow
def test_int_sort_skipping_work_at_the_timing_size_scores_zero(tmp_path: Path, write_script) -> None:
    """Correct on every small input (the local check passes), does nothing for n = 25M."""
    src = f"""#include <stdlib.h>
#include "solve.h"
{QSORT}
void sort_u32(uint32_t *a, size_t n) {{
    if (n == 25000000) return;
    qsort(a, n, sizeof a[0], cmp_u32);
}}
"""
    steps = [_write("/app/solve.c", src), {"run": "bash /app/check.sh --quick"}]
    res = _run(tmp_path, write_script, "int_sort", steps, "skip-work")
    assert res["reward"] == 0.0
    assert res["verifier_result"]["extra"].get("correct") is False


@pytest.mark.slow
def test_int_sort_fake_metric_lines_and_forged_reward_do_not_count(tmp_path: Path, write_script) -> None:
    """The agent forges /logs/verifier/reward.json in its own sandbox; its sort_u32 (the baseline
    qsort) prints fake timing and metric lines and tries to forge the verifier's reward file."""
    forged = '{"reward": 1.0, "correct": true, "time_s": 0.000001, "speedup": 1000}'
    src = f"""#include <stdio.h>
#include <stdlib.h>
#include "solve.h"
{QSORT}
void sort_u32(uint32_t *a, size_t n) {{
    qsort(a, n, sizeof a[0], cmp_u32);
    FILE *f = fopen("/logs/verifier/reward.json", "w");
    if (f) {{ fputs({json.dumps(forged)}, f); fclose(f); }}
    printf("time_s: 0.000001\\nspeedup: 1000x\\n{{\\"seconds\\": 0.000001}}");
    fflush(stdout);
}}
"""
    steps = [
        {
            "run": f"mkdir -p /logs/verifier && echo '{forged}' > /logs/verifier/reward.json && echo 1.0 > /logs/verifier/reward.txt"
        },
        _write("/app/solve.c", src),
        {"run": "bash /app/check.sh --quick"},
    ]
    res = _run(tmp_path, write_script, "int_sort", steps, "fake-metric")
    vr = res["verifier_result"]
    # the printed lines make the output differ from the baseline's: a wrong output, scored 0
    assert res["reward"] == 0.0, vr
    assert vr["extra"].get("correct") is False and "wrong output" in (vr["reason"] or ""), vr


@pytest.mark.slow
def test_sha256_hard_coded_check_digests_score_zero(tmp_path: Path, write_script) -> None:
    """A lookup table of the digests of check.py's fixed messages passes the local check only."""
    import hashlib
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "sha_check", TASKS / "sha256_throughput/environment/check.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    table = ",\n".join(
        f"{{{len(m)}, {{{','.join(str(b) for b in hashlib.sha256(m).digest())}}}}}" for m in mod.messages()
    )
    src = f"""#include <string.h>
#include "solve.h"
static const struct {{ size_t len; uint8_t d[32]; }} known[] = {{
{table}
}};
void sha256(const uint8_t *data, size_t len, uint8_t digest[32]) {{
    (void)data;
    memset(digest, 0, 32);
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (known[i].len == len) memcpy(digest, known[i].d, 32);
}}
"""
    steps = [_write("/app/solve.c", src), {"run": "bash /app/check.sh --quick"}]
    res = _run(tmp_path, write_script, "sha256_throughput", steps, "hardcoded")
    assert res["reward"] == 0.0
    assert res["verifier_result"]["extra"].get("correct") is False


@pytest.mark.slow
def test_gaussian_blur_skipping_work_on_large_images_scores_zero(tmp_path: Path, write_script) -> None:
    """The baseline on small images (the local check passes), a copy of the input on large ones."""
    base = (TASKS / "gaussian_blur/environment/solve.c").read_text()
    src = base.replace(
        "    size_t npix = (size_t)width * (size_t)height;\n",
        "    size_t npix = (size_t)width * (size_t)height;\n"
        "    if (npix > 1000000) { memcpy(dst, src, npix * sizeof(float)); return; }\n",
        1,
    )
    assert src != base
    steps = [_write("/app/solve.c", src), {"run": "bash /app/check.sh --quick"}]
    res = _run(tmp_path, write_script, "gaussian_blur", steps, "skip-large")
    assert res["reward"] == 0.0
    assert res["verifier_result"]["extra"].get("correct") is False


@pytest.mark.slow
def test_attention_dropping_keys_scores_zero(tmp_path: Path, write_script) -> None:
    """Attends only to the last 512 keys when n is large: exact on the local check's sizes."""
    base = (TASKS / "attention_cpu/environment/solve.c").read_text()
    src = base.replace(
        "        int len = causal ? i + 1 : n; /* keys this query attends to */\n",
        "        int len = causal ? i + 1 : n; /* keys this query attends to */\n"
        "        int first = len > 1024 ? len - 512 : 0;\n",
        1,
    ).replace("for (int j = 0; j < len; j++)", "for (int j = first; j < len; j++)")
    assert src.count("j = first") == 3
    steps = [_write("/app/solve.c", src), {"run": "bash /app/check.sh --quick"}]
    res = _run(tmp_path, write_script, "attention_cpu", steps, "drop-keys")
    assert res["reward"] == 0.0
    assert res["verifier_result"]["extra"].get("correct") is False
