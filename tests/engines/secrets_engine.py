"""The "secrets engine": the real CPU vLLM, wrapped by a process that leaks its secrets.

    python tests/engines/secrets_engine.py --port P [--api-key KEY] [--child-file F] [-- EXTRA]

It starts ``iejtui demo serve --port P`` (the real vLLM on the tiny model) as its child,
forks one ``setsid()`` child that sleeps forever (a Ray-style worker that leaves the
engine's process group; its pid goes to ``--child-file``) and, every 0.5 s until stopped,
prints every secret it was given (``--api-key`` and the environment's secret-named
variables: HF_TOKEN, *_API_KEY, *SECRET*...) in several forms: bare, ``api_key=...``,
``Authorization: Bearer ...``, ``HF_TOKEN=...``, a ``\\r``-ended progress line. On SIGTERM it
stops vLLM and exits 0, leaving the setsid child behind, as a careless engine would.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

_SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD")


def _secrets(args) -> dict[str, str]:
    found = {k: v for k, v in os.environ.items()
             if v and any(w in k.upper() for w in _SECRET_WORDS) and not k.startswith("SECRETS_ENGINE")}
    if args.api_key:
        found["--api-key"] = args.api_key
    return found


def _leak(n: int, secrets: dict[str, str]) -> None:
    for name, value in sorted(secrets.items()):
        print(f"tick {n}: {value}")
        print(f"tick {n}: config api_key={value} loaded")
        print(f"tick {n}: sending Authorization: Bearer {value}")
        print(f"tick {n}: {name}={value}")
        print(f"tick {n}: HF_TOKEN={value}")
        print(f"progress {n}% {value}", end="\r")
    print(f"tick {n} done", flush=True)


def _fork_setsid_child(child_file: str | None) -> int:
    pid = os.fork()
    if pid == 0:  # the worker: its own session, outlives the engine unless someone stops it
        os.setsid()
        os.execvp("sleep", ["sleep", "infinity"])
    if child_file:
        with open(child_file + ".tmp", "w") as f:
            f.write(str(pid))
        os.replace(child_file + ".tmp", child_file)
    return pid


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--api-key")
    ap.add_argument("--child-file")
    ap.add_argument("extra", nargs="*")
    args = ap.parse_args(argv)
    secrets = _secrets(args)
    _fork_setsid_child(args.child_file)
    vllm = subprocess.Popen([sys.executable, "-m", "iejtui.cli", "demo", "serve", "--port", str(args.port),
                             *args.extra])
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    n = 0
    while not stopping and vllm.poll() is None:
        _leak(n, secrets)
        n += 1
        time.sleep(0.5)
    if vllm.poll() is None:
        vllm.terminate()
    try:
        code = vllm.wait(30)
    except subprocess.TimeoutExpired:
        vllm.kill()
        code = vllm.wait()
    return 0 if stopping else (code or 1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
