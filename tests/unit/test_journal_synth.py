"""Synthetic journals seeded through the real Writer (vLLM-shaped engine series, an H100-like
GPU recording, a benchmark run), and the journal's GPU/bench figures checked on them.

``seed_journal`` is also used by tests/perf/export_speed.py (3 runs × 1 h at 1 Hz).
"""

from __future__ import annotations

import math
import random
from pathlib import Path

from collectors.records import Event, Frame, Sample, labels_of

TTFT_LE = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
           40.0, 80.0, 160.0, 640.0, 2560.0)
ITL_LE = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0)
E2E_LE = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0,
          960.0, 1920.0, 7680.0)
HISTS = {"vllm:time_to_first_token_seconds": TTFT_LE, "vllm:inter_token_latency_seconds": ITL_LE,
         "vllm:request_time_per_output_token_seconds": ITL_LE, "vllm:e2e_request_latency_seconds": E2E_LE,
         "vllm:request_queue_time_seconds": E2E_LE}
GPU_UUID = "GPU-00000000-synthetic-h100"
MODEL = "meta-llama/Llama-3.1-8B-Instruct"


class _Hist:
    def __init__(self, les):
        self.les = les
        self.counts = [0] * (len(les) + 1)
        self.sum = 0.0
        self.n = 0

    def observe(self, v: float) -> None:
        for i, le in enumerate(self.les):
            if v <= le:
                self.counts[i] += 1
        self.counts[-1] += 1
        self.sum += v
        self.n += 1

    def samples(self, name: str, base: dict) -> list[Sample]:
        out = [Sample(name + "_bucket", float(c), labels_of({**base, "le": str(le)}))
               for le, c in zip(self.les, self.counts)]
        out.append(Sample(name + "_bucket", float(self.counts[-1]), labels_of({**base, "le": "+Inf"})))
        out.append(Sample(name + "_sum", self.sum, labels_of(base)))
        out.append(Sample(name + "_count", float(self.n), labels_of(base)))
        return out


def seed_engine(writer, run_id: int, t0: float, seconds: int, rng: random.Random, flush_every: int = 120) -> None:
    """``seconds`` scrapes at 1 Hz of a busy vLLM engine (counters, gauges, 5 histograms)."""
    base = {"engine": "0", "model_name": MODEL}
    hists = {n: _Hist(les) for n, les in HISTS.items()}
    gen = prompt = done = 0.0
    info = Sample("vllm:cache_config_info", 1.0, labels_of({"engine": "0", "block_size": "16",
                                                            "num_gpu_blocks": "29000"}))
    for k in range(seconds):
        load = 0.5 + 0.5 * math.sin(k / 300.0)
        n_req = rng.randint(0, int(1 + 8 * load))
        for _ in range(n_req):
            hists["vllm:time_to_first_token_seconds"].observe(rng.lognormvariate(math.log(0.05 + 0.1 * load), 0.4))
            tpot = rng.lognormvariate(math.log(0.012 + 0.01 * load), 0.2)
            for _ in range(8):
                hists["vllm:inter_token_latency_seconds"].observe(tpot * rng.uniform(0.7, 1.3))
            hists["vllm:request_time_per_output_token_seconds"].observe(tpot)
            hists["vllm:e2e_request_latency_seconds"].observe(tpot * 256)
            hists["vllm:request_queue_time_seconds"].observe(rng.expovariate(50.0))
        gen += n_req * 256
        prompt += n_req * 512
        done += n_req
        samples = [Sample("vllm:generation_tokens_total", gen, labels_of(base)),
                   Sample("vllm:prompt_tokens_total", prompt, labels_of(base)),
                   Sample("vllm:request_success_total", done, labels_of({**base, "finished_reason": "length"})),
                   Sample("vllm:kv_cache_usage_perc", min(0.95, 0.6 * load + rng.uniform(0, 0.05)), labels_of(base)),
                   Sample("vllm:num_requests_running", float(n_req * 4), labels_of(base)),
                   Sample("vllm:num_requests_waiting", 0.0, labels_of(base)), info]
        for name, h in hists.items():
            samples.extend(h.samples(name, base))
        writer.add_frames(run_id, [Frame("engine", t0 + k, samples)])
        if k % flush_every == 0:
            writer.flush()
    writer.flush()


def seed_gpu(writer, run_id: int, t0: float, seconds: int, rng: random.Random, flush_every: int = 120) -> None:
    """An H100-like recording: 1 Hz tier (utilisation, GPM, memory, power), 5 s energy."""
    lab = labels_of({"uuid": GPU_UUID})
    energy = 5.0e9
    for k in range(seconds):
        load = 0.5 + 0.5 * math.sin(k / 300.0)
        power_w = 120 + 480 * load
        energy += power_w * 1000.0  # mJ over one second
        fast = [Sample("gpu.util_gpu", 100.0 if load > 0.05 else 0.0, lab),
                Sample("gpu.sm_active", 70 * load + rng.uniform(0, 3), lab),
                Sample("gpu.tensor_active", 35 * load, lab),
                Sample("gpu.mem_used", 70e9 + 1e9 * load, lab),
                Sample("gpu.power_mw", power_w * 1000.0, lab)]
        frames = [Frame(f"gpu:{GPU_UUID}", t0 + k, fast)]
        if k % 5 == 0:
            frames.append(Frame(f"gpu:{GPU_UUID}:slow", t0 + k, [Sample("gpu.energy_mj", energy, lab)]))
        writer.add_frames(run_id, frames)
        if k % flush_every == 0:
            writer.flush()
    writer.flush()


def seed_journal(root: Path, runs: int = 3, seconds: int = 3600, gpu: bool = True, bench: bool = True,
                 t_start: float = 1_750_000_000.0, secrets: tuple[str, str] | None = None) -> dict:
    """A journal at ``root`` with ``runs`` engine runs of ``seconds`` each (one after the
    other), the host GPU recording over all of them, and a benchmark run on the first."""
    from iejtui.journal.init import init_journal
    from iejtui.redact import redact_argv, redact_env
    from iejtui.store.writer import Writer
    init_journal(root)
    rng = random.Random(7)
    w = Writer(root / "journal.db")
    ids: dict = {"engines": []}
    total = runs * (seconds + 60)
    if gpu:
        ids["gpu"] = w.create_run(kind="record", name="gpu@h100-box", status="stopped", started_at=t_start,
                                  ended_at=t_start + total, gpus=[GPU_UUID],
                                  facts={"gpus": [{"uuid": GPU_UUID, "index": 0, "name": "NVIDIA H100 80GB HBM3"}]},
                                  versions={"driver": "570.133.20", "cuda": "12.8", "gpu": "NVIDIA H100 80GB HBM3"})
        seed_gpu(w, ids["gpu"], t_start, total, rng)
    key, token = secrets or ("sk-synthetic-KEY-0001", "hf_syntheticTOKEN0001")
    for i in range(runs):
        t0 = t_start + i * (seconds + 60)
        argv, _ = redact_argv(["vllm", "serve", MODEL, "--port", str(8000 + i), "--api-key", key,
                               "--max-num-seqs", str(64 * (i + 1))])
        env, _ = redact_env({"HF_TOKEN": token, "CUDA_VISIBLE_DEVICES": "0"})
        rid = w.create_run(kind="engine", name=f"llama8b-seqs{64 * (i + 1)}", engine_kind="vllm", status="stopped",
                           argv=argv, env=env, cwd="/srv/journal", model=MODEL, gpus=[GPU_UUID],
                           url=f"http://127.0.0.1:{8000 + i}", started_at=t0 - 30, ready_at=t0,
                           ended_at=t0 + seconds, exit_code=0, reason="stopped by request",
                           versions={"iejtui": "0.1.0", "python": "3.11.7", "host": "h100-box", "engine": "0.11.0",
                                     "driver": "570.133.20", "cuda": "12.8", "gpu": "NVIDIA H100 80GB HBM3",
                                     "gpu_count": 1},
                           facts={"kv_cache_tokens": 464000})
        seed_engine(w, rid, t0, seconds, rng)
        w.add_event(rid, Event(t0 - 30, "started", "launched (pid 4242)", "info"))
        w.add_event(rid, Event(t0, "ready", "ready after 30.0 s", "info"))
        w.add_event(rid, Event(t0 + seconds, "stopped", "stopped (stopped by request)", "info"))
        ids["engines"].append(rid)
    if bench:
        t0 = t_start + 10
        # as the service stores it: the load generator's arguments only
        bargv, _ = redact_argv(["--base-url", "http://127.0.0.1:8000", "--num-prompts", "40",
                                "--request-rate", "4", "--api-key", key])
        bid = w.create_run(kind="bench", name="bench-rate4", status="stopped", argv=bargv, env={},
                           cwd="/srv/journal", model=MODEL, started_at=t0, ended_at=t0 + 20, exit_code=0,
                           parent_id=ids["engines"][0], versions={"iejtui": "0.1.0", "python": "3.11.7"})
        for k in range(40):
            ttft = 0.04 + 0.002 * k
            chunks = [ttft + 0.012 * j for j in range(64)]
            w.add_request(bid, {"idx": k, "t_scheduled": t0 + k * 0.25, "t_sent": t0 + k * 0.25, "ttft": ttft,
                                "e2el": chunks[-1], "prompt_tokens": 512, "output_tokens": 64, "ok": 1,
                                "chunk_times": chunks})
        w.flush()
        ids["bench"] = bid
    w.close()
    return ids


# ---- tests of the journal's figures on synthetic data ------------------------------------

def _reader(tmp_path, **kw):
    from iejtui.store import Reader
    ids = seed_journal(tmp_path, **kw)
    return Reader(tmp_path / "journal.db"), ids


def test_gpu_figures_from_the_host_recording(tmp_path):
    from iejtui.journal.metrics import run_metrics
    reader, ids = _reader(tmp_path, runs=1, seconds=600, bench=False)
    e = run_metrics(reader, reader.run(ids["engines"][0]))
    g = e["gpu"]
    assert g["count"] == 1 and g["uuids"] == [GPU_UUID]
    assert 60 < g["sm_active_pct"]["peak"] <= 75 and 0 < g["sm_active_pct"]["mean"] < g["sm_active_pct"]["peak"]
    assert g["kernel_active_pct"]["peak"] == 100.0
    assert 500 < g["power_w"]["peak"] <= 600
    # energy from the counter: mean power × duration, within the 5 s tier's resolution
    assert g["energy_j"] is not None
    seconds = g["window"][1] - g["window"][0]
    assert abs(g["energy_j"] - g["power_w"]["mean"] * seconds) / g["energy_j"] < 0.05
    assert g["joules_per_token"] == g["energy_j"] / e["engine"]["tokens"]["generated"]


def test_no_gpu_means_null_not_zero(tmp_path):
    from iejtui.journal.metrics import run_metrics
    reader, ids = _reader(tmp_path, runs=1, seconds=120, gpu=False, bench=False)
    g = run_metrics(reader, reader.run(ids["engines"][0]))["gpu"]
    assert g["count"] == 0
    assert g["energy_j"] is None and g["joules_per_token"] is None
    assert g["sm_active_pct"] == {"peak": None, "mean": None}


def test_bench_figures_from_stored_requests(tmp_path):
    from iejtui.journal.metrics import run_metrics
    reader, ids = _reader(tmp_path, runs=1, seconds=60, gpu=False)
    e = run_metrics(reader, reader.run(ids["bench"]))["bench"]
    assert e["requests"] == {"total": 40, "ok": 40, "failed": 0}
    assert e["tokens"]["generated"] == 40 * 64
    assert abs(e["latency_s"]["itl"]["p50"] - 0.012) < 1e-4
    assert abs(e["latency_s"]["ttft"]["p50"] - (0.04 + 0.002 * 19.5)) < 1e-6
    assert e["throughput"]["output_tok_s"] > 0


def test_gpu_and_bench_figures_reach_the_day_and_the_export(tmp_path):
    from iejtui.journal import create_day, export_markdown
    reader, ids = _reader(tmp_path, runs=1, seconds=300)
    path = create_day(tmp_path, reader, "h100", [str(ids["engines"][0]), str(ids["bench"])], None, charts=False)
    log = (path / "LOG.md").read_text()
    assert "1 × NVIDIA H100 80GB HBM3" in log and "570.133.20 / 12.8" in log
    md = export_markdown(tmp_path, reader, day=1)
    assert "| GPU SM-active peak / mean |" in md and "| Energy / per token |" in md
    assert "J/tok" in (tmp_path / "JOURNAL_INDEX.md").read_text()
    script = (path / "code" / f"run-{ids['bench']}-bench-bench-rate4.sh").read_text()
    assert "exec iejtui bench \\\n  --base-url http://127.0.0.1:8000" in script and '"${IEJTUI_API_KEY:?' in script
    for s in ("sk-synthetic-KEY-0001", "hf_syntheticTOKEN0001"):
        assert s not in md and s not in log and s not in script
