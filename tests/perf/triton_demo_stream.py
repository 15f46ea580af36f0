"""The demo Triton's own figures: time to ready and the tiny-Llama ``ensemble``'s stream.

Starts ``iejtui demo serve-triton`` (real tritonserver 2.51, the Python-backend stub with
the CPU engine venv's torch) on free loopback ports, waits for ``/v2/health/ready``, then
posts ``--requests`` streams of ``--tokens`` tokens (``min_length`` = ``max_tokens``: no
early end) one after another to ``/v2/models/ensemble/generate_stream`` and prints, as one
JSON line: seconds to ready, the median time to the first response and the p50/p99 gap
between responses (one response per token), all seen from the client on loopback.

    python tests/perf/triton_demo_stream.py [--tokens 64] [--requests 5]
"""
import argparse, asyncio, json, os, signal, socket, statistics, subprocess, sys, time, urllib.request
import aiohttp

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--tokens", type=int, default=64)
ap.add_argument("--requests", type=int, default=5)
args = ap.parse_args()


def port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

http, grpc, met = port(), port(), port()
t0 = time.monotonic()
proc = subprocess.Popen([sys.executable, "-m", "iejtui.cli", "demo", "serve-triton", "--http-port", str(http),
                         "--grpc-port", str(grpc), "--metrics-port", str(met)], stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL, start_new_session=True)
while True:
    try:
        if urllib.request.urlopen(f"http://127.0.0.1:{http}/v2/health/ready", timeout=1).status == 200:
            break
    except Exception:
        time.sleep(0.2)
ready = time.monotonic() - t0

async def one(s, n):
    body = {"text_input": "the quick brown fox", "max_tokens": n, "min_length": n, "stream": True}
    t = time.perf_counter(); stamps = []
    async with s.post(f"http://127.0.0.1:{http}/v2/models/ensemble/generate_stream", json=body) as r:
        async for raw in r.content:
            if raw.startswith(b"data:"):
                stamps.append(time.perf_counter())
    return stamps[0] - t, [b - a for a, b in zip(stamps, stamps[1:])], len(stamps)

async def main():
    async with aiohttp.ClientSession() as s:
        await one(s, 4)
        firsts, gaps = [], []
        for _ in range(args.requests):
            f, g, n = await one(s, args.tokens)
            assert n == args.tokens, n
            firsts.append(f); gaps += g
        return firsts, gaps

firsts, gaps = asyncio.run(main())
os.killpg(proc.pid, signal.SIGTERM); proc.wait(30)
q = statistics.quantiles(gaps, n=100)
print(json.dumps({"ready_s": round(ready, 1), "first_response_ms_median": round(statistics.median(firsts) * 1e3, 1),
                  "gap_ms_p50": round(q[49] * 1e3, 2), "gap_ms_p99": round(q[98] * 1e3, 2),
                  "tokens": args.tokens, "requests": args.requests}))
