"""``iejtui demo``: the embedded default — a real vLLM (CPU build) serving a tiny model; with
``--triton`` also a real Triton (``demo-triton``) serving the same model behind TensorRT-LLM's
``ensemble`` contract."""

from __future__ import annotations

import os
import sys

import click

from iejtui.cli.common import Group
from iejtui.errors import ServiceError, UserError
from iejtui.store.vocab import ENGINE_LIVE

DEMO_PROFILE = "demo"
DEMO_TRITON = "demo-triton"
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


def _ensure_triton(env, cache_dir: str | None):
    from iejtui.demo.triton_env import ensure_triton
    try:
        return ensure_triton(env, cache_dir, log=_log)
    except (RuntimeError, OSError) as exc:
        raise ServiceError(f"could not prepare Triton: {exc}") from None


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def triton_demo_argv(http_port: int, grpc_port: int, metrics_port: int) -> list[str]:
    """The ``demo-triton`` engine's command line (``iejtui demo serve-triton``; the flags are
    tritonserver's, so the adapter reads the URLs and listen addresses from it)."""
    return ["iejtui", "demo", "serve-triton", "--http-address", "127.0.0.1", "--http-port", str(http_port),
            "--grpc-address", "127.0.0.1", "--grpc-port", str(grpc_port),
            "--metrics-address", "127.0.0.1", "--metrics-port", str(metrics_port)]


@click.group(cls=Group, invoke_without_command=True)
@click.option("--no-ui", is_flag=True, help="Start the demo and return instead of opening the dashboard.")
@click.option("--no-bench", is_flag=True, help="Do not start the short demo benchmark.")
@click.option("--triton", is_flag=True,
              help=f"Also start a real Triton ({DEMO_TRITON}) serving the tiny model as TensorRT-LLM's 'ensemble'.")
@click.pass_context
def demo(ctx: click.Context, no_ui: bool, no_bench: bool, triton: bool) -> None:
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
    env, _ = _ensure(None)
    if triton:
        _ensure_triton(env, None)
    ensure_service(paths)
    engines = {e["name"]: e for e in ServiceClient(paths).engines()}
    e = engines.get(DEMO_PROFILE)
    if e is None or e["status"] not in ENGINE_LIVE:
        e = ServiceClient(paths).start_engine(EngineRequest(name=DEMO_PROFILE, profile=DEMO_PROFILE))
        click.echo(f"starting the demo engine (run {e['run_id']})")
    e = wait_ready(paths, DEMO_PROFILE)
    click.echo(describe_ready(e))
    if triton:
        t = engines.get(DEMO_TRITON)
        if t is None or t["status"] not in ENGINE_LIVE:
            t = ServiceClient(paths).start_engine(EngineRequest(
                name=DEMO_TRITON, kind="triton", argv=triton_demo_argv(_free_port(), _free_port(), _free_port())))
            click.echo(f"starting Triton (run {t['run_id']})")
        t = wait_ready(paths, DEMO_TRITON)
        click.echo(describe_ready(t) + "; POST /v2/models/ensemble/generate_stream")
    if not no_bench:
        job = ServiceClient(paths).start_bench(BenchRequest(engine=DEMO_PROFILE, name="demo-bench", argv=DEMO_BENCH))
        click.echo(f"short benchmark running in the background (run {job['run_id']}): "
                   f"Poisson arrivals at 4 req/s, 240 requests, 128 in / 64 out tokens")
    if no_ui or not sys.stdout.isatty():
        stop = "`iejtui engine stop demo`" + (f" and `iejtui engine stop {DEMO_TRITON}`" if triton else "")
        click.echo(f"dashboard: run `iejtui` here; stop the demo with {stop}")
        return
    ctx.invoke(ctx.find_root().command)  # the dashboard: what `iejtui` alone opens

@demo.command("setup")
@click.option("--cache-dir", default=None, help="Default: $IEJTUI_CACHE or ~/.cache/iejtui.")
def demo_setup(cache_dir: str | None) -> None:
    """Build the engine environment, the tiny model and Triton (idempotent)."""
    env, model = _ensure(cache_dir)
    triton = _ensure_triton(env, cache_dir)
    click.echo(f"IEJTUI_VLLM_PYTHON={env.python}")
    click.echo(f"IEJTUI_TINY_MODEL={model}")
    click.echo(f"IEJTUI_TRITONSERVER={triton.server}")

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


@demo.command("serve-triton")
@click.option("--http-port", type=click.IntRange(1, 65535), default=8021, show_default=True)
@click.option("--grpc-port", type=click.IntRange(1, 65535), default=8022, show_default=True)
@click.option("--metrics-port", type=click.IntRange(1, 65535), default=8023, show_default=True)
@click.option("--http-address", default="127.0.0.1", show_default=True)
@click.option("--grpc-address", default="127.0.0.1", show_default=True)
@click.option("--metrics-address", default="127.0.0.1", show_default=True)
@click.option("--model-repository", default=None,
              help="Default: a private copy of the tiny-Llama 'ensemble' model.")
@click.option("--cache-dir", default=None)
def demo_serve_triton(http_port: int, grpc_port: int, metrics_port: int, http_address: str,
                      grpc_address: str, metrics_address: str, model_repository: str | None,
                      cache_dir: str | None) -> None:
    """Exec the real tritonserver on the tiny-Llama 'ensemble' (what demo-triton runs)."""
    from iejtui.demo.triton_env import (ENSEMBLE_MODEL, TRITON_MODELS_DIR, build_model_repository,
                                        triton_argv, triton_env)
    env, model = _ensure(cache_dir)
    triton = _ensure_triton(env, cache_dir)
    if model_repository is None:
        src = TRITON_MODELS_DIR / ENSEMBLE_MODEL
        if not (src / "config.pbtxt").is_file():
            raise UserError(f"the 'ensemble' model is not at {src} (it ships with a source checkout of iejtui); "
                            "pass --model-repository")
        model_repository = str(build_model_repository(triton.root / "demo-repository", [src]))
    argv = triton_argv(triton, model_repository, http_port, grpc_port, metrics_port,
                       http_address, grpc_address, metrics_address)
    os.execve(argv[0], argv, {**os.environ, **triton_env(triton, env, model, base=dict(os.environ))})


COMMANDS = [demo]
