"""Named SLOs: MLPerf Inference server-scenario presets and the ``[[slo]]`` tables of iejtui.toml.

Decisions:
- The presets are the LLM server-scenario latency limits of MLPerf Inference's
  ``loadgen/mlperf.conf`` (keys ``MODEL.Server.ttft_latency`` / ``tpot_latency``, in ms),
  copied from mlcommons/inference at commit ``MLPERF_CONF_COMMIT``. MLPerf judges a run,
  not a request: the run meets the SLO when its 99th-percentile TTFT and its 99th-percentile
  TPOT are each at most the limit (``*.Server.target_latency_percentile = 99``). So a preset
  carries ``judge = "p99"``; ``iejtui bench --find-max-load`` judges every SLO that way.
- Names are ``mlperf-`` + MLPerf's model key with ``_`` written ``.`` (``llama3_1-8b`` →
  ``mlperf-llama3.1-8b``). A user's ``[[slo]]`` of the same name replaces the preset.
- A ``[[slo]]`` that names a preset and sets no limit takes the preset's limits (so a matrix
  can say ``[[slo]] name = "mlperf-llama2-70b"``).
- Goodput (per request, vLLM's rule) uses the same limits; only the search's pass/fail
  judges per run.
"""

from __future__ import annotations

from typing import Any

from iejtui.errors import UserError

MLPERF_CONF = "mlcommons/inference loadgen/mlperf.conf"
MLPERF_CONF_COMMIT = "b66003e10e2db4b8c36a448b0545ec90fcc6e9e9"
SOURCE = f"{MLPERF_CONF} @ {MLPERF_CONF_COMMIT[:12]}"

#: preset name -> (MLPerf model key, p99 TTFT limit ms, p99 TPOT limit ms)
_MLPERF_SERVER: dict[str, tuple[str, float, float]] = {
    "mlperf-llama2-70b": ("llama2-70b", 2000, 200),
    "mlperf-llama2-70b-interactive": ("llama2-70b-interactive", 450, 40),
    "mlperf-llama3.1-8b": ("llama3_1-8b", 2000, 100),
    "mlperf-llama3.1-8b-interactive": ("llama3_1-8b-interactive", 500, 30),
    "mlperf-llama3.1-405b": ("llama3_1-405b", 6000, 175),
    "mlperf-llama3.1-405b-interactive": ("llama3_1-405b-interactive", 4500, 80),
    "mlperf-deepseek-r1": ("deepseek-r1", 2000, 80),
    "mlperf-deepseek-r1-interactive": ("deepseek-r1-interactive", 1500, 15),
    "mlperf-mixtral-8x7b": ("mixtral-8x7b", 2000, 200),
    "mlperf-gpt-oss-120b": ("gpt-oss-120b", 3000, 80),
}

LIMIT_KEYS = ("ttft_ms", "tpot_ms", "e2el_ms")


def presets() -> dict[str, dict[str, Any]]:
    """The MLPerf presets as ``[[slo]]``-shaped dicts (fresh copies)."""
    return {name: {"name": name, "ttft_ms": float(ttft), "tpot_ms": float(tpot), "judge": "p99",
                   "source": f"{SOURCE}: {key}.Server.ttft_latency / tpot_latency"}
            for name, (key, ttft, tpot) in _MLPERF_SERVER.items()}


def with_preset(name: str, limits: dict[str, float]) -> dict[str, float]:
    """``limits`` of a ``[[slo]]`` named ``name``; a preset's when it sets none."""
    if not any(limits.get(k) is not None for k in LIMIT_KEYS) and name in _MLPERF_SERVER:
        p = presets()[name]
        return {k: p[k] for k in LIMIT_KEYS if p.get(k) is not None}
    return limits


def user_slos(raw: Any) -> dict[str, dict[str, Any]]:
    """The well-formed ``[slo]``/``[[slo]]`` entries of iejtui.toml (raw TOML value) by name;
    entries without a usable limit are left out (the matrix parser reports them)."""
    items = raw if isinstance(raw, list) else [raw] if isinstance(raw, dict) else []
    out: dict[str, dict[str, Any]] = {}
    for i, s in enumerate(items):
        if not isinstance(s, dict):
            continue
        name = str(s.get("name") or ("slo" if len(items) == 1 else f"slo{i + 1}"))
        limits = {k: float(s[k]) for k in LIMIT_KEYS
                  if isinstance(s.get(k), (int, float)) and not isinstance(s.get(k), bool)}
        limits = with_preset(name, limits)
        if limits:
            out[name] = {"name": name, **limits, "judge": "p99", "source": "iejtui.toml"}
    return out


def named_slos(config_raw: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Every named SLO: the presets, then iejtui.toml's ``[[slo]]`` (same name wins)."""
    return {**presets(), **user_slos((config_raw or {}).get("slo"))}


def slo_text(slo: dict[str, Any]) -> str:
    """``p99 TTFT ≤ 2000 ms, p99 TPOT ≤ 200 ms``."""
    return ", ".join(f"p99 {k[:-3].upper()} ≤ {slo[k]:g} ms" for k in LIMIT_KEYS if slo.get(k) is not None)


def resolve_slo(config_raw: dict[str, Any] | None, name: str | None) -> dict[str, Any]:
    """The named SLO (a preset or iejtui.toml's); a ``UserError`` naming the known ones if none."""
    slos = named_slos(config_raw)
    if not name:
        raise UserError("--find-max-load needs --slo NAME (an MLPerf preset such as mlperf-llama3.1-8b, "
                        "or a [[slo]] of iejtui.toml)")
    if name not in slos:
        raise UserError(f"no SLO named {name!r}: known: {', '.join(sorted(slos))}")
    return slos[name]
