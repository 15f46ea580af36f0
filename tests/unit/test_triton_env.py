"""The CPU demo's Triton recipe: unpacking the wheel whole, the stub for the engine venv's
Python, numpy<2 for the stub, marker and lock, the launch command and environment.

pip stands in as ``FakePip`` (the same seam as the vLLM venv's tests): its ``download``
writes a wheel-shaped zip laid out as nvidia-pytriton 0.7.0's (``pytriton/tritonserver/
{bin,backends/python,python_backend_stubs/3.X}``, ``nvidia_pytriton.libs``). The real
wheel and server are exercised by tests/integration/test_triton_real.py."""
from __future__ import annotations

import os
import stat
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from iejtui.demo import triton_env as te
from iejtui.demo.engine_env import EngineEnv, read_marker, write_marker

TAG = "%d.%d" % sys.version_info[:2]
HOME = "pytriton/tritonserver"


def make_wheel(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, mode in ((f"{HOME}/bin/tritonserver", 0o755),
                           (f"{HOME}/backends/python/libtriton_python.so", 0o644),
                           (f"{HOME}/python_backend_stubs/{TAG}/triton_python_backend_stub", 0o755),
                           ("nvidia_pytriton.libs/libtritonserver-x.so", 0o644)):
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFREG | mode) << 16
            zf.writestr(info, b"\x7fELF" + name.encode())


class FakePip:
    def __init__(self, fail_on: str | None = None):
        self.fail_on, self.calls = fail_on, []

    def run_step(self, argv, log, logfile, *, label, **kw):
        self.calls.append(label)
        if self.fail_on and label.startswith(self.fail_on):
            return 1
        if label.startswith("pip download"):
            dest = Path(argv[argv.index("-d") + 1])
            make_wheel(dest / f"nvidia_pytriton-{te.PYTRITON_VERSION}-py3-none-manylinux_2_35_x86_64.whl")
        elif label.startswith("pip install"):
            (Path(argv[argv.index("--target") + 1]) / "numpy").mkdir(parents=True)
        return 0


def engine(tmp_path: Path) -> EngineEnv:
    """The running interpreter as the 'engine venv' (its python answers the version)."""
    return EngineEnv(python=Path(sys.executable), version="0.32.0+cpu")


def test_install_layout_marker_and_idempotence(tmp_path, monkeypatch):
    pip = FakePip()
    monkeypatch.setattr(te, "run_step", pip.run_step)
    t = te.ensure_triton(engine(tmp_path), tmp_path, log=lambda s: None)
    assert t.root == tmp_path / "engines" / "triton-2.51"
    assert t.server.exists() and os.access(t.server, os.X_OK)  # executable bits kept
    stub = t.backends / "python" / te.STUB_NAME
    assert stub.read_bytes().endswith(f"python_backend_stubs/{TAG}/triton_python_backend_stub".encode())
    assert os.access(stub, os.X_OK)
    assert (t.root / "wheel" / "nvidia_pytriton.libs").is_dir()  # the stub's RPATH target
    assert (t.stub_site / "numpy").is_dir()
    assert read_marker(t.root)["stub_python"] == TAG and read_marker(t.root)["pytriton"] == "0.7.0"
    assert pip.calls == ["pip download nvidia-pytriton", "pip install numpy==1.26.4 for the stub"]
    assert not [p for p in t.root.iterdir() if ".tmp" in p.name]  # no temporary leftovers
    assert not (t.root / "download").exists()  # the wheel itself is not kept twice
    monkeypatch.setattr(te, "run_step", lambda *a, **k: pytest.fail("must not run"))
    assert te.ensure_triton(engine(tmp_path), tmp_path, log=lambda s: None) == t


def test_an_unpacked_wheel_without_marker_is_completed_not_downloaded_again(tmp_path, monkeypatch):
    pip = FakePip(fail_on="pip install")
    monkeypatch.setattr(te, "run_step", pip.run_step)
    with pytest.raises(RuntimeError, match="pip install numpy==1.26.4 failed"):
        te.ensure_triton(engine(tmp_path), tmp_path, log=lambda s: None)
    root = te.triton_dir(tmp_path)
    assert read_marker(root) is None and (root / "wheel").is_dir()
    pip = FakePip()
    monkeypatch.setattr(te, "run_step", pip.run_step)
    te.ensure_triton(engine(tmp_path), tmp_path, log=lambda s: None)
    assert pip.calls == ["pip install numpy==1.26.4 for the stub"] and read_marker(root)


def test_a_failed_download_leaves_nothing_marked(tmp_path, monkeypatch):
    monkeypatch.setattr(te, "run_step", FakePip(fail_on="pip download").run_step)
    with pytest.raises(RuntimeError, match="pip download nvidia-pytriton==0.7.0 failed"):
        te.ensure_triton(engine(tmp_path), tmp_path, log=lambda s: None)
    assert read_marker(te.triton_dir(tmp_path)) is None
    assert not (te.triton_dir(tmp_path) / "wheel").exists()


def test_a_python_without_stub_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(te, "run_step", FakePip().run_step)
    monkeypatch.setattr(te, "_python_tag", lambda py: "3.7")
    with pytest.raises(RuntimeError, match="no Python backend stub for Python 3.7"):
        te.ensure_triton(engine(tmp_path), tmp_path, log=lambda s: None)


def test_launch_command_binds_loopback():
    t = te.TritonEnv(Path("/c/engines/triton-2.51"))
    argv = te.triton_argv(t, "/repo", 1, 2, 3)
    assert argv[0] == "/c/engines/triton-2.51/wheel/pytriton/tritonserver/bin/tritonserver"
    assert "--model-repository=/repo" in argv
    assert "--backend-directory=/c/engines/triton-2.51/wheel/pytriton/tritonserver/backends" in argv
    flags = dict(zip(argv[3::2], argv[4::2]))
    assert {k: flags[k] for k in ("--http-address", "--grpc-address", "--metrics-address")} == \
        dict.fromkeys(("--http-address", "--grpc-address", "--metrics-address"), "127.0.0.1")
    assert (flags["--http-port"], flags["--grpc-port"], flags["--metrics-port"]) == ("1", "2", "3")


def test_stub_environment_names_the_venvs_libpython_and_numpy1_first(tmp_path):
    venv = Path(sys.prefix)  # the project's venv stands in for the engine's
    env = EngineEnv(python=venv / "bin" / "python", version="x")
    t = te.TritonEnv(tmp_path / "triton")
    out = te.triton_env(t, env, "/models/tiny", base={"LD_LIBRARY_PATH": "/opt/x"})
    paths = out["IEJTUI_TRITON_PYTHONPATH"].split(os.pathsep)
    assert paths[0] == str(t.stub_site) and Path(paths[1]).name == "site-packages"
    assert Path(paths[1]).is_relative_to(venv)
    assert out["IEJTUI_TINY_MODEL"] == "/models/tiny"
    soname = sysconfig.get_config_var("INSTSONAME")
    libdir = sysconfig.get_config_var("LIBDIR")
    if sysconfig.get_config_var("Py_ENABLE_SHARED") and (Path(libdir) / soname).exists():
        assert out["LD_LIBRARY_PATH"] == f"{libdir}{os.pathsep}/opt/x"
    else:  # a static interpreter: the stub keeps the system's libpython
        assert "LD_LIBRARY_PATH" not in out


def test_model_repository_copies_and_is_private(tmp_path):
    src = tmp_path / "src" / "m"
    (src / "1").mkdir(parents=True)
    (src / "config.pbtxt").write_text('name: "m"\n')
    (src / "1" / "model.py").write_text("")
    repo = te.build_model_repository(tmp_path / "repo", [src])
    assert (repo / "m" / "1" / "model.py").exists() and stat.S_IMODE(repo.stat().st_mode) == 0o700


def test_fixture_models_hold_the_ensemble():
    names = [p.name for p in te.fixture_models()]
    assert "ensemble" in names
    cfg = (te.TRITON_MODELS_DIR / "ensemble" / "config.pbtxt").read_text()
    for needle in ('name: "ensemble"', 'backend: "python"', "decoupled: true", 'name: "text_input"',
                   'name: "max_tokens"', 'name: "stream"', 'name: "text_output"'):
        assert needle in cfg


def test_marker_written_elsewhere_does_not_count_without_the_server(tmp_path, monkeypatch):
    root = te.triton_dir(tmp_path)
    root.mkdir(parents=True)
    write_marker(root, {"pytriton": "0.7.0"})  # the server binary went away: install again
    pip = FakePip()
    monkeypatch.setattr(te, "run_step", pip.run_step)
    t = te.ensure_triton(engine(tmp_path), tmp_path, log=lambda s: None)
    assert t.server.exists() and pip.calls[0] == "pip download nvidia-pytriton"
