"""Waiting for an engine to be ready, and the line that says it is (``engine start --wait``
and ``demo`` both use them)."""

from __future__ import annotations

import time

import click

from iejtui import fmt
from iejtui.errors import ServiceError
from iejtui.store.vocab import FINAL


def wait_ready(paths, name: str, quiet: bool = False) -> dict:
    """Follow an engine's startup phases until it is ready (returns it) or dies (raises)."""
    from iejtui.client import ServiceClient
    last_phase = None
    t0 = time.monotonic()
    while True:
        e = ServiceClient(paths).engine(name)
        if e["phase"] != last_phase and not quiet:
            click.echo(f"  {fmt.duration(time.monotonic() - t0):>6}  {e['phase']}")
            last_phase = e["phase"]
        if e["status"] == "ready":
            return e
        if e["status"] in FINAL:
            from iejtui.store import Reader
            run = Reader(paths.db).run(e["run_id"]) or {}
            lines = e.get("error_lines") or []
            msg = f"engine {name!r} {e['status']} before it was ready: {run.get('reason') or 'no reason recorded'}"
            for ln in lines[-8:]:
                click.echo(f"  | {ln}", err=True)
            if not lines and run.get("log_tail"):
                for ln in run["log_tail"].splitlines()[-8:]:
                    click.echo(f"  | {ln}", err=True)
            raise ServiceError(msg)
        time.sleep(0.25)


def describe_ready(e: dict) -> str:
    f = e.get("facts") or {}
    bits = []
    if f.get("kv_cache_tokens"):
        bits.append(f"KV cache {f['kv_cache_tokens']:,} tokens")
    if f.get("max_concurrency"):
        bits.append(f"max concurrency {f['max_concurrency']}x")
    if f.get("version"):
        bits.append(f"vLLM {f['version']}")
    if f.get("models"):  # Triton: every model of its repository, ready
        bits.append("models " + ", ".join(str(m.get("name")) for m in f["models"]))
    return f"engine {e['name']} ready at {e['url']} (run {e['run_id']}, pid {e['pid']})" + (
        f": {', '.join(bits)}" if bits else "")
