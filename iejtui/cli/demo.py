"""``iejtui demo``: the embedded default — a real vLLM (CPU build) serving a tiny model."""

from __future__ import annotations

import os
import sys

import click

from iejtui.cli.common import Group
from iejtui.errors import ServiceError, UserError
from iejtui.store.vocab import ENGINE_LIVE

DEMO_PROFILE = "demo"
# The short benchmark the demo runs in the background (vllm bench serve flags).
DEMO_BENCH = ["--dataset-name", "random", "--random-input-len", "128", "--random-output-len", "64",
              "--num-prompts", "240", "--request-rate", "4", "--ignore-eos", "--seed", "1"]


def _log(line: str) -> None:
    click.echo(line, err=True)


def _ensure(cache_dir: str | None):
    from iejtui.demo.engine_env import ensure_engine_env, ensure_tiny_model
    try:
        env = ensure_engine_env(cache_dir, log=_log)
        return env, ensure_tiny_model(env, cache_dir, log=_log)
    except (RuntimeError, OSError) as exc:
        raise ServiceError(f"could not prepare the CPU demo engine: {exc}") from None


@click.group(cls=Group, invoke_without_command=True)
@click.option("--no-ui", is_flag=True, help="Start the demo and return instead of opening the dashboard.")
@click.option("--no-bench", is_flag=True, help="Do not start the short demo benchmark.")
@click.pass_context
def demo(ctx: click.Context, no_ui: bool, no_bench: bool) -> None:
    """Set up and start the CPU demo engine in this journal, then open the dashboard."""
    if ctx.invoked_subcommand is not None:
        return
    from iejtui.cli.waiting import describe_ready, wait_ready
    from iejtui.config import load_config
    from iejtui.journal.init import init_journal
    from iejtui.client import BenchRequest, EngineRequest, ServiceClient
    from iejtui.client import ensure_service
    paths = ctx.obj.paths
    for p in init_journal(paths.root):
        click.echo(f"created {p}")
    if DEMO_PROFILE not in load_config(paths.config).engines:
        raise UserError(f"{paths.config} has no [engines.{DEMO_PROFILE}] profile; "
                        f"add the one from `iejtui init` in an empty folder")
    _ensure(None)
    ensure_service(paths)
    engines = {e["name"]: e for e in ServiceClient(paths).engines()}
    e = engines.get(DEMO_PROFILE)
    if e is None or e["status"] not in ENGINE_LIVE:
        e = ServiceClient(paths).start_engine(EngineRequest(name=DEMO_PROFILE, profile=DEMO_PROFILE,
                                                                  profiling=True))  # `iejtui profile demo` works
        click.echo(f"starting the demo engine (run {e['run_id']})")
    e = wait_ready(paths, DEMO_PROFILE)
    click.echo(describe_ready(e))
    if not no_bench:
        job = ServiceClient(paths).start_bench(BenchRequest(engine=DEMO_PROFILE, name="demo-bench", argv=DEMO_BENCH))
        click.echo(f"short benchmark running in the background (run {job['run_id']}): "
                   f"Poisson arrivals at 4 req/s, 240 requests, 128 in / 64 out tokens")
    if no_ui or not sys.stdout.isatty():
        click.echo("dashboard: run `iejtui` here; stop the demo with `iejtui engine stop demo`")
        return
    ctx.invoke(ctx.find_root().command)  # the dashboard: what `iejtui` alone opens

@demo.command("setup")
@click.option("--cache-dir", default=None, help="Default: $IEJTUI_CACHE or ~/.cache/iejtui.")
def demo_setup(cache_dir: str | None) -> None:
    """Build the engine environment and the tiny model (idempotent)."""
    env, model = _ensure(cache_dir)
    click.echo(f"IEJTUI_VLLM_PYTHON={env.python}")
    click.echo(f"IEJTUI_TINY_MODEL={model}")

@demo.command("serve", context_settings={"ignore_unknown_options": True})
@click.option("--port", type=click.IntRange(1, 65535), default=8011, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--cache-dir", default=None)
@click.argument("extra", nargs=-1, type=click.UNPROCESSED)
def demo_serve(port: int, host: str, cache_dir: str | None, extra: tuple) -> None:
    """Exec the real vLLM server on the tiny model (what the demo profile runs)."""
    from iejtui.demo.engine_env import demo_argv, demo_env
    env, model = _ensure(cache_dir)
    argv = demo_argv(env, model, port, host) + list(extra)
    os.execve(argv[0], argv, {**os.environ, **demo_env()})


COMMANDS = [demo]
