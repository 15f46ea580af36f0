"""``iejtui bench --backend tensorrt-llm`` vs NVIDIA aiperf 0.13, side by side, against the
known-timing Triton model (tests/data/triton_models/timed) in the real tritonserver.

The model streams N chunks: the first ``--delay-ms`` after the request reaches it, then
one every ``--gap-ms``; so the true TTFT is the delay plus the round trip, and the true
gap between chunks is the gap.  Both tools send the same body (TensorRT-LLM's ensemble
inputs) to ``/v2/models/timed/generate_stream`` at the same concurrency, in alternation
(ours, aiperf, aiperf, ours, ...), and each reports TTFT p50/mean and its ITL.  Printed:
each run, the medians per tool, the error of each against the truth and the ratio
aiperf / ours.

aiperf reaches Triton's generate endpoints only through its ``template`` endpoint type
(a Jinja2 body template + ``response_field`` JMESPath, ``--custom-endpoint`` path,
``--streaming``): its ``huggingface_generate`` type targets TGI's ``/generate_stream``
at the server root with TGI's body (``inputs``/``parameters``), which Triton does not
serve.  Its ITL is ``(E2E - TTFT) / (output tokens - 1)`` (vLLM's TPOT) with the tokens
counted by its tokenizer on the text; ours is vLLM's per-chunk ITL; with one token per
chunk both equal the gap.

Needs aiperf 0.13 in its own venv (not the project's: it is heavy):
    python3.11 -m venv /tmp/aiperf-venv && /tmp/aiperf-venv/bin/pip install 'aiperf==0.13.*'

    PYTHONPATH=$PWD .venv/bin/python tests/perf/triton_bench_vs_aiperf.py \\
        [--aiperf /tmp/aiperf-venv/bin/aiperf] [--rounds 2] [--concurrency 4] \\
        [--delay-ms 150] [--gap-ms 30] [--tokens 16] [--seconds 6]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(1, str(ROOT))

from triton_server import start_triton  # noqa: E402

TEMPLATE = ('{"text_input": {{ text|tojson }}, "max_tokens": {{ max_tokens }}, "stream": true, '
            '"accumulate_tokens": true, "temperature": 0.0, "top_p": 1.0, '
            '"bad_words": "", "stop_words": ""}')


def run_ours(url: str, tok: str, a, num: int) -> dict:
    from collectors.loadgen.config import parse_args
    from collectors.loadgen.runner import run_bench
    argv = ["--backend", "tensorrt-llm", "--base-url", url, "--endpoint", "/v2/models/timed/generate_stream",
            "--tokenizer", tok, "--dataset-name", "random", "--random-input-len", "16",
            "--random-output-len", str(a.tokens), "--num-prompts", str(num), "--max-concurrency",
            str(a.concurrency), "--num-warmups", "2", "--disable-tqdm",
            "--extra-body", json.dumps({"first_chunk_delay_ms": a.delay_ms, "chunk_gap_ms": a.gap_ms})]
    r = asyncio.run(run_bench(parse_args(argv)))
    ok = [x for x in r.records if x.success]
    gaps = [g for x in ok for g in x.itl]
    return {"ttft_p50": statistics.median(x.ttft for x in ok) * 1000,
            "ttft_mean": statistics.fmean(x.ttft for x in ok) * 1000,
            "itl": statistics.fmean(gaps) * 1000 if gaps else float("nan"), "tpot": r.metrics.tpot.mean,
            "ok": len(ok), "n": len(r.records)}


def run_aiperf(aiperf: str, url: str, tok: str, a, num: int, work: Path) -> dict:
    out = Path(tempfile.mkdtemp(dir=work, prefix="aiperf-"))
    tpl = out / "body.j2"
    tpl.write_text(TEMPLATE)
    cmd = [aiperf, "profile", "--model", "timed", "--url", url, "--endpoint-type", "template",
           "--custom-endpoint", "/v2/models/timed/generate_stream", "--streaming",
           "--extra-inputs", f"payload_template:{tpl}", "--extra-inputs", "response_field:text_output",
           "--extra-inputs", f"first_chunk_delay_ms:{a.delay_ms}", "--extra-inputs", f"chunk_gap_ms:{a.gap_ms}",
           "--tokenizer", tok, "--isl", "16", "--osl", str(a.tokens), "--concurrency", str(a.concurrency),
           "--request-count", str(num), "--warmup-request-count", "2", "--ui", "none",
           "--artifact-dir", str(out)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    files = list(out.rglob("profile_export_aiperf.json"))
    if p.returncode != 0 or not files:
        raise SystemExit(f"aiperf failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    d = json.loads(files[0].read_text())
    m = d.get("records", d)

    def get(name: str, stat: str) -> float:
        v = m[name]
        return float(v[stat] if isinstance(v, dict) else v)
    return {"ttft_p50": get("time_to_first_token", "p50"), "ttft_mean": get("time_to_first_token", "avg"),
            "itl": get("inter_token_latency", "avg"),
            "icl": get("inter_chunk_latency", "avg") if "inter_chunk_latency" in m else float("nan"),
            "ok": int(get("request_count", "avg")), "n": num}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--aiperf", default="/tmp/aiperf-venv/bin/aiperf")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--delay-ms", type=float, default=150.0)
    ap.add_argument("--gap-ms", type=float, default=30.0)
    ap.add_argument("--tokens", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=6.0)
    a = ap.parse_args()
    from iejtui.demo.engine_env import ensure_engine_env, ensure_tiny_model
    env = ensure_engine_env(log=lambda line: None)
    tok = str(ensure_tiny_model(env, log=lambda line: None))
    work = Path(tempfile.mkdtemp(prefix="iejtui-triton-perf-"))
    srv = start_triton(["timed"], work, env.python)
    try:
        per = (a.delay_ms + (a.tokens - 1) * a.gap_ms) / 1000
        num = a.concurrency * max(3, math.ceil(a.seconds / per))
        # the unloaded round trip: one request at a time, no delay, one chunk
        b = argparse.Namespace(**{**vars(a), "delay_ms": 0.0, "gap_ms": 0.0, "tokens": 1, "concurrency": 1})
        rtt = run_ours(srv.url, tok, b, 40)["ttft_p50"]
        print(f"round trip (ours, c=1, delay 0): {rtt:.2f} ms; truth: TTFT {a.delay_ms:g} + {rtt:.2f} ms, "
              f"gap {a.gap_ms:g} ms; {num} requests per run at concurrency {a.concurrency}")
        runs: dict[str, list[dict]] = {"ours": [], "aiperf": []}
        order = [t for i in range(a.rounds) for t in (("ours", "aiperf") if i % 2 == 0 else ("aiperf", "ours"))]
        for tool in order:
            r = run_ours(srv.url, tok, a, num) if tool == "ours" else run_aiperf(a.aiperf, srv.url, tok, a, num, work)
            runs[tool].append(r)
            print(f"{tool:7s} TTFT p50 {r['ttft_p50']:8.2f} ms  mean {r['ttft_mean']:8.2f} ms  "
                  f"ITL {r['itl']:7.2f} ms  ok {r['ok']}/{r['n']}"
                  + (f"  ICL {r['icl']:.2f} ms" if "icl" in r else f"  TPOT {r['tpot']:.2f} ms"))
        med = {t: {k: statistics.median(r[k] for r in rs) for k in ("ttft_p50", "itl")} for t, rs in runs.items()}
        for t, m in med.items():
            print(f"{t:7s} median: TTFT p50 {m['ttft_p50']:.2f} ms (beyond the round trip "
                  f"{(m['ttft_p50'] - rtt - a.delay_ms) / a.delay_ms:+.1%} of the delay), "
                  f"ITL {m['itl']:.2f} ms ({(m['itl'] - a.gap_ms) / a.gap_ms:+.1%} of the gap)")
        print(f"ratio aiperf/ours: TTFT p50 {med['aiperf']['ttft_p50'] / med['ours']['ttft_p50']:.3f}, "
              f"ITL {med['aiperf']['itl'] / med['ours']['itl']:.3f}")
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
