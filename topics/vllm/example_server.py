"""Launch a vLLM server as a supervisor should, wait for it, scrape it, stop it.

    python example_server.py -- vllm serve /models/m --port 8000

No iejtui needed: the standard library and prometheus_client only. What it shows:
an argv list (never a shell string), its own process group, no stale
PROMETHEUS_MULTIPROC_DIR, readiness by polling /health (refused while loading is normal),
the V0/V1 alias table, KV capacity from cache_config_info, SIGTERM then SIGKILL of the group.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

ALIASES = {  # first present wins
    "kv_usage": ["vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"],
    "running": ["vllm:num_requests_running"],
    "waiting": ["vllm:num_requests_waiting"],
    "generated": ["vllm:generation_tokens_total", "vllm:generation_tokens"],
}


def get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""
    except OSError:
        return 0, ""  # refused while loading: normal


def scrape(base: str) -> dict[str, float]:
    _, text = get(base + "/metrics")
    values: dict[str, float] = {}
    capacity = None
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            values[s.name] = values.get(s.name, 0.0) + s.value  # sum data-parallel engines
            if s.name == "vllm:cache_config_info":
                blocks, size = s.labels.get("num_gpu_blocks"), s.labels.get("block_size")
                if blocks and size and blocks != "None":
                    capacity = int(blocks) * int(size)
    out = {k: next((values[n] for n in names if n in values), float("nan")) for k, names in ALIASES.items()}
    out["kv_capacity_tokens"] = capacity or float("nan")
    return out


def main(argv: list[str]) -> int:
    cmd = argv[argv.index("--") + 1:] if "--" in argv else argv
    if not cmd:
        print(__doc__)
        return 2
    if "--disable-log-stats" in cmd:
        print("warning: --disable-log-stats removes every vllm:* metric", file=sys.stderr)
    port = cmd[cmd.index("--port") + 1] if "--port" in cmd else "8000"
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)  # its own process group
    try:
        t0 = time.monotonic()
        while get(base + "/health")[0] != 200:
            if proc.poll() is not None:
                print(f"engine exited with {proc.returncode} before it was ready", file=sys.stderr)
                return 1
            time.sleep(0.5)
        print(f"ready after {time.monotonic() - t0:.1f} s")
        for _ in range(5):
            print(scrape(base))
            time.sleep(1)
    finally:
        for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 5)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
