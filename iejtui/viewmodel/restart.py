"""What "restart this engine" asks the service for (pure; the Engines screen reads the
profiles and the run's row on a worker and acts on the answer).

Decisions, in order:

- an engine named like a profile of iejtui.toml restarts from that profile (the profile
  may have changed since: the restart takes the new one);
- an attached engine (not owned) is attached again at its URL;
- an ad-hoc engine starts again with its stored command line, unless the store masked a
  secret in it (``iejtui.redact.MASK``): the stored argv cannot start it, so the user is
  told to start it from a profile instead; an ad-hoc engine with no stored argv likewise.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from iejtui.redact import MASK


@dataclass(frozen=True)
class Restart:
    """``body`` for POST /v1/engines, or ``refusal`` (a warning line) when it cannot restart."""

    body: dict[str, Any] | None = None
    refusal: str | None = None


def restart_request(engine: Mapping[str, Any], profiles: Collection[str], run: Mapping[str, Any] | None) -> Restart:
    """``engine``: the service's engine row; ``profiles``: the profile names of iejtui.toml;
    ``run``: the engine's run row in journal.db (None when it cannot be read)."""
    name = engine["name"]
    if name in profiles:
        return Restart({"name": name, "profile": name})
    if not engine.get("owned", True):
        return Restart({"name": name, "url": engine.get("url"), "kind": engine.get("kind"), "attach": True})
    argv = list((run or {}).get("argv") or [])
    if not argv or any(MASK in a for a in argv):
        return Restart(refusal=f"{name} was started ad hoc with secrets in its command line; start it again "
                               "from a profile (s)")
    body: dict[str, Any] = {"name": name, "kind": engine.get("kind") or "vllm", "argv": argv}
    if engine.get("url"):
        body["url"] = engine["url"]
    return Restart(body)
