#!/usr/bin/env python3
"""Trim the captured H100 traces into repo fixtures and write the independent truth file.

    python3 tests/gpu/trim_profile_trace.py CAPTURE_DIR [tests/data/profile]

``CAPTURE_DIR`` holds what ``tests/gpu/capture_profile_traces.py`` wrote on the GPU machine
(``h100-matmul.json.xz``, ``h100-launch.json.xz``, ``capture.json``). Writes
``h100-matmul.json.gz``, ``h100-launch.json.gz`` and ``h100-truth.json``.

How a trace is trimmed to a sub-window [lo, hi] (:func:`trim`), so it stays a valid kineto trace
that means what it meant, only shorter:

- every metadata event (``ph == "M"``) and the top-level keys (``baseTimeNanoseconds``,
  ``deviceProperties``, versions, ``trace_id``) are kept unchanged;
- a complete event (``ph == "X"``: ``cpu_op``, ``cuda_runtime``, ``cuda_driver``, ``kernel``,
  ``gpu_memcpy``, ``gpu_memset``, ``overhead``) is kept only if it lies wholly inside
  [lo, hi]; none is cut or shifted;
- a launch and its GPU activity (same ``args.correlation``) are kept or dropped together, and
  a flow arrow (``ph`` ``s``/``f``, ``cat == "ac2g"``, ``id`` = correlation) only with both
  ends and its events, so no kernel loses its launch at the edges;
- the profiler's own span (``cat == "Trace"``, ``PyTorch Profiler (0)``) and the two instant
  markers (``Iteration Start``, ``Record Window End``) are the one change of value: they are
  set to [lo, hi], the window this trimmed trace covers, and a top-level ``"trimmed"`` key
  records the original span and what was done (kineto readers ignore unknown keys).

The matmul trace is small (~3 MB of JSON) and is kept whole (``--matmul-ms 0``); the
launch-heavy one (~90 MB) keeps its middle ``--launch-ms`` (250) milliseconds.
The truth for each fixture is computed on the trimmed file as written, by
``tests/gpu/kineto_truth.py``; the untrimmed figures are recorded beside it.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import kineto_truth as K

GPU_CATS = ("kernel", "gpu_memcpy", "gpu_memset")


def _corr(e: dict[str, Any]) -> Any:
    return (e.get("args") or {}).get("correlation")


def trim(doc: dict[str, Any], lo: float, hi: float) -> dict[str, Any]:
    """A copy of ``doc`` holding only what lies inside [lo, hi] (rules in the module docstring)."""
    ev = doc["traceEvents"]
    xs = [e for e in ev if e.get("ph") == "X" and e.get("cat") != "Trace"]
    inside = [e for e in xs if float(e["ts"]) >= lo and float(e["ts"]) + float(e["dur"]) <= hi]
    gpu_corr_all = {_corr(e) for e in xs if e.get("cat") in GPU_CATS}
    gpu_kept = {_corr(e) for e in inside if e.get("cat") in GPU_CATS}
    host_kept = {_corr(e) for e in inside if e.get("cat") in ("cuda_runtime", "cuda_driver")}
    paired = gpu_kept & host_kept
    kept_x = []
    for e in inside:
        c = _corr(e)
        if e.get("cat") in GPU_CATS and c not in paired:
            continue
        if e.get("cat") in ("cuda_runtime", "cuda_driver") and c in gpu_corr_all and c not in paired:
            continue
        kept_x.append(e)
    kept_corr = {_corr(e) for e in kept_x} - {None}
    flows = [e for e in ev if e.get("ph") in ("s", "f")]
    ends: dict[Any, list[dict[str, Any]]] = {}
    for e in flows:
        ends.setdefault(e.get("id"), []).append(e)
    kept_flows = [e for e in flows if e.get("id") in kept_corr
                  and all(lo <= float(f["ts"]) <= hi for f in ends[e.get("id")])]

    out_events = []
    orig_span = None
    for e in ev:
        ph = e.get("ph")
        if ph == "M":
            out_events.append(e)
        elif ph == "X" and e.get("cat") == "Trace":
            orig_span = [float(e["ts"]), float(e["ts"]) + float(e["dur"])]
            out_events.append({**e, "ts": lo, "dur": round(hi - lo, 3)})
        elif ph == "i":
            out_events.append({**e, "ts": hi if "End" in str(e.get("name")) else lo})
    keep_ids = {id(e) for e in kept_x} | {id(e) for e in kept_flows}
    out_events += [e for e in ev if id(e) in keep_ids]
    out = {k: v for k, v in doc.items() if k != "traceEvents"}
    out["traceEvents"] = out_events
    out["trimmed"] = {
        "original_profiler_span_ts_us": orig_span,
        "kept_window_ts_us": [lo, hi],
        "original_event_count": len(ev),
        "rule": "complete events wholly inside the kept window, launch/GPU pairs and flows together; "
                "the profiler span and its instant markers set to the kept window (tests/gpu/trim_profile_trace.py)",
    }
    return out


def middle(doc: dict[str, Any], ms: float) -> tuple[float, float]:
    lo, hi = K.window(doc)
    mid = (lo + hi) / 2
    return mid - ms * 500.0, mid + ms * 500.0


def write_gz(doc: dict[str, Any], path: Path) -> None:
    raw = json.dumps(doc, separators=(",", ":")).encode()
    with open(path, "wb") as f, gzip.GzipFile(filename="", mode="wb", fileobj=f, compresslevel=9, mtime=0) as g:
        g.write(raw)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("capture_dir", type=Path)
    ap.add_argument("out_dir", type=Path, nargs="?", default=Path(__file__).resolve().parents[1] / "data" / "profile")
    ap.add_argument("--matmul-ms", type=float, default=0.0, help="0 keeps the whole trace")
    ap.add_argument("--launch-ms", type=float, default=250.0)
    a = ap.parse_args(argv)
    capture = json.loads((a.capture_dir / "capture.json").read_text())
    a.out_dir.mkdir(parents=True, exist_ok=True)
    truth: dict[str, Any] = {"env": capture["env"], "definitions": K.__doc__.split("Definitions", 1)[1].strip()}
    for name, ms in (("matmul", a.matmul_ms), ("launch", a.launch_ms)):
        full = K.load(a.capture_dir / f"h100-{name}.json.xz")
        doc = trim(full, *middle(full, ms)) if ms > 0 else full
        path = a.out_dir / f"h100-{name}.json.gz"
        write_gz(doc, path)
        back = K.load(path)
        s = K.summary(back)
        untrimmed = K.summary(full)
        truth[name] = {
            "file": path.name,
            "bytes_gz": path.stat().st_size,
            "capture": capture[name],
            "trimmed_to_ms": ms or None,
            **s,
            "untrimmed": {k: untrimmed[k] for k in ("window_us", "kernel_count", "gpu_busy_us", "gpu_idle_share",
                                                      "event_count")}
            | {"top_kernels": [{k: r[k] for k in ("name", "count", "share")} for r in untrimmed["top_kernels"]]},
        }
        print(f"{name}: {path} {path.stat().st_size} B, window {s['window_us'] / 1e3:.1f} ms, "
              f"{s['kernel_count']} kernels, idle {s['gpu_idle_share']:.2%} "
              f"(untrimmed {untrimmed['gpu_idle_share']:.2%}), top {s['top_kernels'][0]['name'][:60]} "
              f"{s['top_kernels'][0]['share']:.1%}")
    (a.out_dir / "h100-truth.json").write_text(json.dumps(truth, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
