"""One duration formatter (``iejtui.fmt.duration``) prints what each of the three it
replaced printed: the CLI/journal's compact ``1m05s``, the TUI's spoken ``5 min`` and the
plot axis' ``-5m``."""
from __future__ import annotations

import pytest

from iejtui.fmt import duration
from iejtui.viewmodel.text import span


def _old_compact(seconds):  # iejtui/fmt.py duration() before issue 15
    if seconds is None:
        return "—"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"


def _old_span(seconds):  # iejtui/viewmodel/text.py span()
    s = int(round(seconds))
    if s < 120:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 172800:
        h, m = divmod(s // 60, 60)
        return f"{h} h" + (f" {m} min" if m else "")
    return f"{s // 86400} d" + (f" {s % 86400 // 3600} h" if s % 86400 >= 3600 else "")


def _old_ago(seconds):  # iejtui/ui/widgets/time_plot.py _ago()
    s = int(round(seconds))
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    return f"{s // 3600}h"


EDGES = [0, 0.4, 0.5, 1.5, 59, 59.5, 60, 61, 119, 119.6, 120, 3599, 3600, 3660, 5400, 7199, 7200, 86399,
         86400, 90000, 172799, 172800, 176400, 259200, 10 ** 7]


def test_each_style_prints_what_its_callers_printed():
    for seconds in EDGES + [x / 4 for x in range(0, 800_000, 149)]:
        assert duration(seconds) == _old_compact(seconds), seconds
        assert duration(seconds, "spoken") == span(seconds) == _old_span(seconds), seconds
        assert duration(seconds, "axis") == _old_ago(seconds), seconds


def test_the_styles_at_their_edges():
    assert [duration(x) for x in (None, 59, 65, 7380, 273600)] == ["—", "59s", "1m05s", "2h03m", "3d04h"]
    assert [duration(x, "spoken") for x in (119, 120, 5400, 172799, 172800)] == [
        "119 s", "2 min", "1 h 30 min", "47 h 59 min", "2 d"]
    assert [duration(x, "axis") for x in (119, 120, 7199, 7200)] == ["119s", "2m", "119m", "2h"]
    with pytest.raises(ValueError):
        duration(1, "long")
