"""Reading a matrix file: TOML → ``MatrixSpec``, every error one line naming ``file:line``.

Everything is checked before anything starts: names, types, the engine profile (it must
exist in iejtui.toml and have a command line), each workload's bench flags (parsed by the
load generator's own parser) and dataset files.
"""

from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path
from typing import Any

from iejtui.config import Config
from iejtui.errors import UserError
from iejtui.slos import with_preset
from iejtui.matrix.spec import (_COST, _ENGINE, _LOAD, _TOP, _VARIANT, _WORKLOAD, DATASETS, ENGINE_OWNED, NAME_RE,
                                OWNED_FLAGS, SLO_KEYS, VARIANT_RE, Cell, LoadPoint, MatrixSpec, Slo, Variant,
                                Workload)

MAX_CELLS = 20000


class _Locator:
    """Finds the line of a table or key in the file text (tomllib gives no positions)."""

    def __init__(self, path: Path, text: str):
        self.path, self.lines = path, text.splitlines()

    def table(self, header: str, index: int = 0) -> int | None:
        pat = re.compile(r"^\s*\[{1,2}\s*" + re.escape(header) + r"\s*\]{1,2}")
        hits = [i + 1 for i, ln in enumerate(self.lines) if pat.match(ln)]
        return hits[index] if index < len(hits) else (hits[-1] if hits else None)

    def key(self, key: str, start: int | None = None) -> int | None:
        pat = re.compile(r"^\s*[\"']?" + re.escape(key) + r"[\"']?\s*=")
        begin = (start or 1) - 1
        for i in range(begin, len(self.lines)):
            if i > begin and re.match(r"^\s*\[", self.lines[i]) and start is not None:
                break  # the next table: the key is not in this one
            if pat.match(self.lines[i]):
                return i + 1
        return start

    def error(self, line: int | None, msg: str) -> UserError:
        return UserError(f"{self.path}:{line}: {msg}" if line else f"{self.path}: {msg}")


def _str_list(loc: _Locator, v: Any, line: int | None, what: str) -> tuple[str, ...]:
    if isinstance(v, str):
        raise loc.error(line, f"{what} must be a list of strings, not one string (write [\"--flag\", \"value\"])")
    if not isinstance(v, list) or not all(isinstance(a, (str, int, float)) and not isinstance(a, bool) for a in v):
        raise loc.error(line, f"{what} must be a list of strings")
    return tuple(str(a) for a in v)


def _env(loc: _Locator, v: Any, line: int | None, what: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(v, dict) or not all(isinstance(x, (str, int, float)) and not isinstance(x, bool)
                                          for x in v.values()):
        raise loc.error(line, f"{what} must be a table of strings, e.g. env = {{ VLLM_X = \"1\" }}")
    return tuple(sorted((str(k), str(x)) for k, x in v.items()))


def _int(loc: _Locator, v: Any, line: int | None, what: str, lo: int = 1) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < lo:
        raise loc.error(line, f"{what} = {v!r}: must be an integer ≥ {lo}")
    return v


def _num(loc: _Locator, v: Any, line: int | None, what: str, positive: bool = True) -> float:
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0 or (positive and v == 0):
        raise loc.error(line, f"{what} = {v!r}: must be a {'positive' if positive else 'non-negative'} number")
    return float(v)


def _unknown(loc: _Locator, d: dict, known: set, line: int | None, where: str) -> None:
    extra = sorted(set(d) - known)
    if extra:
        raise loc.error(loc.key(extra[0], line) if line else loc.key(extra[0]),
                        f"unknown key {extra[0]!r} in {where} (known: {', '.join(sorted(known))})")


def _loads(loc: _Locator, d: dict, line: int | None, where: str) -> tuple[LoadPoint, ...]:
    conc = d.get("max_concurrency")
    rate = d.get("request_rate")
    if conc is None and rate is None:
        return ()
    concs: list[int | None] = [None]
    rates: list[float | None] = [None]
    if conc is not None:
        if not isinstance(conc, list) or not conc:
            raise loc.error(loc.key("max_concurrency", line), f"{where} max_concurrency must be a non-empty list, "
                                                                   "e.g. [4, 16]")
        concs = [_int(loc, c, loc.key("max_concurrency", line), "max_concurrency value") for c in conc]
    if rate is not None:
        if not isinstance(rate, list) or not rate:
            raise loc.error(loc.key("request_rate", line), f"{where} request_rate must be a non-empty list, "
                                                                "e.g. [1, 4, \"inf\"]")
        rates = []
        for r in rate:
            if r == "inf" or (isinstance(r, float) and math.isinf(r) and r > 0):
                rates.append(None)
            else:
                rates.append(_num(loc, r, loc.key("request_rate", line), "request_rate value"))
    points = [LoadPoint(c, r) for c in concs for r in rates]
    if len(set(points)) != len(points):
        raise loc.error(line, f"{where} lists the same load point twice")
    return tuple(points)


def _parse_slos(loc: _Locator, raw: Any) -> list[Slo]:
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for i, s in enumerate(items):
        line = loc.table("slo", i)
        if not isinstance(s, dict):
            raise loc.error(line, "slo must be a table ([slo]) or tables ([[slo]])")
        _unknown(loc, s, {"name", *SLO_KEYS}, line, "[slo]")
        name = str(s.get("name") or ("slo" if len(items) == 1 else f"slo{i + 1}"))
        vals = with_preset(name, {k: _num(loc, s[k], loc.key(k, line), k) for k in SLO_KEYS if k in s})
        if not vals:
            raise loc.error(line, f"[slo] {name!r} sets no limit: give ttft_ms, tpot_ms and/or e2el_ms "
                                  f"(or name an MLPerf preset, e.g. mlperf-llama2-70b)")
        out.append(Slo(name, **vals))
    if len({s.name for s in out}) != len(out):
        raise loc.error(loc.table("slo"), "two SLOs have the same name")
    return out


def parse_cost(loc: _Locator, raw: Any, where: str = "[cost]") -> dict[str, Any]:
    line = loc.table("cost")
    if not isinstance(raw, dict):
        raise loc.error(line, f"{where} must be a table")
    _unknown(loc, raw, _COST, line, where)
    out: dict[str, Any] = {}
    for k in ("gpu_hour_usd", "machine_hour_usd"):
        if k in raw:
            out[k] = _num(loc, raw[k], loc.key(k, line), k, positive=False)
    if "gpus" in raw:
        g = raw["gpus"]
        if not isinstance(g, dict) or not g:
            raise loc.error(loc.key("gpus", line), f"{where} gpus must be a table of GPU model → price per GPU-hour, "
                                                   "e.g. gpus = { \"H100\" = 2.5 }")
        out["gpus"] = {str(m): _num(loc, p, loc.key("gpus", line), f"price of {m}", positive=False)
                       for m, p in g.items()}
    return out


def _workload(loc: _Locator, i: int, w: Any, base: Path, names: set) -> Workload:
    line = loc.table("workloads", i)
    if not isinstance(w, dict):
        raise loc.error(line, "each [[workloads]] entry must be a table")
    _unknown(loc, w, _WORKLOAD, line, "[[workloads]]")
    name = w.get("name")
    if not isinstance(name, str) or not VARIANT_RE.match(name):
        raise loc.error(loc.key("name", line), f"workload name {name!r}: letters, digits, . _ - (at most 32)")
    if name in names:
        raise loc.error(loc.key("name", line), f"two workloads are named {name!r}")
    names.add(name)
    ds = str(w.get("dataset", "random")).replace("-", "_")
    if ds not in DATASETS:
        raise loc.error(loc.key("dataset", line), f"workload {name}: dataset {ds!r} is not one of {', '.join(DATASETS)}")
    kw: dict[str, Any] = {"name": name, "dataset": ds, "description": str(w.get("description", ""))}
    for k in ("input_len", "output_len", "num_prompts", "num_prefixes"):
        if k in w:
            kw[k] = _int(loc, w[k], loc.key(k, line), f"workload {name}: {k}")
    for k in ("prefix_len", "seed"):
        if k in w:
            kw[k] = _int(loc, w[k], loc.key(k, line), f"workload {name}: {k}", lo=0)
    if "range_ratio" in w:
        rr = _num(loc, w["range_ratio"], loc.key("range_ratio", line), f"workload {name}: range_ratio", positive=False)
        if rr >= 1:
            raise loc.error(loc.key("range_ratio", line), f"workload {name}: range_ratio must be below 1")
        kw["range_ratio"] = rr
    if "ignore_eos" in w:
        if not isinstance(w["ignore_eos"], bool):
            raise loc.error(loc.key("ignore_eos", line), f"workload {name}: ignore_eos must be true or false")
        kw["ignore_eos"] = w["ignore_eos"]
    if ds in ("random", "prefix_repetition"):
        for k in ("input_len", "output_len"):
            if k not in kw:
                raise loc.error(line, f"workload {name}: dataset {ds} needs {k} (tokens)")
        if "dataset_path" in w:
            raise loc.error(loc.key("dataset_path", line), f"workload {name}: dataset {ds} takes no dataset_path")
    else:
        p = w.get("dataset_path")
        if not isinstance(p, str) or not p:
            raise loc.error(line, f"workload {name}: dataset {ds} needs dataset_path (a file)")
        full = (base / p).resolve() if not Path(p).is_absolute() else Path(p)
        if not full.is_file():
            raise loc.error(loc.key("dataset_path", line), f"workload {name}: dataset file {full} does not exist")
        kw["dataset_path"] = str(full)
    args = _str_list(loc, w.get("args", []), loc.key("args", line), f"workload {name}: args")
    for a in args:
        if a.split("=", 1)[0] in OWNED_FLAGS:
            raise loc.error(loc.key("args", line), f"workload {name}: args must not set {a.split('=', 1)[0]} "
                                                   "(the matrix sets it: use the workload keys and [load])")
    kw["args"] = args
    kw["loads"] = _loads(loc, w, line, f"workload {name}:")
    return Workload(**kw)


def load_matrix(path: Path, config: Config) -> MatrixSpec:
    """Parse and validate a matrix file against the journal's config (profiles, prices)."""
    path = Path(path).resolve()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: no such matrix file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read: {exc}") from None
    loc = _Locator(path, text)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise UserError(f"{path}:{m.group(1)}:{m.group(2)}: invalid TOML: {msg}" if m
                        else f"{path}: invalid TOML: {msg}") from None
    _unknown(loc, raw, _TOP, None, "the matrix file")
    name = raw.get("name", path.stem)
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise loc.error(loc.key("name"), f"matrix name {name!r}: lower-case letters, digits, . _ - (at most 40); "
                                         "it names benchmarks/NAME")
    eng = raw.get("engine")
    eline = loc.table("engine")
    if not isinstance(eng, dict) or not isinstance(eng.get("profile"), str):
        raise loc.error(eline, "[engine] profile = \"NAME\" is required (an [engines.NAME] profile of iejtui.toml)")
    _unknown(loc, eng, _ENGINE, eline, "[engine]")
    try:
        prof = config.profile(eng["profile"])
    except UserError as exc:
        raise loc.error(loc.key("profile", eline), str(exc)) from None
    if not prof.argv:
        raise loc.error(loc.key("profile", eline), f"profile {prof.name!r} has no argv: a matrix launches its engine")
    base_args = _str_list(loc, eng.get("args", []), loc.key("args", eline), "[engine] args")
    base_env = dict(_env(loc, eng.get("env", {}), loc.key("env", eline), "[engine] env"))
    ready_timeout = (_num(loc, eng["ready_timeout"], loc.key("ready_timeout", eline), "ready_timeout")
                     if "ready_timeout" in eng else prof.ready_timeout)
    vraw = raw.get("variants")
    if not isinstance(vraw, list) or not vraw:
        raise loc.error(None, "no [[variants]]: give at least one (name and args appended to the profile's argv)")
    variants, vnames = [], set()
    for i, v in enumerate(vraw):
        line = loc.table("variants", i)
        if not isinstance(v, dict):
            raise loc.error(line, "each [[variants]] entry must be a table")
        _unknown(loc, v, _VARIANT, line, "[[variants]]")
        vn = v.get("name")
        if not isinstance(vn, str) or not VARIANT_RE.match(vn):
            raise loc.error(loc.key("name", line), f"variant name {vn!r}: letters, digits, . _ - (at most 32)")
        if vn in vnames:
            raise loc.error(loc.key("name", line), f"two variants are named {vn!r}")
        vnames.add(vn)
        args = _str_list(loc, v.get("args", []), loc.key("args", line), f"variant {vn}: args")
        for a in (*base_args, *args):
            if a.split("=", 1)[0] in ENGINE_OWNED:
                raise loc.error(loc.key("args", line), f"variant {vn}: args must not set {a.split('=', 1)[0]} "
                                                       f"(the profile {prof.name!r} decides where the engine listens)")
        variants.append(Variant(vn, args, _env(loc, v.get("env", {}), loc.key("env", line), f"variant {vn}: env"),
                                str(v.get("description", ""))))
    lraw = raw.get("load", {})
    lline = loc.table("load")
    if not isinstance(lraw, dict):
        raise loc.error(lline, "[load] must be a table")
    _unknown(loc, lraw, _LOAD, lline, "[load]")
    loads = _loads(loc, lraw, lline, "[load]")
    reps = _int(loc, lraw.get("repetitions", 1), loc.key("repetitions", lline), "repetitions")
    warm = _int(loc, lraw.get("warmups", 0), loc.key("warmups", lline), "warmups", lo=0)
    wraw = raw.get("workloads")
    if not isinstance(wraw, list) or not wraw:
        raise loc.error(None, "no [[workloads]]: give at least one (dataset, input_len, output_len, num_prompts)")
    wnames: set = set()
    workloads = []
    for i, w in enumerate(wraw):
        wl = _workload(loc, i, w, path.parent, wnames)
        if not wl.loads:
            if not loads:
                raise loc.error(lline or loc.table("workloads", i),
                                "no load points: give [load] max_concurrency = [...] and/or request_rate = [...]")
            wl = Workload(**{**wl.__dict__, "loads": loads})
        workloads.append(wl)
    slos = _parse_slos(loc, raw["slo"]) if "slo" in raw else _config_slos(config)
    cost = parse_cost(loc, raw["cost"]) if "cost" in raw else {}
    spec = MatrixSpec(name=name, path=str(path), profile=prof.name, kind=prof.kind,
                      base_argv=[*prof.argv, *base_args], base_env={**prof.env, **base_env}, url=prof.url,
                      ready_timeout=ready_timeout, stop_timeout=prof.stop_timeout, variants=variants,
                      workloads=workloads, repetitions=reps, warmups=warm, slos=slos, cost=cost,
                      description=str(raw.get("description", "")))
    cells = spec.cells()
    if len(cells) > MAX_CELLS:
        raise loc.error(None, f"{len(cells)} cells is more than {MAX_CELLS}: split the matrix")
    _check_bench_flags(loc, spec, cells)
    return spec


def _config_slos(config: Config) -> list[Slo]:
    """SLOs of iejtui.toml's [slo] table when the matrix file has none (bad ones are ignored)."""
    raw = (config.raw or {}).get("slo")
    if raw is None:
        return []
    loc = _Locator(config.path or Path("iejtui.toml"), config.path.read_text() if config.path else "")
    return _parse_slos(loc, raw)


def _check_bench_flags(loc: _Locator, spec: MatrixSpec, cells: list[Cell]) -> None:
    """Each workload's first cell through the load generator's own flag parser."""
    from collectors.loadgen.config import BenchUsageError, parse_args
    seen = set()
    for c in cells:
        if c.workload in seen:
            continue
        seen.add(c.workload)
        try:
            parse_args(["--base-url", "http://127.0.0.1:8000", *spec.bench_argv(c)])
        except BenchUsageError as exc:
            idx = next(i for i, w in enumerate(spec.workloads) if w.name == c.workload)
            raise loc.error(loc.table("workloads", idx), f"workload {c.workload}: {exc}") from None
