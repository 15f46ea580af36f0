"""A profiled window as text: the figures, the top-operator / top-kernel table with a bar per
row (pure; ``runs show``, ``iejtui bench``, ``iejtui profile``, day logs and exports use it).

The bar is the row's share of the window (``█`` per 1/``BAR`` of it, ``▏`` for a sliver), so
bars of different rows compare directly and never pass the column.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BAR", "bar", "profile_lines", "profile_markdown", "profile_text", "steady_line", "steady_overlap"]

BAR = 20


def bar(share: float, width: int = BAR) -> str:
    share = min(max(float(share or 0.0), 0.0), 1.0)
    n = int(round(share * width))
    return "█" * n if n else ("▏" if share > 0 else "")


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _ms(us: float | None) -> str:
    return "—" if us is None else f"{us / 1000:.1f} ms"


def _head(info: dict[str, Any]) -> list[str]:
    s = info.get("summary") or {}
    out = [f"profile ({info.get('profiler') or 'torch'}): {len(info.get('files') or [])} file(s), "
           f"{(info.get('bytes') or 0) / 1e6:.1f} MB" + (f" in {info['dir']}" if info.get("dir") else "")
           + (f"; stopped: {info['stop_reason']}" if info.get("stop_reason") else "")]
    if info.get("error"):
        out.append(f"profile error: {info['error']}")
    if s:
        gpu = s.get("gpu_idle_share")
        out.append(f"window {_ms(s.get('window_us'))}; CPU busy {_ms(s.get('cpu_us'))} "
                   f"({_pct(s.get('cpu_busy_share'))} of its threads' time); "
                   + (f"GPU busy {_ms(s.get('gpu_us'))}, GPU idle between kernels {_pct(gpu)}"
                      if gpu is not None else "no GPU activity in the trace"))
    return out


def _rows(rows: list[dict[str, Any]], key: str, n: int) -> list[tuple[str, str, str, str]]:
    return [(r["name"][:60], _ms(r.get(key)), _pct(r.get("share")), bar(r.get("share", 0.0)))
            for r in rows[:n]]


def profile_lines(info: dict[str, Any], n: int = 10) -> list[str]:
    """The profile as plain lines (a terminal, a log)."""
    out = _head(info)
    s = info.get("summary") or {}
    for title, rows, key in (("top operators by self time", s.get("top_ops") or [], "self_us"),
                             ("top GPU kernels", s.get("top_kernels") or [], "time_us")):
        if not rows:
            continue
        out.append(f"{title} (share of the window):")
        table = _rows(rows, key, n)
        w = max(len(r[0]) for r in table)
        out += [f"  {name:<{w}}  {t:>11}  {p:>6}  {b}" for name, t, p, b in table]
    return out


def profile_text(info: dict[str, Any], n: int = 10) -> str:
    return "\n".join(profile_lines(info, n))


def profile_markdown(info: dict[str, Any], n: int = 10) -> str:
    """The profile as markdown (day logs, exports): the figures, then a table with a bar column."""
    out = [f"- {line}" for line in _head(info)]
    s = info.get("summary") or {}
    for title, rows, key in (("Top operators by self time", s.get("top_ops") or [], "self_us"),
                             ("Top GPU kernels", s.get("top_kernels") or [], "time_us")):
        if not rows:
            continue
        out += ["", f"{title}:", "", "| name | time | share | |", "|---|---:|---:|---|"]
        out += [f"| `{name.replace('|', '/').replace('`', chr(39))}` | {t} | {p} | {b} |"
                for name, t, p, b in _rows(rows, key, n)]
    return "\n".join(out)


def steady_overlap(info: dict[str, Any], steady_window: list[float] | tuple[float, float] | None) -> float | None:
    """The share of the profiled window inside the bench's steady window (the steady-state
    rule's, ``iejtui.derive.steady``, judged after the run); None when either is missing."""
    s = info.get("summary") or {}
    p0, p1 = s.get("start_unix"), s.get("end_unix")
    if p0 is None or p1 is None or not steady_window or p1 <= p0:
        return None
    w0, w1 = steady_window
    return max(0.0, min(p1, w1) - max(p0, w0)) / (p1 - p0)


def steady_line(info: dict[str, Any], steady: dict[str, Any] | None) -> str | None:
    """One line: how much of the profile lies in the steady window (warm-up, drain excluded)."""
    share = steady_overlap(info, (steady or {}).get("window"))
    if share is None:
        return None
    return f"profile window: {100 * share:.0f} % inside the steady window (the rest is warm-up or drain)"
