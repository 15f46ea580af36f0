"""Typed records that collectors hand to the service's writer.

Collectors know nothing about SQLite or Textual: they produce these plain objects and
the service stores them (``iejtui.store.writer``). The same shapes come back out of the
store for the UI and the exporters, so live and replayed data go through one path.

Naming conventions for series names (``Sample.name``):

* engine metrics keep their exposition name (``vllm:generation_tokens_total``,
  ``vllm:time_to_first_token_seconds_bucket`` with an ``le`` label, ...);
* GPU metrics are ``gpu.<field>`` with a ``uuid`` label (see ``collectors.gpu``);
* benchmark figures are ``bench.<field>``.

Labels are a sorted tuple of ``(key, value)`` pairs so a series is hashable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Labels = tuple[tuple[str, str], ...]


def labels_of(mapping: dict[str, str] | None) -> Labels:
    """Canonical (sorted, hashable) form of a label mapping."""
    if not mapping:
        return ()
    return tuple(sorted((str(k), str(v)) for k, v in mapping.items()))


@dataclass(slots=True, frozen=True)
class Sample:
    """One value of one series."""

    name: str
    value: float
    labels: Labels = ()


@dataclass(slots=True)
class Frame:
    """Samples that share one timestamp and one source.

    ``source`` groups series that are always read together and sampled at the same
    instants (``engine`` for one scrape of an engine, ``gpu:<uuid>`` for one GPU tier,
    ``gpu-samples:<uuid>:power`` for the driver's own sample buffer...).
    ``ts`` is a Unix timestamp in seconds (float).
    """

    source: str
    ts: float
    samples: list[Sample] = field(default_factory=list)


@dataclass(slots=True)
class Event:
    """Something that happened to a run (started, ready, crashed, scrape error...)."""

    ts: float
    kind: str
    message: str
    level: str = "info"  # info | warning | error
    data: dict[str, Any] | None = None
