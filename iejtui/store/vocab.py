"""The runs table's vocabulary: run statuses and kinds, and the named groups of statuses.

``StrEnum``s, so a member *is* its string: journal.db keeps the same text, JSON output is
unchanged (``json.dumps(RunStatus.READY)`` is ``"ready"``), f-strings print the value and
``run["status"] == RunStatus.READY`` holds for a row read back as plain text.

A member also hashes as its string, so it finds (and is found as) a plain-text dict key.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    STARTING = "starting"        # an engine launching or being attached to
    READY = "ready"              # an engine serving; a recording recording
    RUNNING = "running"          # a benchmark or matrix under way
    STOPPED = "stopped"          # ended as asked (or an engine exiting 0)
    CRASHED = "crashed"          # an engine that exited on its own
    FAILED = "failed"            # never got going (launch error, benchmark error)
    INTERRUPTED = "interrupted"  # cut short: cancelled, or the service went away


class RunKind(StrEnum):
    ENGINE = "engine"
    BENCH = "bench"
    RECORD = "record"
    MATRIX = "matrix"
    IMPORTED = "imported"
    SEARCH = "search"            # --find-max-load: its probes are bench runs with search_id = its id
    PROFILE = "profile"          # `iejtui profile ENGINE --seconds N`: a profiler window, parent = the engine run


#: A run still going: nothing final recorded yet (the service re-adopts these at start).
LIVE: tuple[RunStatus, ...] = (RunStatus.STARTING, RunStatus.READY, RunStatus.RUNNING)
#: An engine still up (an engine is never "running").
ENGINE_LIVE: tuple[RunStatus, ...] = (RunStatus.STARTING, RunStatus.READY)
#: A benchmark still going (its headline figures come once it has ended).
BENCH_LIVE: tuple[RunStatus, ...] = (RunStatus.STARTING, RunStatus.RUNNING)
#: An end on an error (an engine that died, a launch or benchmark that failed).
BROKE: tuple[RunStatus, ...] = (RunStatus.CRASHED, RunStatus.FAILED)
#: An end that is not the one asked for: broke, or cut short.
ENDED_BADLY: tuple[RunStatus, ...] = (RunStatus.CRASHED, RunStatus.FAILED, RunStatus.INTERRUPTED)
#: A run that has ended, for good.
FINAL: tuple[RunStatus, ...] = (RunStatus.STOPPED, RunStatus.CRASHED, RunStatus.INTERRUPTED, RunStatus.FAILED)

#: The prefix of the service's own GPU recordings' names (``gpu@HOST``).
GPU_RECORDING_PREFIX = "gpu@"
