"""``python -m iejtui.demo setup`` — prepare the CPU demo engine and tiny model.

Progress goes to stderr; stdout carries only eval-able lines:

    eval "$(python -m iejtui.demo setup --export)"

``python -m iejtui.demo argv [--port N]`` prints the launch command (shell-quoted).
"""
from __future__ import annotations

import argparse
import shlex
import sys

from iejtui.demo.engine_env import demo_argv, demo_env, ensure_engine_env, ensure_tiny_model


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m iejtui.demo",
                                 description="The CPU demo engine (real vLLM on CPU).")
    ap.add_argument("--cache-dir", default=None,
                    help="default: $IEJTUI_CACHE or ${XDG_CACHE_HOME:-~/.cache}/iejtui")
    sub = ap.add_subparsers(dest="cmd", required=True)
    setup = sub.add_parser("setup", help="create the engine venv and the tiny model")
    setup.add_argument("--export", action="store_true", help="prefix lines with 'export '")
    show = sub.add_parser("argv", help="print the command line serving the tiny model")
    show.add_argument("--port", type=int, default=8000)
    args = ap.parse_args(argv)

    try:
        env = ensure_engine_env(args.cache_dir, log=_log)
        model = ensure_tiny_model(env, args.cache_dir, log=_log)
    except (RuntimeError, OSError) as exc:
        print(f"iejtui.demo: {exc}", file=sys.stderr)
        return 1
    if args.cmd == "setup":
        prefix = "export " if args.export else ""
        print(f"{prefix}IEJTUI_VLLM_PYTHON={shlex.quote(str(env.python))}")
        print(f"{prefix}IEJTUI_TINY_MODEL={shlex.quote(str(model))}")
    else:
        assigns = [f"{k}={shlex.quote(v)}" for k, v in demo_env().items()]
        print(" ".join(assigns + [shlex.quote(a) for a in demo_argv(env, model, args.port)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
