"""MLPerf Inference server-scenario SLO presets, checked against mlperf.conf's values.

The expected values are transcribed from mlcommons/inference ``loadgen/mlperf.conf`` at
commit b66003e10e2db4b8c36a448b0545ec90fcc6e9e9 (keys ``MODEL.Server.ttft_latency`` and
``MODEL.Server.tpot_latency``, milliseconds; ``*.Server.target_latency_percentile = 99``).
"""

from __future__ import annotations

from iejtui import slos

MLPERF_CONF = {  # key = value, as the file writes them
    "llama2-70b.Server.ttft_latency": 2000, "llama2-70b.Server.tpot_latency": 200,
    "llama2-70b-interactive.Server.ttft_latency": 450, "llama2-70b-interactive.Server.tpot_latency": 40,
    "llama3_1-8b.Server.ttft_latency": 2000, "llama3_1-8b.Server.tpot_latency": 100,
    "llama3_1-8b-interactive.Server.ttft_latency": 500, "llama3_1-8b-interactive.Server.tpot_latency": 30,
    "llama3_1-405b.Server.ttft_latency": 6000, "llama3_1-405b.Server.tpot_latency": 175,
    "llama3_1-405b-interactive.Server.ttft_latency": 4500, "llama3_1-405b-interactive.Server.tpot_latency": 80,
    "deepseek-r1.Server.ttft_latency": 2000, "deepseek-r1.Server.tpot_latency": 80,
    "deepseek-r1-interactive.Server.ttft_latency": 1500, "deepseek-r1-interactive.Server.tpot_latency": 15,
    "mixtral-8x7b.Server.ttft_latency": 2000, "mixtral-8x7b.Server.tpot_latency": 200,
    "gpt-oss-120b.Server.ttft_latency": 3000, "gpt-oss-120b.Server.tpot_latency": 80,
}


def test_presets_match_mlperf_conf_and_cite_it():
    p = slos.presets()
    assert len(p) * 2 == len(MLPERF_CONF)
    for name, s in p.items():
        key = name.removeprefix("mlperf-").replace("3.1", "3_1")
        assert s["ttft_ms"] == MLPERF_CONF[f"{key}.Server.ttft_latency"], name
        assert s["tpot_ms"] == MLPERF_CONF[f"{key}.Server.tpot_latency"], name
        assert s["judge"] == "p99" and "loadgen/mlperf.conf" in s["source"] and key in s["source"]
        assert slos.MLPERF_CONF_COMMIT[:12] in s["source"]
    # the list, by the names users type
    assert (p["mlperf-llama2-70b"]["ttft_ms"], p["mlperf-llama2-70b"]["tpot_ms"]) == (2000, 200)
    assert (p["mlperf-llama2-70b-interactive"]["ttft_ms"], p["mlperf-llama2-70b-interactive"]["tpot_ms"]) == (450, 40)
    assert (p["mlperf-llama3.1-8b"]["ttft_ms"], p["mlperf-llama3.1-8b"]["tpot_ms"]) == (2000, 100)
    assert (p["mlperf-llama3.1-8b-interactive"]["ttft_ms"], p["mlperf-llama3.1-8b-interactive"]["tpot_ms"]) == (500, 30)
    assert (p["mlperf-llama3.1-405b"]["ttft_ms"], p["mlperf-llama3.1-405b"]["tpot_ms"]) == (6000, 175)
    assert (p["mlperf-deepseek-r1"]["ttft_ms"], p["mlperf-deepseek-r1"]["tpot_ms"]) == (2000, 80)


def test_a_users_slo_of_the_same_name_wins_and_a_bare_preset_name_takes_its_limits():
    raw = {"slo": [{"name": "mlperf-llama2-70b", "ttft_ms": 100}, {"name": "mine", "e2el_ms": 5000},
                   {"name": "mlperf-deepseek-r1"}, {"name": "empty"}]}
    got = slos.named_slos(raw)
    assert got["mlperf-llama2-70b"]["ttft_ms"] == 100 and "tpot_ms" not in got["mlperf-llama2-70b"]
    assert got["mine"]["e2el_ms"] == 5000
    assert (got["mlperf-deepseek-r1"]["ttft_ms"], got["mlperf-deepseek-r1"]["tpot_ms"]) == (2000, 80)
    assert "empty" not in got and "mlperf-llama3.1-8b" in got
    assert slos.slo_text(got["mlperf-deepseek-r1"]) == "p99 TTFT ≤ 2000 ms, p99 TPOT ≤ 80 ms"


def test_iejtui_slos_lists_presets_and_the_users(journal):
    from helpers import cli, cli_json
    with open(journal / "iejtui.toml", "a") as f:
        f.write('\n[[slo]]\nname = "mlperf-llama2-70b"\nttft_ms = 100\n\n[[slo]]\nname = "chat"\ne2el_ms = 3000\n')
    got = {s["name"]: s for s in cli_json(journal, "slos")}
    assert got["mlperf-llama2-70b"] == {"name": "mlperf-llama2-70b", "ttft_ms": 100.0, "judge": "p99", "source": "iejtui.toml"}
    assert got["chat"]["e2el_ms"] == 3000 and got["mlperf-deepseek-r1"]["tpot_ms"] == 80
    text = cli(journal, "slos").stdout
    assert "mlperf-llama3.1-8b-interactive" in text and "p99 TTFT ≤ 500 ms, p99 TPOT ≤ 30 ms" in text
    assert "loadgen/mlperf.conf @ b66003e10e2d" in text


def test_a_matrix_slo_naming_a_preset_takes_its_limits(tmp_path):
    from iejtui.config import load_config
    from iejtui.matrix.parse import load_matrix
    (tmp_path / "iejtui.toml").write_text('[engines.tiny]\nkind = "vllm"\nargv = ["vllm", "serve", "/m"]\n'
                                          'url = "http://127.0.0.1:8000"\n')
    m = tmp_path / "m.toml"
    m.write_text('name = "g"\n[engine]\nprofile = "tiny"\n[[variants]]\nname = "a"\nargs = []\n'
                 '[[workloads]]\nname = "w"\ndataset = "random"\ninput_len = 8\noutput_len = 8\nnum_prompts = 4\n'
                 '[load]\nmax_concurrency = [1]\n'
                 '[[slo]]\nname = "mlperf-llama3.1-8b-interactive"\n[[slo]]\nname = "mine"\nttft_ms = 5\n')
    spec = load_matrix(m, load_config(tmp_path / "iejtui.toml"))
    assert [(s.name, s.ttft_ms, s.tpot_ms) for s in spec.slos] == [
        ("mlperf-llama3.1-8b-interactive", 500.0, 30.0), ("mine", 5.0, None)]
