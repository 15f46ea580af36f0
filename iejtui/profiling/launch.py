"""What profiling adds to an engine's command line (pure).

vLLM 0.32 (``vllm/config/profiler.py`` ``ProfilerConfig``; ``vllm/entrypoints/serve/profile/
api_router.py``) serves ``POST /start_profile`` and ``/stop_profile`` only when launched with
``--profiler-config`` naming a profiler, so a profiled engine gets
``--profiler-config '{"profiler":"torch","torch_profiler_dir":ABS,"torch_profiler_with_stack":false}'``
(an absolute folder; stacks off: the default, on, makes every event carry a Python stack and
the trace several times larger). An argv that already has ``--profiler-config`` is left as the
user wrote it (their folder then holds the traces; iejtui warns).

``profiler = "nsys"``: the engine runs under ``nsys launch --session-new=iejtui-<NAME>`` (CUDA +
NVTX traced, nothing collected until ``nsys start``); a window is then
``nsys start --session=... --output=FILE`` / ``nsys stop --session=...`` (see ``nsys_window``;
the Nsight Systems User Guide's "interactive CLI" commands). Never run here: no nsys on the CPU box.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

__all__ = ["PROFILER_FLAG", "has_profiler_config", "nsys_launch_argv", "nsys_session",
           "nsys_window", "profiler_config_json", "profiling_of", "with_profiler"]

PROFILER_FLAG = "--profiler-config"


def has_profiler_config(argv: Sequence[str]) -> bool:
    return any(a == PROFILER_FLAG or a.startswith(PROFILER_FLAG + "=")
               or a.startswith(PROFILER_FLAG + ".") for a in argv)


def profiler_config_json(trace_dir: Path) -> str:
    return json.dumps({"profiler": "torch", "torch_profiler_dir": str(Path(trace_dir).resolve()),
                       "torch_profiler_with_stack": False}, separators=(",", ":"))


def with_profiler(argv: Sequence[str], trace_dir: Path) -> list[str]:
    """``argv`` with the torch profiler config appended (unchanged if it has one)."""
    if has_profiler_config(argv):
        return list(argv)
    return [*argv, PROFILER_FLAG, profiler_config_json(trace_dir)]


def nsys_session(engine: str) -> str:
    return f"iejtui-{engine}"


def nsys_launch_argv(argv: Sequence[str], engine: str, nsys: str = "nsys") -> list[str]:
    """``argv`` run under ``nsys launch`` (collection waits for ``nsys start``)."""
    return [nsys, "launch", f"--session-new={nsys_session(engine)}", "--trace=cuda,nvtx", *argv]


def nsys_window(engine: str, output: Path, nsys: str = "nsys") -> tuple[list[str], list[str]]:
    """The commands that open and close one window: (``nsys start``, ``nsys stop``)."""
    session = f"--session={nsys_session(engine)}"
    return ([nsys, "start", session, f"--output={output}", "--force-overwrite=true"],
            [nsys, "stop", session])


def profiling_of(argv: Sequence[str]) -> str | None:
    """Which profiler a recorded command line was launched with (a service restart reads the
    run's argv back): "nsys", "torch" or None."""
    argv = [str(a) for a in argv or ()]
    if len(argv) > 1 and argv[0].rsplit("/", 1)[-1] == "nsys" and argv[1] == "launch":
        return "nsys"
    return "torch" if has_profiler_config(argv) else None
