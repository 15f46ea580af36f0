"""What profiling adds to a launch (pure) and the config keys that ask for it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iejtui.config import PROFILE_MAX_BYTES, load_config
from iejtui.errors import UserError
from iejtui.profiling.files import move_run_files, prefix_for, run_files, trace_files
from iejtui.profiling.launch import (PROFILER_FLAG, nsys_launch_argv, nsys_window, profiling_of,
                                     with_profiler)
from iejtui.profiling.render import bar, profile_markdown, profile_text


def test_with_profiler_appends_vllm_torch_config(tmp_path):
    argv = with_profiler(["vllm", "serve", "m", "--port", "8000"], tmp_path / "t")
    assert argv[:5] == ["vllm", "serve", "m", "--port", "8000"] and argv[5] == PROFILER_FLAG
    cfg = json.loads(argv[6])
    # vLLM 0.32 ProfilerConfig: torch profiler, an absolute folder, stacks off (default on is heavy)
    assert cfg == {"profiler": "torch", "torch_profiler_dir": str((tmp_path / "t").resolve()),
                   "torch_profiler_with_stack": False}
    assert profiling_of(argv) == "torch"


def test_users_own_profiler_config_is_kept(tmp_path):
    for mine in (["--profiler-config", "{}"], ["--profiler-config={}"], ["--profiler-config.profiler=torch"]):
        argv = ["vllm", "serve", "m", *mine]
        assert with_profiler(argv, tmp_path) == argv


def test_nsys_launch_and_window():
    argv = nsys_launch_argv(["vllm", "serve", "m"], "big")
    assert argv[:2] == ["nsys", "launch"] and "--session-new=iejtui-big" in argv and argv[-3:] == ["vllm", "serve", "m"]
    assert profiling_of(argv) == "nsys" and profiling_of(["vllm", "serve"]) is None
    start, stop = nsys_window("big", Path("/x/run-3/iejtui-run3"))
    assert start[:2] == ["nsys", "start"] and "--output=/x/run-3/iejtui-run3" in start
    assert stop == ["nsys", "stop", "--session=iejtui-big"]


def test_config_profile_keys(tmp_path):
    toml = tmp_path / "iejtui.toml"
    toml.write_text('[service]\nprofile_max_bytes = 1000\n\n[engines.a]\nkind = "vllm"\nargv = ["x"]\n'
                    'profile = true\nprofiler = "nsys"\n')
    cfg = load_config(toml)
    assert cfg.engines["a"].profile and cfg.engines["a"].profiler == "nsys"
    assert cfg.service.profile_max_bytes == 1000 and cfg.service.profile_min_free_bytes is None
    assert load_config(tmp_path / "none.toml").service.profile_max_bytes == PROFILE_MAX_BYTES == 500_000_000


@pytest.mark.parametrize("body, msg", [
    ('[engines.a]\nkind = "vllm"\nargv = ["x"]\nprofile = "yes"\n', "profile must be true or false"),
    ('[engines.a]\nkind = "vllm"\nargv = ["x"]\nprofiler = "perf"\n', "profiler = 'perf'"),
    ('[engines.a]\nkind = "llamacpp"\nargv = ["x"]\nprofile = true\n', "only vllm engines"),
    ('[service]\nprofile_max_bytes = -1\n', "profile_max_bytes"),
])
def test_config_profile_errors_name_the_line(tmp_path, body, msg):
    toml = tmp_path / "iejtui.toml"
    toml.write_text(body)
    with pytest.raises(UserError, match=msg):
        load_config(toml)


def test_run_files_are_the_prefix_only_and_move_private(tmp_path):
    src = tmp_path / "engine-a"
    src.mkdir()
    for n in ("iejtui-run3_rank0.1.pt.trace.json.gz", "iejtui-run3_rank0.profiler_out.txt",
              "iejtui-run31_rank0.2.pt.trace.json.gz", "other.json"):
        (src / n).write_text("x")
    found = run_files(src, prefix_for(3))
    assert [p.name for p in found] == ["iejtui-run3_rank0.1.pt.trace.json.gz", "iejtui-run3_rank0.profiler_out.txt"]
    kept = move_run_files(found, tmp_path / "profiles" / "run-3")
    assert [p.name for p in trace_files(kept)] == ["iejtui-run3_rank0.1.pt.trace.json.gz"]
    assert oct((tmp_path / "profiles" / "run-3").stat().st_mode & 0o777) == "0o700"
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in kept)
    assert sorted(p.name for p in src.iterdir()) == ["iejtui-run31_rank0.2.pt.trace.json.gz", "other.json"]


def test_render_table_and_bars():
    assert bar(0.5) == "█" * 10 and bar(0.001) == "▏" and bar(0) == "" and bar(2) == "█" * 20
    info = {"dir": "/d", "bytes": 2e6, "files": [{"name": "f", "bytes": 2e6}], "stop_reason": "end",
            "summary": {"window_us": 1e6, "cpu_us": 5e5, "cpu_busy_share": 0.5, "gpu_us": 2e5,
                        "gpu_idle_share": 0.8,
                        "top_ops": [{"name": "aten::mm", "self_us": 4e5, "share": 0.4}],
                        "top_kernels": [{"name": "gemm", "time_us": 2e5, "share": 0.2}]}}
    text = profile_text(info)
    assert "GPU idle between kernels 80.0%" in text and "aten::mm" in text and "█" * 8 in text
    md = profile_markdown(info)
    assert "| `gemm` | 200.0 ms | 20.0% | ████ |" in md


def test_advisor_profile_signals_cover_the_window_only():
    from iejtui.advisor.signals import SIGNALS, profile_signals
    summary = {"profile": {"summary": {"start_unix": 10.0, "end_unix": 13.0, "gpu_idle_share": 0.62,
                                       "cpu_busy_share": 0.9}}}
    sig = profile_signals(summary, [8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0])
    assert sig["profile_gpu_idle_pct"] == ([10.0, 11.0, 12.0, 13.0], [62.0] * 4)
    assert sig["profile_cpu_busy_pct"][1][0] == pytest.approx(90.0)
    assert set(sig) <= set(SIGNALS)
    cpu_only = {"profile": {"summary": {"start_unix": 10.0, "end_unix": 13.0, "gpu_idle_share": None,
                                        "cpu_busy_share": 0.5}}}
    assert "profile_gpu_idle_pct" not in profile_signals(cpu_only, [11.0])  # a CPU trace says nothing of a GPU
    assert profile_signals({}, [11.0]) == {} and profile_signals(None, [1.0]) == {}


def test_a_profile_run_lists_and_shows(tmp_path):
    """A stored ``profile`` run (as ProfileRunner leaves it) in `runs`, `runs show` and the
    run list's view model."""
    import subprocess
    import sys
    import time
    from iejtui.store.vocab import RunKind, RunStatus
    from iejtui.store.writer import Writer
    from iejtui.profiling.summary import summarize_trace
    root = tmp_path / "journal"
    root.mkdir()
    w = Writer(root / "journal.db")
    s = summarize_trace(Path(__file__).resolve().parents[1] / "data" / "profile" / "vllm-0.32-cpu-rank0.pt.trace.json.gz")
    rid = w.create_run(kind=RunKind.PROFILE, name="profile-tiny", status=RunStatus.STOPPED, ended_at=time.time(),
                       summary={"profile": {"prefix": "iejtui-run1", "files": [{"name": "a", "bytes": 5}],
                                            "bytes": 5, "stop_reason": "2 s window ended", "summary": s}})
    w.close()
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    run = lambda *a: subprocess.run([sys.executable, "-m", "iejtui.cli", "--journal", str(root), *a],  # noqa: E731
                                    capture_output=True, text=True, env=env, timeout=120)
    p = run("runs", "--kind", "profile")
    assert p.returncode == 0 and "profile-tiny" in p.stdout, p.stderr
    p = run("runs", "show", str(rid))
    assert p.returncode == 0, p.stderr
    assert "top operators by self time" in p.stdout and "aten::mm" in p.stdout and "2 s window ended" in p.stdout


def test_a_new_journals_demo_engine_is_profiled(tmp_path):
    """`iejtui profile demo --seconds 5` works on the demo engine of a fresh journal."""
    from iejtui.journal.init import CONFIG_TEMPLATE
    (tmp_path / "iejtui.toml").write_text(CONFIG_TEMPLATE)
    demo = load_config(tmp_path / "iejtui.toml").engines["demo"]
    assert demo.profile and demo.profiler == "torch"


def test_steady_overlap():
    from iejtui.profiling.render import steady_line, steady_overlap
    info = {"summary": {"start_unix": 10.0, "end_unix": 20.0}}
    assert steady_overlap(info, [12.0, 30.0]) == pytest.approx(0.8)
    assert steady_overlap(info, [0.0, 100.0]) == 1.0 and steady_overlap(info, [30.0, 40.0]) == 0.0
    assert steady_overlap(info, None) is None and steady_overlap({}, [1, 2]) is None
    assert steady_line(info, {"window": [12.0, 30.0]}).startswith("profile window: 80 % inside")
    assert steady_line(info, {"window": None}) is None
