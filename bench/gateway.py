"""Benchmark: the latency the model gateway adds to one model call.

A scripted Anthropic Messages server on 127.0.0.1 (``tests/fakes/llm_servers.py``)
answers the same small request either JSON or as SSE; a client (``http.client``,
one kept-alive connection each way) calls it directly and through a gateway
(``looplab.gateway.server.ModelGateway`` on 127.0.0.1 TCP, forwarding with a real
key, metering and recording every call to a file), alternating call by call so that
both see the same machine load. First byte = until the first body bytes arrive;
total = until the whole reply is read. Median and p90 of many calls, and the
difference (what the gateway adds). Target: at most 5 ms added per call.

Run: .venv/bin/python bench/gateway.py [--calls 300]
Writes bench/results/gateway.json and .md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tests"))

from fakes.llm_servers import ScriptedLLMServer, reply, tool  # noqa: E402

from looplab.fsutil import atomic_write_json, atomic_write_text  # noqa: E402
from looplab.gateway.server import ModelGateway, Upstream  # noqa: E402
from looplab.hostinfo import host_info  # noqa: E402

KEY = "sk-bench-real"
TOKEN = "looplab-trial-bench"


def call(conn: http.client.HTTPConnection, path: str, key: str, stream: bool) -> tuple[float, float]:
    body = json.dumps(
        {
            "model": "claude-haiku-4-5",
            "max_tokens": 64,
            "stream": stream,
            "messages": [{"role": "user", "content": "hello " * 50}],
        }
    ).encode()
    headers = {"content-type": "application/json", "x-api-key": key, "anthropic-version": "2023-06-01"}
    t0 = time.perf_counter()
    conn.request("POST", path, body=body, headers=headers)
    resp = conn.getresponse()
    first = resp.read1(65536)
    t_first = time.perf_counter()
    rest = resp.read()
    t_total = time.perf_counter()
    assert resp.status == 200 and (first + rest), resp.status
    return (t_first - t0) * 1000, (t_total - t0) * 1000


def summary(xs: list[float]) -> dict[str, float]:
    xs = sorted(xs)
    return {"median_ms": round(statistics.median(xs), 3), "p90_ms": round(xs[int(len(xs) * 0.9) - 1], 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=300)
    args = ap.parse_args()
    step = reply(
        tool("Bash", command="ls"), text="Looking at the files first.", input_tokens=120, output_tokens=40
    )
    rows: dict[str, dict] = {}
    with (
        ScriptedLLMServer("anthropic", [step], repeat_last=True) as srv,
        tempfile.TemporaryDirectory() as tmp,
    ):
        gw = ModelGateway(
            [Upstream("anthropic", srv.base_url, KEY, "anthropic")], TOKEN, Path(tmp) / "calls.jsonl"
        )
        gw_port = gw.serve_tcp()
        direct = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        via = http.client.HTTPConnection("127.0.0.1", gw_port, timeout=30)
        for stream in (False, True):
            d_first, d_total, g_first, g_total = [], [], [], []
            for i in range(args.calls + 20):
                a = call(direct, "/v1/messages", KEY, stream)
                b = call(via, "/anthropic/v1/messages", TOKEN, stream)
                if i >= 20:  # warm-up calls dropped
                    d_first.append(a[0]), d_total.append(a[1]), g_first.append(b[0]), g_total.append(b[1])
            added_first = [g - d for g, d in zip(g_first, d_first, strict=True)]
            added_total = [g - d for g, d in zip(g_total, d_total, strict=True)]
            rows["streamed (SSE)" if stream else "JSON"] = {
                "direct_first_byte": summary(d_first),
                "gateway_first_byte": summary(g_first),
                "direct_total": summary(d_total),
                "gateway_total": summary(g_total),
                "added_first_byte_median_ms": round(statistics.median(added_first), 3),
                "added_total_median_ms": round(statistics.median(added_total), 3),
            }
        metered = gw.usage()
        gw.stop()
    assert metered.n_calls == 2 * (args.calls + 20) and metered.output_tokens == 40 * metered.n_calls
    result = {
        "calls_per_mode": args.calls,
        "host": host_info(),
        "modes": rows,
        "metered_calls": metered.n_calls,
        "target_added_ms": 5.0,
    }
    out = REPO / "bench" / "results"
    atomic_write_json(out / "gateway.json", result)
    md = [
        "# Model gateway: added latency per model call",
        "",
        f"{args.calls} calls per mode, direct and through the gateway alternating, against a scripted Anthropic "
        "server on 127.0.0.1 (the gateway meters and records every call). Milliseconds, median (p90).",
        "",
        "| reply | direct first byte | gateway first byte | direct total | gateway total | added first byte | added total |",
        "|-------|------------------:|-------------------:|-------------:|--------------:|-----------------:|------------:|",
    ]
    for k, r in rows.items():
        cells = [
            f"{r[c]['median_ms']} ({r[c]['p90_ms']})"
            for c in ("direct_first_byte", "gateway_first_byte", "direct_total", "gateway_total")
        ]
        md.append(
            f"| {k} | "
            + " | ".join(cells)
            + f" | {r['added_first_byte_median_ms']} | {r['added_total_median_ms']} |"
        )
    md += [
        "",
        "Target: at most 5 ms added per call. Measured on a shared machine under other developers' load.",
    ]
    atomic_write_text(out / "gateway.md", "\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
