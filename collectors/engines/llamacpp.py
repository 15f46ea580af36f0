"""llama.cpp ``llama-server`` (reference §3.3; read from the server sources of build 11434).

* ``/metrics`` exists only with ``--metrics`` (``build_argv`` adds it; without it the
  server answers 501 ``not_supported_error``). Series ``llamacpp:*``, no labels, values
  printed by a C++ stream (6 significant digits: ``1.23457e+06``). ``prompt_tokens_total``
  counts evaluated prompt tokens only (recent builds add ``prompt_tokens_cached_total``);
  ``tokens_predicted_total``/``_seconds_total`` grow when a request ends; the two
  ``*_tokens_seconds`` gauges average over the window since the previous scrape (each
  scrape resets them). The KV gauges ``kv_cache_usage_ratio``/``kv_cache_tokens`` were
  removed in 2025 (kept in the map for older builds).
* KV use therefore comes from ``/slots`` (on by default; ``--no-slots`` turns it off): each
  slot's ``n_ctx`` and ``n_prompt_tokens`` (the tokens its cache holds, generated ones
  included; an idle slot keeps its prompt cache). ``collect`` adds ``llamacpp_slots:*``
  series: per slot ``context_tokens{slot}``/``context_size{slot}``/``processing{slot}``, and
  ``context_used_tokens``, ``context_capacity_tokens`` and ``context_usage`` (0-1). With a
  unified KV pool (the default when ``-np`` is not given: 4 slots sharing one pool of
  ``n_ctx``) every slot reports the whole pool as its ``n_ctx``, so the capacity is one
  slot's ``n_ctx``; with ``-np N`` (and no ``--kv-unified``) the slots split the pool and
  the capacity is their sum. iejtui knows the layout of engines it launched (from argv);
  for attached ones it assumes the modern default (unified) unless the slots' ``n_ctx``
  differ. ``llamacpp_derived:prompt_tokens_total`` = evaluated + cached prompt tokens.
* The HTTP server answers while loading: ``/health`` is 503 ``{"error": {"message":
  "Loading model", "type": "unavailable_error", "code": 503}}``, then 200 ``{"status": "ok"}``.
* Log lines ``0.00.015.839 I srv    load_model: loading model '...'`` (older builds without
  the time and level); ``initializing, n_slots = N, n_ctx_slot = M, kv_unified = '...'``
  gives the KV pool size (the library's ``llama_kv_cache: size = ...`` line only shows at
  higher verbosity); ``listening on`` / ``server is listening on`` follows the load.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp

from collectors.engines.base import (KV_CACHE, LOADING, READY, WARMUP, EngineAdapter, LogFact,
                                     ReadyState, flag_value, has_flag)
from collectors.prometheus import ScrapeResult
from collectors.records import Event, Sample

_PREFIX_RE = re.compile(r"^\d+\.\d\d\.\d\d\d\.\d\d\d ([IWEDT]) ")
_LEVELS = {"I": "", "D": "", "T": "", "W": "WARNING: ", "E": "ERROR: "}
_LOG_RES = [
    (re.compile(r"loading model '([^']+)'"), "model", LOADING),
    (re.compile(r"llama_kv_cache(?:_unified)?: +size = +([\d.]+) MiB \( *(\d+) cells"), "kv_cache_tokens",
     KV_CACHE),
    (re.compile(r"llama_context: n_ctx += (\d+)"), "n_ctx", KV_CACHE),
    (re.compile(r"n_slots = (\d+), n_ctx_slot = (\d+)(?:, kv_unified = '(\w+)')?"), "n_slots", KV_CACHE),
    (re.compile(r"(?:^|: )model loaded"), "model_loaded", WARMUP),
    (re.compile(r"(?:server is )?listening on (\S+)"), "ready", READY),
    (re.compile(r"all slots are idle"), "ready", READY),
    (re.compile(r"build: (\d+) \((\w+)\)"), "version", None),
]


def unified_from_argv(argv: Sequence[str]) -> bool:
    """Whether a launch shares one KV pool among its slots (llama-server's rules)."""
    if has_flag(argv, "--kv-unified", "-kvu"):
        return True
    if has_flag(argv, "--no-kv-unified", "-no-kvu"):
        return False
    n = flag_value(argv, "-np", "--parallel")
    return n is None or n.strip() == "-1"  # auto: 4 slots, unified


def slot_samples(slots: list, unified: bool | None) -> list[Sample]:
    """``llamacpp_slots:*`` samples from a ``/slots`` answer."""
    out: list[Sample] = []
    used = 0.0
    sizes = []
    busy = 0
    for s in slots:
        if not isinstance(s, Mapping) or not isinstance(s.get("n_ctx"), (int, float)):
            continue
        lab = (("slot", str(s.get("id", len(sizes)))),)
        tokens = float(s.get("n_prompt_tokens") or 0)
        if "n_prompt_tokens" not in s and isinstance(s.get("n_past"), (int, float)):
            tokens = float(s["n_past"])  # builds before n_prompt_tokens
        processing = bool(s.get("is_processing", s.get("state", 0) != 0))
        out += [Sample("llamacpp_slots:context_tokens", tokens, lab),
                Sample("llamacpp_slots:context_size", float(s["n_ctx"]), lab),
                Sample("llamacpp_slots:processing", float(processing), lab)]
        used += tokens
        sizes.append(float(s["n_ctx"]))
        busy += processing
    if sizes:
        if unified is None:
            unified = len(set(sizes)) == 1 and len(sizes) > 1
        capacity = max(sizes) if unified else sum(sizes)
        out += [Sample("llamacpp_slots:context_used_tokens", used),
                Sample("llamacpp_slots:context_capacity_tokens", capacity),
                Sample("llamacpp_slots:context_usage", min(1.0, used / capacity) if capacity else 0.0),
                Sample("llamacpp_slots:slots", float(len(sizes))),
                Sample("llamacpp_slots:slots_processing", float(busy))]
    return out


class LlamaCppAdapter(EngineAdapter):
    kind = "llamacpp"
    version_path = "/props"
    version_key = "build_info"
    default_port = 8080
    health_path = "/health"
    metrics_path = "/metrics"
    slots_path = "/slots"
    tls_flags = ("--ssl-key-file", "--ssl-cert-file")

    def __init__(self) -> None:
        self._unified: dict[str, bool] = {}  # URL -> KV layout of engines launched here
        self._no_slots: dict[str, float] = {}  # URL -> when /slots said it is disabled

    def build_argv(self, argv: Sequence[str]) -> list[str]:
        argv = list(argv)
        if not has_flag(argv, "--metrics"):
            argv.append("--metrics")
        return argv

    def launch_warnings(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> list[str]:
        warnings = super().launch_warnings(argv, env)
        if has_flag(argv, "--no-slots"):
            warnings.append("--no-slots: /slots is off, so iejtui cannot see KV/context use "
                            "(llama-server no longer exports KV gauges)")
        return warnings

    def default_url(self, argv: Sequence[str]) -> str | None:
        url = super().default_url(argv)
        if url is not None:
            self._unified[url] = unified_from_argv(argv)
        return url

    def classify_health(self, status: int, body: bytes) -> ReadyState:
        if status == 503:
            try:
                msg = json.loads(body)["error"]["message"]
            except (ValueError, KeyError, TypeError):
                msg = "unavailable"
            return ReadyState("loading", f"HTTP 503: {msg}", status)
        return super().classify_health(status, body)

    async def _slots(self, scraper: Any, url: str) -> tuple[list | None, str | None, int | None]:
        try:
            session = await scraper.session()
            async with asyncio.timeout(scraper.timeout_s):
                async with session.get(url, allow_redirects=False,
                                       headers={"Accept": "application/json"}) as resp:
                    body = await resp.content.read(4 * 1024 * 1024)
                    if resp.status != 200:
                        return None, f"HTTP {resp.status}", resp.status
            data = json.loads(body)
            return (data, None, 200) if isinstance(data, list) else (None, "not a JSON list", 200)
        except TimeoutError:
            return None, "timeout", None
        except (aiohttp.ClientError, OSError, ValueError, RuntimeError) as e:
            return None, f"{type(e).__name__}: {e}", None

    async def collect(self, scraper: Any, base_url: str) -> ScrapeResult:
        base = base_url.rstrip("/")
        res = await scraper.scrape(base + (self.metrics_path or "/metrics"), keep=self.keep_family,
                                   source="engine")
        if res.frame is None:
            return res
        samples = res.frame.samples
        values = {s.name: s.value for s in samples if not s.labels}
        if "llamacpp:prompt_tokens_cached_total" in values:
            samples.append(Sample("llamacpp_derived:prompt_tokens_total",
                                  values.get("llamacpp:prompt_tokens_total", 0.0)
                                  + values["llamacpp:prompt_tokens_cached_total"]))
        if time.monotonic() - self._no_slots.get(base, -1e9) < 300:
            return res
        slots, err, status = await self._slots(scraper, base + self.slots_path)
        if slots is not None:
            samples += slot_samples(slots, self._unified.get(base))
        elif status == 501:  # --no-slots: say it once, ask again in five minutes
            self._no_slots[base] = time.monotonic()
            res.events.append(Event(time.time(), "scrape_warning", f"{base}/slots is disabled "
                                    "(--no-slots): no KV/context use for this engine", "warning",
                                    {"url": base + self.slots_path, "reason": "no_slots"}))
        else:
            res.events.append(Event(time.time(), "scrape_warning", f"{base}/slots: {err}", "warning",
                                    {"url": base + self.slots_path, "reason": "slots"}))
        return res

    def parse_log_line(self, line: str) -> LogFact | None:
        stripped = _PREFIX_RE.sub(lambda m: _LEVELS.get(m.group(1), ""), line.lstrip(), count=1)
        return super().parse_log_line(stripped)

    def parse_message(self, level: str | None, message: str) -> LogFact | None:
        for rx, kind, phase in _LOG_RES:
            if hit := rx.search(message):
                if kind == "kv_cache_tokens":
                    return LogFact(kind, int(hit.group(2)), phase, data={"mib": float(hit.group(1))})
                if kind == "n_slots":  # the KV pool: one shared, or one per slot
                    n, per, unified = int(hit.group(1)), int(hit.group(2)), hit.group(3) == "true"
                    return LogFact("kv_cache_tokens", per if unified else n * per, phase, data={
                        "n_slots": n, "n_ctx_slot": per, "kv_unified": unified})
                if kind == "ready":
                    return LogFact("ready", True, READY)
                if kind == "model_loaded":
                    return LogFact(kind, None, phase)
                if kind == "version":
                    return LogFact("version", f"b{hit.group(1)}-{hit.group(2)}", None)
                value = hit.group(1)
                return LogFact(kind, int(value) if value.isdigit() else value, phase)
        return None
