"""The store: codec round trips, writer/reader paths, sealing, crash recovery, migrations."""

import math
import random
import sqlite3

import pytest

from collectors.records import Event, Frame, Sample, labels_of
from iejtui.errors import UserError
from iejtui.store import Reader, Writer, codec
from iejtui.store.schema import SCHEMA_VERSION


def test_codec_round_trip_mixed_columns():
    rng = random.Random(7)
    ts = [1_764_000_000.0 + i + rng.uniform(-0.004, 0.004) for i in range(200)]
    rows, c, s = [], 0.0, 0.0
    for i in range(200):
        c += rng.randint(0, 400)
        s += rng.uniform(0, 2)
        row = {1: c, 2: s, 3: 0.0, 4: rng.random(), 6: float("nan") if i == 5 else 1.5}
        if i % 3:
            row[5] = float(i)
        rows.append(row)
    tb, data = codec.encode_chunk(ts, rows)
    chunk = codec.decode_chunk(tb, data)
    assert [round(t, 3) for t in chunk.ts] == [round(t, 3) for t in ts]
    for sid in (1, 2, 3, 4, 5):
        idx, vals = chunk.columns[sid]
        expected = [(i, r[sid]) for i, r in enumerate(rows) if sid in r]
        assert idx == [i for i, _ in expected]
        for got, (_, want) in zip(vals, expected):
            assert abs(got - want) <= 1e-6
    idx, vals = chunk.columns[6]
    assert math.isnan(vals[5]) and vals[0] == 1.5
    # integral counters are exact
    assert chunk.columns[1][1] == [r[1] for r in rows]


def test_codec_decodes_only_wanted_columns():
    tb, data = codec.encode_chunk([1.0, 2.0], [{1: 1.0, 2: 2.0}, {1: 3.0, 2: 4.0}])
    assert set(codec.decode_chunk(tb, data, {2}).columns) == {2}


def test_codec_is_compact_for_counters():
    ts = [1000.0 + i for i in range(300)]
    rows = [{sid: float(i * (10 + sid)) for sid in range(100)} for i in range(300)]
    tb, data = codec.encode_chunk(ts, rows)
    # 30,000 values of steadily rising counters: well under one byte each
    assert len(tb) + len(data) < 30_000 / 4


def _frames(t, i):
    return [Frame("engine", t, [Sample("c_total", float(i * 10)),
                                Sample("g", 0.25 + i / 1000, labels_of({"engine": "0"})),
                                Sample("g", 0.5, labels_of({"engine": "1"}))])]


@pytest.fixture
def db(tmp_path):
    return tmp_path / "journal.db"


def test_write_read_window_across_sealed_and_recent(db):
    w = Writer(db, seal_span_s=10)
    rid = w.create_run(kind="engine", name="tiny", status="ready", argv=["vllm", "serve"], tags=["a"])
    for i in range(35):
        w.add_frames(rid, _frames(1000.0 + i, i))
        w.flush()
    r = Reader(db)
    (c,) = r.series(rid, "c_total", t0=1005, t1=1030)
    assert c.ts == [1000.0 + i for i in range(5, 31)]
    assert c.values == [float(i * 10) for i in range(5, 31)]
    g = r.series(rid, "g", {"engine": "0"})
    assert len(g) == 1 and len(g[0].ts) == 35
    assert len(r.series(rid, "g")) == 2
    assert r.sample_counts(rid) == {"engine": 35}
    assert r.time_range(rid) == (1000.0, 1034.0)
    assert r.run(rid)["tags"] == ["a"] and r.run(rid)["argv"] == ["vllm", "serve"]
    # some ticks are sealed, some still recent
    assert w.conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0] >= 2
    assert 0 < w.conn.execute("SELECT COUNT(*) FROM recent").fetchone()[0] < 35
    w.close()


def test_latest_and_events(db):
    w = Writer(db)
    rid = w.create_run(kind="engine", name="tiny", status="ready")
    for i in range(3):
        w.add_frames(rid, _frames(2000.0 + i, i))
    w.add_event(rid, Event(2000.5, "ready", "tiny: ready", data={"took_s": 1.5}))
    w.flush()
    r = Reader(db)
    ts, values = r.latest(rid, "engine")
    assert ts == 2002.0 and values[("c_total", "{}")] == 20.0
    (ev,) = r.events(rid)
    assert ev["kind"] == "ready" and ev["data"] == {"took_s": 1.5}
    w.close()
    ts2, values2 = Reader(db).latest(rid, "engine")  # now from a sealed chunk
    assert ts2 == ts and values2 == values


def test_unsealed_ticks_survive_a_crash_and_are_sealed_on_restart(db):
    w = Writer(db, seal_span_s=3600)
    rid = w.create_run(kind="engine", name="tiny", status="ready")
    for i in range(20):
        w.add_frames(rid, _frames(3000.0 + i, i))
        w.flush()
    # no close(): the process dies here; a new writer seals what it finds
    w2 = Writer(db)
    assert w2.conn.execute("SELECT COUNT(*) FROM recent").fetchone()[0] == 0
    (c,) = Reader(db).series(rid, "c_total")
    assert len(c.ts) == 20
    assert w2.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    w2.close()


def test_readers_are_read_only(db):
    Writer(db).close()
    r = Reader(db)
    with pytest.raises(sqlite3.OperationalError):
        r.conn.execute("INSERT INTO meta VALUES ('x', 'y')")


def test_newer_schema_is_refused_untouched(db):
    Writer(db).close()
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    with pytest.raises(UserError, match="newer than this iejtui"):
        Writer(db)
    with pytest.raises(UserError, match="newer than this iejtui"):
        Reader(db)
    assert db.read_bytes() == before


def test_missing_journal_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="iejtui init"):
        Reader(tmp_path / "nope" / "journal.db")


def test_requests_round_trip(db):
    w = Writer(db)
    rid = w.create_run(kind="bench", name="b", status="running")
    w.add_request(rid, {"idx": 0, "t_sent": 1.0, "ttft": 0.1, "ok": 1, "chunk_times": [0.1, 0.2, 0.35]})
    w.flush()
    (row,) = Reader(db).requests(rid)
    assert [round(x, 4) for x in row["chunk_times"]] == [0.1, 0.2, 0.35]
    w.close()
