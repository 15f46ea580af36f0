"""One supervised engine's log handling: phases and facts from the real startup log,
secrets masked, copytruncate rotation while the engine keeps appending."""

from __future__ import annotations

import os
from pathlib import Path

from iejtui.service.engines import EngineHandle
from iejtui.service.procs import PidRecord

DATA = Path(__file__).resolve().parents[1] / "data"


def handle(tmp_path, secrets=()):
    log = tmp_path / "engine.log"
    log.touch()
    h = EngineHandle(1, "tiny", "vllm", "http://127.0.0.1:8000", owned=True, secrets=list(secrets))
    h.pid = PidRecord(1, "tiny", 1, 1, None, str(log), str(tmp_path / "1.exit"))
    return h, log


def test_real_startup_log_gives_phases_and_facts(tmp_path):
    h, log = handle(tmp_path)
    phases = []
    with open(log, "ab") as f:
        for line in (DATA / "vllm-0.32-startup.log").read_bytes().splitlines(keepends=True):
            f.write(line)
            f.flush()
            phases += [e.data["phase"] for e in h.read_log(1 << 30)]
    assert phases == ["loading weights", "kv cache", "warm-up"]
    assert h.facts["kv_cache_tokens"] == 1_048_576
    assert h.facts["version"].startswith("0.32")
    assert "stats" not in h.facts  # the periodic line is not a startup fact


def test_partial_lines_wait_for_their_end(tmp_path):
    h, log = handle(tmp_path)
    with open(log, "ab") as f:
        f.write(b"INFO first line\nINFO sec")
    h.read_log(1 << 30)
    assert list(h.log_lines) == ["INFO first line"]
    with open(log, "ab") as f:
        f.write(b"ond line\n")
    h.read_log(1 << 30)
    assert list(h.log_lines)[-1] == "INFO second line"


def test_secrets_are_masked_in_the_tail(tmp_path):
    h, log = handle(tmp_path, secrets=["sk-live-123456"])
    log.write_bytes(b"INFO args: api_key='sk-live-123456' ok\n")
    h.read_log(1 << 30)
    assert "sk-live-123456" not in h.log_tail() and "ok" in h.log_tail()


def test_rotation_keeps_reading_what_the_engine_appends(tmp_path):
    h, log = handle(tmp_path)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND)  # how the engine holds its log
    for i in range(200):
        os.write(fd, f"INFO line {i:04d} {'x' * 40}\n".encode())
    h.read_log(max_bytes=4096)
    assert (tmp_path / "engine.log.1").stat().st_size > 4096 and log.stat().st_size == 0
    os.write(fd, b"INFO after rotation\n")
    os.close(fd)
    h.read_log(max_bytes=4096)
    assert list(h.log_lines)[-1] == "INFO after rotation"
    assert log.read_bytes() == b"INFO after rotation\n"  # appended at the new end, no hole
