"""Issue #14 items 2 and 12 end to end, with the real CPU vLLM engine launched through the
service: secrets in every form that can reach a run (argv flags, a JSON flag value with URL
userinfo, env vars by name and by shape only, a benchmark's Authorization header, an
attached engine's URL with userinfo and ``?token=``) appear nowhere iejtui stores or shows
them: journal.db (+wal), LOG.md, metrics.json, code/*.sh, an export, ``runs show --json``,
``engine list --json`` and the metrics endpoint. The replay script names the variables to
export instead of carrying ``***``; the endpoint shows the model path's last component only.

One engine start (vLLM's ``--api-key`` guards /v1 only: /health and /metrics are scraped
without it; the benchmark authenticates with the header it was given).
"""

from __future__ import annotations

import json
import re
import secrets as rnd
import urllib.request

import pytest
from helpers import add_profile, cli, cli_json, engine_profile, free_port, wait_for

pytestmark = pytest.mark.integration


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def test_no_raw_secret_anywhere_with_the_real_engine(journal, demo_engine):
    _env, model_dir = demo_engine
    tag = rnd.token_hex(6)
    api_key = f"sk-e2e{tag}ApiKey0123"               # shape and label (--api-key)
    hf_flag = f"hf_{tag}FlagTokenAbCdEf12345"         # --hf-token, shape
    origin_pw = f"originpw{tag}"                      # URL userinfo inside a JSON list flag value
    env = {
        "E2E_SERVICE_PASSWORD": f"svcpw-{tag}",                              # *PASSWORD*
        "GITHUB_PAT": f"patvalue-{tag}",                                     # *_PAT
        "DATABASE_URL": f"postgres://db:dbpw{tag}@db.internal/app",          # DATABASE_URL
        "HF_TOKEN": f"hf_{tag}EnvTokenAbCdEfGh123",                          # *_TOKEN*
        "E2E_SIGNING_KEYS": f"keys-{tag}",                                   # *_KEYS
        "RUN_NOTES": "ghp_" + (tag * 6)[:36],                                # unlabelled shape
        "AWS_ACCESS_KEY_ID": "AKIA" + tag.upper()[:12] + "QXZW",             # unlabelled shape
        "SLACK_HOOK_X": f"xoxb-{tag}-chatTokenValue",                        # unlabelled shape
        "UPSTREAM_MIRROR": f"https://mirror:mirpw{tag}@mirror.example/simple",  # userinfo, plain name
    }
    attach_pw, attach_tok = f"attachpw{tag}", f"attachtok{tag}"
    raw = [api_key, hf_flag, origin_pw, attach_pw, attach_tok, *env.values()]
    raw += [v.split(":")[2].split("@")[0] for v in (env["DATABASE_URL"], env["UPSTREAM_MIRROR"])]

    port, mport = free_port(), free_port()
    cfg = journal / "iejtui.toml"
    cfg.write_text(cfg.read_text().replace("[service]\n", f'[service]\nmetrics_listen = "{mport}"\n', 1))
    extra = ["--", "--api-key", api_key, f"--hf-token={hf_flag}",  # `--`: demo serve passes the rest to vLLM
             "--allowed-origins", json.dumps([f"https://alice:{origin_pw}@dash.example"]),
             "--served-model-name", "/home/alice/models/llama-8b"]
    add_profile(journal, engine_profile("sec", port, extra=extra, env=env))
    try:
        p = cli(journal, "engine", "start", "sec", "--wait", timeout=600)
        assert p.returncode == 0, p.stdout + p.stderr
        url = f"http://watcher:{attach_pw}@127.0.0.1:{port}?token={attach_tok}"
        p = cli(journal, "engine", "attach", "peek", url)
        assert p.returncode == 0, p.stderr
        p = cli(journal, "bench", "--engine", "sec", "--name", "secbench",
                "--header", f"Authorization=Bearer {api_key}", "--tokenizer", str(model_dir),
                "--dataset-name", "random", "--random-input-len", "16", "--random-output-len", "8",
                "--num-prompts", "4", "--ignore-eos", "--seed", "1", timeout=300)
        assert p.returncode == 0, p.stdout + p.stderr
        engines = {e["name"]: e for e in cli_json(journal, "engine", "list")}
        eid, aid = engines["sec"]["run_id"], engines["peek"]["run_id"]
        bench = next(r for r in cli_json(journal, "runs") if r["name"] == "secbench")
        bid = bench["id"]
        assert bench["status"] == "stopped", bench  # 4 requests authenticated with the header
        endpoint = wait_for(lambda: (t := _get(f"http://127.0.0.1:{mport}/metrics")) and "model_name=" in t and t,
                            60, 0.5, "engine samples on /metrics")
        shows = [cli(journal, "runs", "show", str(r), "--json").stdout for r in (eid, aid, bid)]
        listing = cli(journal, "engine", "list", "--json").stdout
        p = cli(journal, "day", "new", "secrets", "--run", str(eid), "--run", str(bid), "--run", str(aid))
        assert p.returncode == 0, p.stderr
        day = next((journal / "days").glob("day-*-secrets"))
        number = int(day.name.split("-")[1])
        out = journal / "export.md"
        p = cli(journal, "export", "--day", str(number), "-o", str(out))
        assert p.returncode == 0, p.stderr
        export_runs = cli(journal, "export", "--run", str(eid), "--run", str(bid), "--run", str(aid)).stdout
    finally:
        cli(journal, "engine", "stop", "peek")
        cli(journal, "engine", "stop", "sec", timeout=120)

    scripts = sorted((day / "code").glob("*.sh"))
    places = {p.relative_to(journal).as_posix(): p.read_bytes()
              for p in [*journal.glob("journal.db*"), day / "LOG.md", day / "metrics.json", out, *scripts]}
    places.update({"endpoint": endpoint.encode(), "runs show": "".join(shows).encode(),
                   "engine list": listing.encode(), "export --run": export_runs.encode()})
    assert any(k.startswith("journal.db") for k in places) and len(scripts) >= 2
    assert f"attachpw{tag}".encode() not in b"".join(places.values())
    leaks = [(s, where) for s in raw for where, data in places.items() if s.encode() in data]
    assert leaks == []
    # what was masked is still recognisable: user and host of the attach URL, header name
    show_attach = json.loads(shows[1])
    assert show_attach["url"] == f"http://watcher:***@127.0.0.1:{port}?token=***"
    assert "Authorization=Bearer ***" in json.loads(shows[2])["argv"]

    # the engine's replay script reads every secret from a variable it names, never ***
    engine_sh = next(s for s in scripts if s.name.startswith(f"run-{eid}-")).read_text()
    body = "\n".join(ln for ln in engine_sh.splitlines() if not ln.lstrip().startswith("#"))
    assert "***" not in body
    named = set(re.findall(r"\$\{(\w+):\?", engine_sh))
    assert {"IEJTUI_API_KEY", "IEJTUI_HF_TOKEN", "IEJTUI_ALICE_PASSWORD", "E2E_SERVICE_PASSWORD", "GITHUB_PAT",
            "DATABASE_URL", "HF_TOKEN", "E2E_SIGNING_KEYS"} <= named, named
    # a value that was all secret (by shape) is read from the variable of the same name;
    # a secret inside a value (URL userinfo) from a variable named after both
    assert {"RUN_NOTES", "AWS_ACCESS_KEY_ID", "SLACK_HOOK_X", "IEJTUI_UPSTREAM_MIRROR_MIRROR_PASSWORD"} <= named, named
    bench_sh = next(s for s in scripts if s.name.startswith(f"run-{bid}-")).read_text()
    assert "${IEJTUI_AUTHORIZATION:?" in bench_sh and "***" not in bench_sh.split("set -euo pipefail")[1]

    # item 12: the endpoint shows the model path's last component only
    assert "/home/alice" not in endpoint and 'model_name="llama-8b"' in endpoint


def test_attach_url_credentials_live_in_memory_only(journal):
    """The attach URL's password and ?token= are never written; a service killed and started
    again cannot watch with the masked URL, so it ends that run and says to attach again."""
    import os
    import signal

    from iejtui.store import Reader
    port = free_port()
    url = f"http://watcher:memonlypw1@127.0.0.1:{port}/?token=memonlytok2"
    p = cli(journal, "engine", "attach", "peek", url)
    assert p.returncode == 0, p.stderr
    assert "memonlypw1" not in p.stdout + p.stderr
    (e,) = [e for e in cli_json(journal, "engine", "list") if e["name"] == "peek"]
    assert e["url"] == f"http://watcher:***@127.0.0.1:{port}/?token=***"
    os.kill(int((journal / ".iejtui" / "service.pid").read_text()), signal.SIGKILL)
    wait_for(lambda: cli(journal, "service", "status").returncode == 3, 30, what="the service to be gone")
    assert cli(journal, "service", "start").returncode == 0
    reader = Reader(journal / "journal.db")
    run = wait_for(lambda: (r := reader.run(e["run_id"]))["status"] != "starting" and r, 30, what="the run ended")
    assert run["status"] == "interrupted" and "attach it again" in run["reason"]
    assert all(e["name"] != "peek" for e in cli_json(journal, "engine", "list"))
    raw = b"".join(p.read_bytes() for p in journal.glob("journal.db*"))
    assert b"memonlypw1" not in raw and b"memonlytok2" not in raw
