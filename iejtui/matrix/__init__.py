"""The benchmark matrix: engine variants × workloads × load points × repetitions, from one file.

``spec``      the matrix file (TOML): parsing, validation (``file:line: what``), grid expansion
``estimate``  how long a grid will take, from the journal's history when it has some
``state``     the resumable cell states a matrix run keeps in its run row's ``facts``
``figures``   per-cell figures (throughput, latency percentiles, goodput per SLO), aggregation
``cost``      $ per 1M output tokens from GPU-hour prices, J/token, memory headroom
``results``   results.json: every cell's bench summary, engine facts, hardware (reads journal.db)
``report``    README.md: comparison tables, best variant per SLO (pure)
``charts``    throughput–latency curves per workload (SVG)
``compare``   benchmarks/ entries side by side by hardware and variant

The job that runs a grid lives in ``iejtui.service.matrix_job`` (the service owns it; its
API handlers and resume are in ``iejtui.service.matrices``).

Control API (unix socket, JSON; errors ``{"error": ..., "user_error": true}`` with 400)::

    POST /v1/matrices                 {"file": ABS_PATH, "fresh": false, "retry_failed": false}
                                      → progress (``"attached": true`` when it already ran)
    GET  /v1/matrices                 → [progress, …] (the running one first; else the last one)
    GET  /v1/matrices/{name}          → progress (also of a matrix of an earlier service)
    POST /v1/matrices/{name}/cancel   → progress (finished cells kept; run the file again to resume)

Progress (``iejtui.matrix.state.progress_view``)::

    {"name", "run_id", "file", "state": running|done|cancelled|failed, "reason",
     "cells": {"total", "done", "failed", "skipped", "pending", "running", "finished"},
     "variants": [{"name", "status": pending|starting|running|done|failed, "reason",
                   "engine_run", "startup_s"}],
     "current": {"variant", "engine", "phase": engine starting|benchmark|stopping the engine|
                 writing results, "engine_status", "engine_phase", "engine_run", "cell",
                 "workload", "load", "rep", "bench_run", "bench_status",
                 "bench_progress": {"done", "total", "failed", "output_tokens_per_s", …}},
     "started_at", "elapsed_s", "eta_s", "estimate_s", "estimate_basis": [str],
     "results": "benchmarks/NAME", "log": [{"at", "what"}]}
"""
