"""Query-time thinning against the full read: same end samples, one point per bucket, the
right reduction per bucket, across sealed chunks and unsealed ticks."""
from __future__ import annotations

import math

import pytest

from collectors.records import Frame, Sample
from iejtui.store import Reader
from iejtui.store.writer import Writer
from iejtui.viewmodel.thin import ThinGetter, read_thinned

T0 = 1_780_000_000.0
N = 1000  # ticks at 1 Hz; chunks sealed every 120 s, the newest ticks left unsealed


@pytest.fixture(scope="module")
def journal(tmp_path_factory):
    path = tmp_path_factory.mktemp("thin") / "journal.db"
    w = Writer(path, seal_span_s=120)
    rid = w.create_run(kind="engine", name="x", status="ready", started_at=T0)
    for i in range(N):
        t = T0 + i
        samples = [Sample("c_total", float(i * 3)),            # integer counter
                   Sample("g", (i % 17) / 7.0),                # scaled gauge
                   Sample("mask", float(1 << (i % 3))),        # bitmask
                   Sample("const", 42.0)]
        if i % 5:  # a series missing at some ticks (presence bitmap)
            samples.append(Sample("sparse", float(i)))
        w.add_frames(rid, [Frame("engine", t, samples)])
        if i % 10 == 9:
            w.flush()
    w.flush()
    w.close()
    reader = Reader(path)
    yield reader, rid
    reader.close()


def _full(reader, rid, name, t0, t1):
    (sd,) = reader.series(rid, name, None, t0, t1)
    return sd.ts, sd.values


@pytest.mark.parametrize("points", [1, 7, 40, 500])
def test_last_per_bucket_matches_the_full_read(journal, points):
    reader, rid = journal
    t0, t1 = T0 + 13.5, T0 + N - 3.2
    width = (t1 - t0) / points
    got = dict((name, s) for name, s in read_thinned(reader, rid, ["c_total", "sparse", "const"], t0, t1, points))
    for name in ("c_total", "sparse", "const"):
        ts, vs = _full(reader, rid, name, t0, t1)
        labels, tts, tvs = got[name]
        assert tts[0] == ts[0] and tvs[0] == vs[0]  # the first sample >= t0, exactly
        assert tts[-1] == ts[-1] and tvs[-1] == vs[-1]  # the last sample <= t1, exactly
        assert len(tts) <= points + 1
        full = dict(zip(ts, vs))
        for t, v in zip(tts, tvs):
            assert full[t] == v
        # each point is the last sample of its bucket
        for t in tts[1:]:
            k = min(int((t - t0) / width), points - 1)
            later = [x for x in ts if x > t and min(int((x - t0) / width), points - 1) == k]
            assert not later, (name, t)


def test_mean_max_or_reductions(journal):
    reader, rid = journal
    t0, t1 = T0, T0 + N - 1
    points = 10
    found = dict(read_thinned(reader, rid, ["g", "mask"], t0, t1, points, how={"g": "mean", "mask": "or"}))
    mx = dict(read_thinned(reader, rid, ["g"], t0, t1, points, how={"g": "max"}))
    ts, vs = _full(reader, rid, "g", t0, t1)
    width = (t1 - t0) / points
    buckets: dict[int, list[float]] = {}
    for t, v in zip(ts[1:], vs[1:]):  # the first sample is a point of its own
        buckets.setdefault(min(int((t - t0) / width), points - 1), []).append(v)
    _, mts, mvs = found["g"]
    assert [round(v, 6) for v in mvs[1:]] == [round(sum(b) / len(b), 6) for _, b in sorted(buckets.items())]
    assert mx["g"][2][1:] == [max(b) for _, b in sorted(buckets.items())]
    _, _, ors = found["mask"]
    assert all(v == 7.0 for v in ors[1:])


def test_thin_getter_serves_the_derive_contract(journal):
    reader, rid = journal
    get = ThinGetter(read_thinned(reader, rid, ["c_total"], T0, T0 + N, 1))
    ((labels, ts, vs),) = get("c_total", None)
    assert labels == {} and ts == [T0, T0 + N - 1] and vs == [0.0, 3.0 * (N - 1)]
    assert get("missing") == [] and get.newest() == T0 + N - 1
    assert math.isclose((vs[-1] - vs[0]) / (ts[-1] - ts[0]), 3.0)
