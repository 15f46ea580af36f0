"""A screen that leaves closes its feed while its last read may still run on a worker:
the connection must outlive that read (closing SQLite under a running statement crashed
the process: a segfault in the fast screen-switch Pilot test), and later reads are refused."""

import threading

import pytest

from iejtui.paths import JournalPaths
from iejtui.store.writer import Writer
from iejtui.ui.feed import Feed, FeedClosed, reading


class SlowFeed(Feed):
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.inside, self.go = threading.Event(), threading.Event()

    @reading
    def slow_count(self) -> int:
        reader = self.reader()
        self.inside.set()
        self.go.wait(10)
        return len(reader.runs())  # uses the connection after close() was called


def test_close_during_a_read_waits_for_it(tmp_path):
    w = Writer(tmp_path / "journal.db")
    w.create_run(kind="engine", name="a", status="ready")
    w.close()
    feed = SlowFeed(JournalPaths(tmp_path), lambda: 0.0)
    out = []
    t = threading.Thread(target=lambda: out.append(feed.slow_count()))
    t.start()
    assert feed.inside.wait(10)
    feed.close()  # the UI thread: the screen left
    assert feed._reader is not None  # still open: the read is running
    feed.go.set()
    t.join(10)
    assert out == [1] and feed._reader is None  # the read finished, then the connection closed
    with pytest.raises(FeedClosed):
        feed.runs({})


def test_close_when_idle_closes_at_once(tmp_path):
    Writer(tmp_path / "journal.db").close()
    feed = Feed(JournalPaths(tmp_path), lambda: 0.0)
    assert feed.runs({}) == []
    assert feed._reader is not None
    feed.close()
    assert feed._reader is None
