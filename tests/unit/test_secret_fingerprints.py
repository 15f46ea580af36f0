"""Masking secrets by fingerprint (secrets with ``:`` and ``=``), the wrapper's output
splitting, and an engine handle that knows only the fingerprints (a re-adopted engine)."""

from __future__ import annotations

from iejtui.redact import make_fingerprints, redact_by_fingerprints
from iejtui.service.engines import EngineHandle
from iejtui.service.procs import PidRecord
from iejtui.service.runner import mask_piece, split_pieces

COLON = "pa:ss=w0rd:x=y"
KEY = "sk-abc123def456"


def test_secrets_containing_colon_and_equals_are_masked():
    rec = make_fingerprints([COLON, KEY])
    assert redact_by_fingerprints(f"SERVICE_PASSWORD={COLON}", rec) == "SERVICE_PASSWORD=***"
    assert redact_by_fingerprints(f"bare {COLON} end", rec) == "bare *** end"
    assert redact_by_fingerprints(f"user:{COLON}@db", rec) == "user:***@db"
    assert redact_by_fingerprints(f"{COLON}:{COLON}", rec) == "***:***"
    assert redact_by_fingerprints(f"GET /v1?key={KEY}&x=1", rec) == "GET /v1?key=***&x=1"


def test_text_without_the_secret_is_left_alone():
    rec = make_fingerprints([COLON])
    for text in ("pa:ss=w0rd", "ss=w0rd:x=y", "a=b c:d", f"pa:ss=w0rd:x=yz", ""):
        assert redact_by_fingerprints(text, rec) == text


def test_a_record_written_before_lengths_existed_still_masks():
    rec = make_fingerprints([COLON])
    del rec["lengths"]
    assert redact_by_fingerprints(f"pw {COLON}", rec) == "pw ***"


def test_a_very_long_word_costs_bounded_work_and_still_masks_whole_pieces():
    rec = make_fingerprints([KEY])
    word = "/".join(["seg"] * 500 + [KEY])
    assert redact_by_fingerprints(word, rec).endswith("/***")


def test_output_splits_on_newline_and_carriage_return_and_keeps_ends():
    pieces, rest = split_pieces(b"a\nprog 1%\rprog 2%\r\nhalf")
    assert pieces == [b"a\n", b"prog 1%\r", b"prog 2%\r\n"] and rest == b"half"
    pieces, rest = split_pieces(b"x\r")  # may be the first half of \r\n
    assert pieces == [] and rest == b"x\r"
    assert split_pieces(b"x\r", final=True) == ([b"x\r"], b"")
    big = b"y" * (70 * 1024)
    assert split_pieces(big) == ([big], b"")


def test_a_piece_is_masked_by_value_and_by_label():
    assert mask_piece(f"k {KEY} token=abcdefgh\r".encode(), [KEY]) == b"k *** token=***\r"


def test_handle_with_only_fingerprints_masks_raw_log_lines(tmp_path):
    """What a re-adopted engine has: no secret values, the run's fingerprint record."""
    log = tmp_path / "run.log"
    log.write_text(f"loading with {COLON}\nAuthorization: Bearer {KEY}\n")
    h = EngineHandle(1, "e", "vllm", None, owned=True, fingerprints=make_fingerprints([COLON, KEY]),
                     pid=PidRecord(1, "e", 1, 1, None, str(log), str(tmp_path / "x")))
    h.read_log(1 << 20)
    assert list(h.log_lines) == ["loading with ***", "Authorization: Bearer ***"]
    assert COLON not in h.log_tail() and KEY not in h.log_tail()


def test_pid_record_loads_records_of_other_versions(tmp_path):
    import json
    (tmp_path / "3.json").write_text(json.dumps({
        "run_id": 3, "name": "e", "pgid": 10, "pid": 11, "create_time": 1.0, "log_path": "l",
        "exit_path": "x", "engine_cmdline": ["old", "field"], "from_the_future": 1}))
    (rec,) = PidRecord.load_all(tmp_path)
    assert rec.run_id == 3 and rec.leader_create_time is None and rec.tree == []


def test_a_whole_secret_is_masked_before_any_shape_inside_it():
    """A shape pattern matching the head of a secret (``hf_…`` of ``hf_…:k=v``) must not
    leave its tail in the line: fingerprints run first."""
    secret = "hf_" + "a1" * 12 + ":k=v"
    h = EngineHandle(1, "e", "vllm", None, owned=True, fingerprints=make_fingerprints([secret]))
    assert h.mask(f"Bearer {secret} done") == "Bearer *** done"
    h2 = EngineHandle(1, "e", "vllm", None, owned=True, secrets=[secret])
    assert h2.mask(f"x{secret}y") == "x***y"
