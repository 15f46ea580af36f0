"""Cost maths, energy, headroom, goodput and the aggregation behind the comparison tables."""

from __future__ import annotations

import pytest

from iejtui.matrix import cost
from iejtui.matrix.figures import aggregate, best_per_slo, cell_figures, goodput, meets


def test_gpus_used_from_parallelism_or_visible_devices():
    assert cost.gpus_used(["vllm", "serve", "m"], {}, 8) == 1
    assert cost.gpus_used(["vllm", "serve", "m", "--tensor-parallel-size", "4"], {}, 8) == 4
    assert cost.gpus_used(["vllm", "serve", "m", "-tp=2", "--pipeline-parallel-size", "2"], {}, 8) == 4
    assert cost.gpus_used(["x"], {"CUDA_VISIBLE_DEVICES": "0,1,2"}, 8) == 3
    assert cost.gpus_used(["x", "--tensor-parallel-size", "16"], {}, 8) == 8
    assert cost.gpus_used(["x", "--tensor-parallel-size", "4"], {}, 0) == 0


def test_hour_price_lookup_order():
    matrix = {"gpu_hour_usd": 3.0, "gpus": {"H100": 2.0}}
    config = {"gpu_hour_usd": 1.0, "gpus": {"A100": 1.2, "NVIDIA A100 80GB": 1.5}, "machine_hour_usd": 0.3}
    assert cost.hour_price(matrix, config, "NVIDIA H100 80GB HBM3", 2)[0] == 4.0      # matrix, per model
    assert cost.hour_price(matrix, config, "NVIDIA A100 80GB PCIe", 1)[0] == 3.0      # matrix flat beats config
    p, basis = cost.hour_price({}, config, "NVIDIA A100 80GB PCIe", 2)
    assert p == 3.0 and "NVIDIA A100 80GB in iejtui.toml" in basis                    # longest key wins
    assert cost.hour_price({}, config, "NVIDIA L4", 1)[0] == 1.0
    assert cost.hour_price({}, config, None, 0)[0] == 0.3                              # no GPU: machine price
    p, basis = cost.hour_price({"gpu_hour_usd": 2.5}, {}, None, 0)
    assert p == 2.5 and "machine" in basis
    assert cost.hour_price({}, {}, "NVIDIA H100", 1)[0] is None


def test_dollars_per_million_output_tokens():
    # 2 GPUs at $2.50/h for 180 s producing 90,000 tokens: $0.25 for 90k tokens
    assert cost.usd_per_million(5.0, 180.0, 90_000) == pytest.approx(0.25 / 0.09)
    # 1000 tok/s sustained for an hour on a $3.6/h machine costs $1 per 1M
    assert cost.usd_per_million(3.6, 3600.0, 3_600_000) == pytest.approx(1.0)
    assert cost.usd_per_million(None, 10, 10) is None and cost.usd_per_million(1.0, 10, 0) is None


def test_energy_and_headroom():
    assert cost.joules_per_token(3000.0, 1500) == 2.0 and cost.joules_per_token(None, 10) is None
    h = cost.memory_headroom([{"memory_total": 80e9, "mem_used_bytes_peak": 60e9},
                              {"memory_total": 80e9, "mem_used_bytes_peak": 76e9}])
    assert h == {"bytes": 4e9, "pct": pytest.approx(5.0)}
    assert cost.memory_headroom([{"memory_total": None}]) == {"bytes": None, "pct": None}
    assert cost.kv_headroom(1000, 250) == 750 and cost.kv_headroom(None, 3) is None


def req(ttft, e2el, n=11, ok=1):
    return {"ok": ok, "ttft": ttft, "e2el": e2el, "output_tokens": n}


def test_goodput_follows_vllm_rules():
    slo = {"name": "s", "ttft_ms": 200, "tpot_ms": 50, "e2el_ms": None}
    assert meets(req(0.1, 0.6), slo)            # TPOT (0.6-0.1)/10 = 50 ms: on the limit
    assert not meets(req(0.1, 0.61), slo)       # 51 ms
    assert not meets(req(0.3, 0.4), slo)        # TTFT
    assert meets(req(0.1, 9.0, n=1), slo)       # one token: TPOT 0
    assert not meets(req(0.1, 0.2, ok=0), slo)
    rows = [req(0.1, 0.5)] * 3 + [req(0.5, 0.9)]
    assert goodput(rows, slo, 2.0) == (1.5, 75.0)
    assert goodput([], slo, 2.0) == (None, None)


RESULT = {"duration": 10.0, "completed": 4, "failed": 0, "total_output_tokens": 400, "output_throughput": 40.0,
          "total_token_throughput": 80.0, "request_throughput": 0.4, "median_ttft_ms": 100.0, "p99_ttft_ms": 180.0,
          "p50_tpot_ms": 20.0, "p99_tpot_ms": 31.0, "median_itl_ms": 19.0, "p99_itl_ms": 40.0}


def test_cell_figures_from_a_vllm_result():
    f = cell_figures(RESULT, [req(0.1, 0.5)] * 4, [{"name": "chat", "ttft_ms": 150}])
    assert f["output_tok_s"] == 40.0 and f["ttft_p50_ms"] == 100.0 and f["ttft_p99_ms"] == 180.0
    assert f["tpot_p50_ms"] == 20.0 and f["e2el_p50_ms"] is None
    assert f["goodput"] == {"chat": 0.4} and f["attainment_pct"] == {"chat": 100.0}


def cell(v, lp, rep, tok, ttft, gp, status="done"):
    return {"variant": v, "workload": "w", "load": lp, "rep": rep, "status": status,
            "figures": {"output_tok_s": tok, "ttft_p50_ms": ttft, "goodput": {"chat": gp},
                        "attainment_pct": {"chat": 100.0 * (gp > 0)}} if status == "done" else None}


def test_aggregate_means_sd_and_best_variant_per_slo():
    cells = [cell("a", "c4", 1, 100.0, 50.0, 2.0), cell("a", "c4", 2, 110.0, 70.0, 2.2),
             cell("a", "c16", 1, 300.0, 400.0, 0.0), cell("b", "c4", 1, 90.0, 40.0, 2.5),
             cell("b", "c16", 1, 0, 0, 0, status="skipped")]
    slos = [{"name": "chat"}]
    groups = aggregate(cells, slos)
    a4 = next(g for g in groups if g["variant"] == "a" and g["load"] == "c4")
    assert a4["n"] == 2 and a4["output_tok_s"] == 105.0 and a4["output_tok_s_sd"] == pytest.approx(7.0710678)
    assert a4["goodput"]["chat"] == pytest.approx(2.1)
    b16 = next(g for g in groups if g["variant"] == "b" and g["load"] == "c16")
    assert b16["n"] == 0 and b16["output_tok_s"] is None and b16["statuses"] == ["skipped"]
    best = best_per_slo(groups, slos)
    assert best[0] == {"workload": "w", "slo": None, "variant": "a", "load": "c16", "output_tok_s": 300.0,
                       "goodput": None}
    assert (best[1]["variant"], best[1]["load"], best[1]["goodput"]) == ("b", "c4", 2.5)
    none = best_per_slo(aggregate([cell("a", "c4", 1, 10.0, 900.0, 0.0)], slos), slos)
    assert none[1]["variant"] is None
