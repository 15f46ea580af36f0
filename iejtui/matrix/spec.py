"""The matrix file: parse, validate (every error names ``file:line``), expand the grid.

Minimal form (the profile comes from iejtui.toml; ``args`` are appended to its argv)::

    name = "seqs"
    [engine]
    profile = "tiny"
    [[variants]]
    name = "seqs8"
    args = ["--max-num-seqs", "8"]
    [[workloads]]
    name = "short"
    dataset = "random"
    input_len = 128
    output_len = 64
    num_prompts = 48
    [load]
    max_concurrency = [4, 16]
    repetitions = 2
    [cost]
    gpu_hour_usd = 2.5

``FORMAT`` below lists every key.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


FORMAT = """\
name = "NAME"                 # benchmarks/NAME (default: the file's name); a-z 0-9 . _ -
description = "..."           # optional, shown in the README
[engine]
profile = "tiny"              # an [engines.X] profile of iejtui.toml (required)
args = [...]                  # appended to the profile's argv for every variant (optional)
env = { K = "V" }             # merged into the profile's env for every variant (optional)
ready_timeout = 900           # seconds for each variant to become ready (default: the profile's)
[[variants]]                  # at least one
name = "fp8"                  # a-z A-Z 0-9 . _ - (at most 32)
args = ["--quantization", "fp8"]
env = { VLLM_X = "1" }
description = "..."
[[workloads]]                 # at least one
name = "short"
dataset = "random"            # random | prefix_repetition | sharegpt | custom
input_len = 128               # random: prompt tokens; prefix_repetition: suffix tokens
output_len = 64               # max output tokens (ignore_eos makes it exact)
num_prompts = 48
range_ratio = 0.0             # random: lengths vary by ±ratio
prefix_len = 0                # random: shared prefix tokens; prefix_repetition: prefix tokens
num_prefixes = 10             # prefix_repetition
dataset_path = "data.jsonl"   # sharegpt/custom, relative to the matrix file
seed = 0
ignore_eos = true             # default true: every request produces output_len tokens
args = [...]                  # more `vllm bench serve` flags
max_concurrency = [..]        # this workload's own load points (instead of [load]'s)
request_rate = [..]
[load]
max_concurrency = [4, 16]     # load points: concurrency limits ...
request_rate = [2.0, "inf"]   # ... and/or Poisson request rates (req/s); both: every pair
repetitions = 2
warmups = 0                   # --num-warmups per cell
[slo]                         # goodput SLOs in ms (or [[slo]] with names, several)
ttft_ms = 500
tpot_ms = 50
e2el_ms = 20000
[cost]
gpu_hour_usd = 2.5            # price of one GPU-hour (overrides iejtui.toml [cost])
machine_hour_usd = 0.4        # price of the machine per hour when no GPU is used
gpus = { "H100" = 2.5, "A100" = 1.3 }  # per GPU model (substring of the model name)
# iejtui.toml may hold [cost] (the same keys; the matrix file's win) and [slo] (used when
# the matrix file has none).
"""

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,39}$")
VARIANT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
DATASETS = ("random", "prefix_repetition", "sharegpt", "custom")
SLO_KEYS = ("ttft_ms", "tpot_ms", "e2el_ms")
# Flags the matrix sets itself: a workload may not pass them in `args`.
OWNED_FLAGS = ("--base-url", "--host", "--port", "--max-concurrency", "--request-rate", "--num-prompts",
               "--dataset-name", "--dataset-path", "--save-result", "--result-dir", "--result-filename",
               "--append-result", "--sweep-concurrency", "--sweep-rate", "--sweep-slo-search", "--goodput",
               "--label", "--num-warmups")
ENGINE_OWNED = ("--port", "--host")
_TOP = {"name", "description", "engine", "variants", "workloads", "load", "slo", "cost"}
_ENGINE = {"profile", "args", "env", "ready_timeout"}
_VARIANT = {"name", "args", "env", "description"}
_WORKLOAD = {"name", "dataset", "input_len", "output_len", "num_prompts", "range_ratio", "prefix_len",
             "num_prefixes", "dataset_path", "seed", "ignore_eos", "args", "max_concurrency", "request_rate",
             "description"}
_LOAD = {"max_concurrency", "request_rate", "repetitions", "warmups"}
_COST = {"gpu_hour_usd", "machine_hour_usd", "gpus"}


@dataclass(frozen=True)
class LoadPoint:
    max_concurrency: int | None = None
    request_rate: float | None = None  # None: all at once ("inf")

    @property
    def label(self) -> str:
        bits = []
        if self.max_concurrency is not None:
            bits.append(f"c{self.max_concurrency}")
        if self.request_rate is not None:
            bits.append(f"r{self.request_rate:g}")
        return "-".join(bits) or "unbounded"

    @property
    def title(self) -> str:
        bits = []
        if self.max_concurrency is not None:
            bits.append(f"concurrency {self.max_concurrency}")
        if self.request_rate is not None:
            bits.append(f"{self.request_rate:g} req/s")
        return ", ".join(bits) or "all at once"


@dataclass(frozen=True)
class Variant:
    name: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    description: str = ""


@dataclass(frozen=True)
class Workload:
    name: str
    dataset: str = "random"
    input_len: int | None = None
    output_len: int | None = None
    num_prompts: int = 100
    range_ratio: float = 0.0
    prefix_len: int = 0
    num_prefixes: int = 10
    dataset_path: str | None = None
    seed: int = 0
    ignore_eos: bool = True
    args: tuple[str, ...] = ()
    loads: tuple[LoadPoint, ...] = ()
    description: str = ""

    @property
    def shape(self) -> str:
        if self.dataset in ("random", "prefix_repetition"):
            return f"{self.dataset}, {self.input_len} in / {self.output_len} out"
        return f"{self.dataset} ({Path(self.dataset_path or '').name})" + (
            f", {self.output_len} out" if self.output_len else "")


@dataclass(frozen=True)
class Slo:
    name: str
    ttft_ms: float | None = None
    tpot_ms: float | None = None
    e2el_ms: float | None = None

    def text(self) -> str:
        parts = [f"{k[:-3].upper()} ≤ {getattr(self, k):g} ms" for k in SLO_KEYS if getattr(self, k) is not None]
        return ", ".join(parts)


@dataclass(frozen=True)
class Cell:
    variant: str
    workload: str
    load: LoadPoint
    rep: int
    hash: str

    @property
    def key(self) -> str:
        return f"{self.variant}/{self.workload}/{self.load.label}/{self.rep}"


@dataclass
class MatrixSpec:
    name: str
    path: str
    profile: str
    kind: str
    base_argv: list[str]
    base_env: dict[str, str]
    url: str | None
    ready_timeout: float
    stop_timeout: float
    variants: list[Variant]
    workloads: list[Workload]
    repetitions: int = 1
    warmups: int = 0
    slos: list[Slo] = field(default_factory=list)
    cost: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    # ---- derived -----------------------------------------------------------------------
    def variant(self, name: str) -> Variant:
        return next(v for v in self.variants if v.name == name)

    def workload(self, name: str) -> Workload:
        return next(w for w in self.workloads if w.name == name)

    def engine_name(self, variant: str) -> str:
        return f"{self.name}.{variant}"

    def engine_argv(self, variant: str) -> list[str]:
        return [*self.base_argv, *self.variant(variant).args]

    def engine_env(self, variant: str) -> dict[str, str]:
        return {**self.base_env, **dict(self.variant(variant).env)}

    def variant_hash(self, variant: str) -> str:
        return _digest({"argv": self.engine_argv(variant), "env": self.engine_env(variant), "kind": self.kind})

    def cells(self) -> list[Cell]:
        """The grid, in run order: variant, then workload, load point, repetition."""
        out = []
        for v in self.variants:
            vh = self.variant_hash(v.name)
            for w in self.workloads:
                wd = asdict(w)
                for lp in w.loads:
                    for rep in range(1, self.repetitions + 1):
                        h = _digest({"v": vh, "w": wd, "l": asdict(lp), "rep": rep, "warm": self.warmups,
                                     "slo": [asdict(s) for s in self.slos[:1]]})
                        out.append(Cell(v.name, w.name, lp, rep, h))
        return out

    def bench_argv(self, cell: Cell) -> list[str]:
        """`vllm bench serve` flags of one cell (the service adds --base-url)."""
        w = self.workload(cell.workload)
        a = ["--dataset-name", w.dataset, "--num-prompts", str(w.num_prompts), "--seed", str(w.seed)]
        if w.dataset == "random":
            a += ["--random-input-len", str(w.input_len), "--random-output-len", str(w.output_len),
                  "--random-range-ratio", f"{w.range_ratio:g}"]
            if w.prefix_len:
                a += ["--random-prefix-len", str(w.prefix_len)]
        elif w.dataset == "prefix_repetition":
            a += ["--prefix-repetition-prefix-len", str(w.prefix_len or 256),
                  "--prefix-repetition-suffix-len", str(w.input_len),
                  "--prefix-repetition-num-prefixes", str(w.num_prefixes),
                  "--prefix-repetition-output-len", str(w.output_len)]
        else:
            a += ["--dataset-path", str(w.dataset_path)]
            if w.output_len:
                a += [f"--{w.dataset}-output-len", str(w.output_len)]
        if w.ignore_eos:
            a.append("--ignore-eos")
        if cell.load.max_concurrency is not None:
            a += ["--max-concurrency", str(cell.load.max_concurrency)]
        if cell.load.request_rate is not None:
            a += ["--request-rate", f"{cell.load.request_rate:g}"]
        if self.warmups:
            a += ["--num-warmups", str(self.warmups)]
        a += ["--percentile-metrics", "ttft,tpot,itl,e2el", "--metric-percentiles", "50,90,99",
              "--label", f"{self.name}/{cell.key}"]
        if self.slos:
            s = self.slos[0]
            a += ["--goodput", *[f"{k[:-3]}:{getattr(s, k):g}" for k in SLO_KEYS if getattr(s, k) is not None]]
        return [*a, *w.args]

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self)))


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def spec_from_dict(d: dict[str, Any]) -> MatrixSpec:
    """The inverse of ``MatrixSpec.to_dict`` (a spec stored in a matrix run's state)."""
    d = dict(d)
    d["variants"] = [Variant(v["name"], tuple(v["args"]), tuple(tuple(p) for p in v["env"]), v.get("description", ""))
                     for v in d["variants"]]
    d["workloads"] = [Workload(**{**w, "args": tuple(w["args"]), "loads": tuple(LoadPoint(**lp) for lp in w["loads"])})
                      for w in d["workloads"]]
    d["slos"] = [Slo(**s) for s in d.get("slos") or []]
    return MatrixSpec(**d)
