"""Benchmark configuration: ``vllm bench serve``'s flags, parsed into ``BenchConfig``.

Flag names, defaults and meanings follow vLLM 0.32's ``vllm bench serve`` (serve.py,
datasets/datasets.py), so a command line written for vLLM runs here unchanged.
Flags vLLM has but that make no sense without vLLM (multimodal, HF hub datasets, LoRA,
profiling) are rejected with a one-line ``BenchUsageError`` instead of being ignored.
iejtui's own flags (workers, sweeps, timeouts, prompt salt) are listed under
"iejtui options" in ``--help``. Rewriting a command line before parsing (the caller's paths,
an engine kind's default backend) is ``argv``'s.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import uuid
from dataclasses import dataclass, field
from typing import Any

from .triton import DEFAULT_ENDPOINT as TRITON_ENDPOINT
from .triton import TRT

DATASETS = ("random", "prefix_repetition", "sharegpt", "custom")
#: backend -> request/stream format. ``tensorrt-llm``: Triton's generate_stream with
#: TensorRT-LLM's ensemble body (vLLM's old benchmark_serving.py backend; see ``triton``).
BACKENDS = {"openai": "completions", "vllm": "completions", "openai-chat": "chat",
            "tensorrt-llm": TRT}
SLO_NAMES = ("ttft", "tpot", "e2el")
PERCENTILE_METRICS = ("ttft", "tpot", "itl", "e2el", "client_queue_time",
                      "e2el_including_client_queue")


class BenchUsageError(ValueError):
    """A bad command line, dataset file or option combination (one-line message)."""


@dataclass
class BenchConfig:
    # target
    base_url: str = "http://127.0.0.1:8000"
    endpoint: str = "/v1/completions"
    backend: str = "openai"
    model: str | None = None
    served_model_name: str | None = None
    tokenizer: str | None = None
    label: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # dataset
    dataset_name: str = "random"
    dataset_path: str | None = None
    num_prompts: int = 1000
    seed: int = 0
    random_input_len: int = 1024
    random_output_len: int = 128
    random_range_ratio: float | dict[str, float] = 0.0
    random_prefix_len: int = 0
    prefix_repetition_prefix_len: int = 256
    prefix_repetition_suffix_len: int = 256
    prefix_repetition_num_prefixes: int = 10
    prefix_repetition_output_len: int = 128
    sharegpt_output_len: int | None = None
    custom_output_len: int = 256
    skip_chat_template: bool = False
    disable_shuffle: bool = False
    no_oversample: bool = False
    request_id_prefix: str = ""
    # load
    request_rate: float = math.inf
    burstiness: float = 1.0
    max_concurrency: int | None = None
    num_warmups: int = 0
    ready_check_timeout_sec: int = 0
    ramp_up_strategy: str | None = None
    ramp_up_start_rps: int | None = None
    ramp_up_end_rps: int | None = None
    ignore_eos: bool = False
    logprobs: int | None = None
    sampling: dict[str, float] = field(default_factory=dict)
    extra_body: dict[str, Any] = field(default_factory=dict)
    # reporting
    percentile_metrics: list[str] = field(default_factory=lambda: ["ttft", "tpot", "itl"])
    metric_percentiles: list[float] = field(default_factory=lambda: [99.0])
    goodput: dict[str, float] = field(default_factory=dict)
    save_result: bool = False
    save_detailed: bool = False
    append_result: bool = False
    result_dir: str | None = None
    result_filename: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    disable_tqdm: bool = False
    # iejtui options
    num_workers: int = 1
    request_timeout: float = 6 * 3600.0
    read_timeout: float | None = None
    prompt_salt: int | None = None  # None: random per run; 0: off (vLLM's fixed prompts)
    tokenize_mode: str = "auto"  # auto | local | server
    sweep_concurrency: list[int] = field(default_factory=list)
    sweep_rate: list[float] = field(default_factory=list)
    sweep_slo_search: bool = False
    slo_attainment: float = 0.9
    saturation_gain: float = 0.05

    @property
    def api_url(self) -> str:
        return self.base_url.rstrip("/") + self.endpoint

    @property
    def chat(self) -> bool:
        return BACKENDS.get(self.backend) == "chat"

    @property
    def trt(self) -> bool:
        """Triton ``generate_stream`` (``--backend tensorrt-llm``)."""
        return BACKENDS.get(self.backend) == TRT

    @property
    def stream_kind(self) -> bool | str:
        """What the client parses: True chat chunks, False completions chunks, "trt"
        Triton generate_stream events."""
        return TRT if self.trt else self.chat

    def model_name(self) -> str:
        return self.served_model_name or self.model or ""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would print usage and exit(2)
        raise BenchUsageError(f"vllm bench serve flags: {message}")


def _kv(items: list[str] | None, flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        if "=" not in item:
            raise BenchUsageError(f"{flag} expects KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def parse_goodput(pairs: list[str] | None) -> dict[str, float]:
    """``["ttft:200", "tpot:50"]`` -> ``{"ttft": 200.0, "tpot": 50.0}`` (milliseconds)."""
    out: dict[str, float] = {}
    for pair in pairs or []:
        try:
            name, val = pair.split(":")
            out[name] = float(val)
        except ValueError:
            raise BenchUsageError(
                f'--goodput expects "KEY:VALUE" pairs in milliseconds, got {pair!r}') from None
        if name not in SLO_NAMES:
            raise BenchUsageError(f"--goodput metric {name!r} is not one of {list(SLO_NAMES)}")
        if out[name] < 0:
            raise BenchUsageError(f"--goodput value for {name} must be non-negative")
    return out


def _csv(text: str, conv, flag: str) -> list:
    try:
        return [conv(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise BenchUsageError(f"{flag}: cannot parse {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m collectors.loadgen", allow_abbrev=False,
                description="Benchmark an OpenAI-compatible server (vllm bench serve flags).")
    a = p.add_argument
    a("--base-url", default=None)
    a("--host", default="127.0.0.1")
    a("--port", type=int, default=8000)
    a("--endpoint", default=None,
      help="default /v1/completions; --backend tensorrt-llm: /v2/models/ensemble/generate_stream")
    a("--backend", default="openai", choices=sorted(BACKENDS))
    a("--model", default=None)
    a("--served-model-name", default=None)
    a("--tokenizer", default=None)
    a("--tokenizer-mode", default="auto")
    a("--trust-remote-code", action="store_true")
    a("--label", default=None)
    a("--header", nargs="*", metavar="KEY=VALUE")
    a("--dataset-name", default="random",
      choices=["random", "prefix_repetition", "prefix-repetition", "sharegpt", "custom"])
    a("--dataset-path", default=None)
    a("--num-prompts", type=int, default=1000)
    a("--seed", type=int, default=0)
    a("--input-len", type=int, default=None)
    a("--output-len", type=int, default=None)
    a("--random-input-len", type=int, default=1024)
    a("--random-output-len", type=int, default=128)
    a("--random-range-ratio", default="0.0")
    a("--random-prefix-len", type=int, default=0)
    a("--prefix-repetition-prefix-len", type=int, default=256)
    a("--prefix-repetition-suffix-len", type=int, default=256)
    a("--prefix-repetition-num-prefixes", type=int, default=10)
    a("--prefix-repetition-output-len", type=int, default=128)
    a("--sharegpt-output-len", type=int, default=None)
    a("--custom-output-len", type=int, default=256)
    a("--skip-chat-template", action="store_true")
    a("--disable-shuffle", action="store_true")
    a("--no-oversample", action="store_true")
    a("--request-id-prefix", default=None)
    a("--request-rate", type=float, default=math.inf)
    a("--burstiness", type=float, default=1.0)
    a("--max-concurrency", type=int, default=None)
    a("--num-warmups", type=int, default=0)
    a("--ramp-up-strategy", choices=["linear", "exponential"], default=None)
    a("--ramp-up-start-rps", type=int, default=None)
    a("--ramp-up-end-rps", type=int, default=None)
    a("--ready-check-timeout-sec", type=int, default=0)
    a("--ignore-eos", action="store_true")
    a("--logprobs", type=int, default=None)
    for name in ("top-p", "min-p", "temperature", "frequency-penalty", "presence-penalty",
                 "repetition-penalty"):
        a(f"--{name}", type=float, default=None)
    a("--top-k", type=int, default=None)
    a("--extra-body", default=None)
    a("--percentile-metrics", default=None)
    a("--metric-percentiles", default="99")
    a("--goodput", nargs="+", default=None)
    a("--save-result", action="store_true")
    a("--save-detailed", action="store_true")
    a("--append-result", action="store_true")
    a("--result-dir", default=None)
    a("--result-filename", default=None)
    a("--metadata", nargs="*", metavar="KEY=VALUE")
    a("--disable-tqdm", action="store_true")
    g = p.add_argument_group("iejtui options")
    g.add_argument("--num-workers", type=int, default=1,
                   help="client processes (1: in the caller's event loop)")
    g.add_argument("--request-timeout", type=float, default=6 * 3600.0,
                   help="seconds for a whole request before it fails as a timeout")
    g.add_argument("--read-timeout", type=float, default=None,
                   help="seconds without data on a stream before it fails as a timeout")
    g.add_argument("--prompt-salt", type=int, default=None,
                   help="per-run prompt marker (default random; 0 = vLLM's fixed prompts)")
    g.add_argument("--tokenize", dest="tokenize_mode", default="auto",
                   choices=["auto", "local", "server"])
    g.add_argument("--sweep-concurrency", default=None, help="e.g. 1,4,16")
    g.add_argument("--sweep-rate", default=None, help="e.g. 1,2,4,8")
    g.add_argument("--sweep-slo-search", action="store_true",
                   help="search the highest --request-rate meeting the --goodput SLOs")
    g.add_argument("--slo-attainment", type=float, default=0.9)
    g.add_argument("--saturation-gain", type=float, default=0.05)
    return p


def parse_args(argv: list[str]) -> BenchConfig:
    """Parse ``vllm bench serve`` flags; raises ``BenchUsageError`` on anything wrong."""
    ns, unknown = build_parser().parse_known_args(argv)
    if unknown:
        raise BenchUsageError(f"unsupported flag(s): {' '.join(unknown)}")
    return config_from_namespace(ns)


def config_from_namespace(ns: argparse.Namespace) -> BenchConfig:
    base_url = ns.base_url or f"http://{ns.host}:{ns.port}"
    if ns.max_concurrency is not None and ns.max_concurrency <= 0:
        raise BenchUsageError("--max-concurrency must be greater than 0")
    if ns.burstiness <= 0:
        raise BenchUsageError("--burstiness must be positive")
    if ns.request_rate <= 0:
        raise BenchUsageError("--request-rate must be positive (inf: all at once)")
    if ns.num_workers < 1:
        raise BenchUsageError("--num-workers must be at least 1")
    if ns.endpoint is None:
        ns.endpoint = TRITON_ENDPOINT if BACKENDS[ns.backend] == TRT else "/v1/completions"
    if BACKENDS[ns.backend] == TRT and not ns.endpoint.rstrip("/").endswith("generate_stream"):
        raise BenchUsageError("--backend tensorrt-llm posts to Triton's generate_stream: use "
                              "--endpoint /v2/models/MODEL/generate_stream")
    if BACKENDS[ns.backend] != TRT and "generate_stream" in ns.endpoint:
        raise BenchUsageError(f"--endpoint {ns.endpoint} is Triton's: use --backend tensorrt-llm")
    if BACKENDS[ns.backend] == TRT and ns.tokenize_mode == "server":
        raise BenchUsageError("--backend tensorrt-llm: Triton has no /tokenize; use --tokenize local "
                              "with --tokenizer DIR")
    chat_endpoint = ns.endpoint.rstrip("/").endswith("chat/completions")
    if BACKENDS[ns.backend] == "chat" and not chat_endpoint:
        raise BenchUsageError(f"--backend {ns.backend} needs a */chat/completions --endpoint")
    if BACKENDS[ns.backend] == "completions" and (chat_endpoint or not
                                                  ns.endpoint.rstrip("/").endswith("completions")):
        raise BenchUsageError(f"--backend {ns.backend} sends completions requests: use "
                              "--endpoint /v1/completions (or --backend openai-chat)")
    dataset = ns.dataset_name.replace("-", "_")
    if dataset in ("random", "prefix_repetition") and ns.dataset_path:
        raise BenchUsageError(f"--dataset-name {dataset} takes no --dataset-path")
    if dataset in ("sharegpt", "custom") and not ns.dataset_path:
        raise BenchUsageError(f"--dataset-name {dataset} needs --dataset-path")
    if ns.dataset_path and not os.path.isfile(ns.dataset_path):
        raise BenchUsageError(f"dataset file not found: {ns.dataset_path}")
    if ns.ramp_up_strategy is not None:
        if ns.request_rate != math.inf:
            raise BenchUsageError("--ramp-up-strategy replaces --request-rate; drop one")
        if ns.ramp_up_start_rps is None or ns.ramp_up_end_rps is None:
            raise BenchUsageError("--ramp-up-strategy needs --ramp-up-start-rps and --ramp-up-end-rps")
    try:
        rr: float | dict = float(ns.random_range_ratio)
    except ValueError:
        try:
            rr = json.loads(ns.random_range_ratio)
        except ValueError:
            raise BenchUsageError(f"--random-range-ratio: bad value {ns.random_range_ratio!r}") from None
    try:
        extra_body = json.loads(ns.extra_body) if ns.extra_body else {}
    except ValueError:
        raise BenchUsageError("--extra-body must be a JSON object") from None
    metrics = _csv(ns.percentile_metrics or "ttft,tpot,itl", str, "--percentile-metrics")
    for m in metrics:
        if m not in PERCENTILE_METRICS:
            raise BenchUsageError(f"--percentile-metrics: unknown metric {m!r}")
    sampling = {k: getattr(ns, k) for k in ("top_p", "top_k", "min_p", "temperature",
                                            "frequency_penalty", "presence_penalty",
                                            "repetition_penalty") if getattr(ns, k) is not None}
    cfg = BenchConfig(
        base_url=base_url.rstrip("/"), endpoint=ns.endpoint, backend=ns.backend, model=ns.model,
        served_model_name=ns.served_model_name, tokenizer=ns.tokenizer, label=ns.label,
        headers=_kv(ns.header, "--header"), dataset_name=dataset, dataset_path=ns.dataset_path,
        num_prompts=ns.num_prompts, seed=ns.seed, random_input_len=ns.random_input_len,
        random_output_len=ns.random_output_len, random_range_ratio=rr,
        random_prefix_len=ns.random_prefix_len,
        prefix_repetition_prefix_len=ns.prefix_repetition_prefix_len,
        prefix_repetition_suffix_len=ns.prefix_repetition_suffix_len,
        prefix_repetition_num_prefixes=ns.prefix_repetition_num_prefixes,
        prefix_repetition_output_len=ns.prefix_repetition_output_len,
        sharegpt_output_len=ns.sharegpt_output_len, custom_output_len=ns.custom_output_len,
        skip_chat_template=ns.skip_chat_template, disable_shuffle=ns.disable_shuffle,
        no_oversample=ns.no_oversample, request_id_prefix=ns.request_id_prefix or f"bench-{uuid.uuid4().hex[:8]}-",
        request_rate=ns.request_rate, burstiness=ns.burstiness,
        max_concurrency=ns.max_concurrency, num_warmups=ns.num_warmups,
        ready_check_timeout_sec=ns.ready_check_timeout_sec,
        ramp_up_strategy=ns.ramp_up_strategy, ramp_up_start_rps=ns.ramp_up_start_rps,
        ramp_up_end_rps=ns.ramp_up_end_rps, ignore_eos=ns.ignore_eos, logprobs=ns.logprobs,
        sampling=sampling, extra_body=extra_body, percentile_metrics=metrics,
        metric_percentiles=_csv(ns.metric_percentiles, float, "--metric-percentiles"),
        goodput=parse_goodput(ns.goodput), save_result=ns.save_result,
        save_detailed=ns.save_detailed, append_result=ns.append_result,
        result_dir=ns.result_dir, result_filename=ns.result_filename,
        metadata=_kv(ns.metadata, "--metadata"), disable_tqdm=ns.disable_tqdm,
        num_workers=ns.num_workers, request_timeout=ns.request_timeout,
        read_timeout=ns.read_timeout, prompt_salt=ns.prompt_salt,
        tokenize_mode=ns.tokenize_mode,
        sweep_concurrency=_csv(ns.sweep_concurrency or "", int, "--sweep-concurrency"),
        sweep_rate=_csv(ns.sweep_rate or "", float, "--sweep-rate"),
        sweep_slo_search=ns.sweep_slo_search, slo_attainment=ns.slo_attainment,
        saturation_gain=ns.saturation_gain,
    )
    # vLLM's general length flags map onto the dataset-specific ones.
    if ns.input_len is not None:
        cfg.random_input_len = ns.input_len
    if ns.output_len is not None:
        cfg.random_output_len = cfg.prefix_repetition_output_len = ns.output_len
        cfg.sharegpt_output_len = cfg.custom_output_len = ns.output_len
    # vLLM forces ignore_eos for the random dataset on OpenAI-compatible backends.
    if dataset == "random":
        cfg.ignore_eos = True
    if cfg.sweep_slo_search and not cfg.goodput:
        raise BenchUsageError("--sweep-slo-search needs --goodput SLOs")
    if cfg.sweep_concurrency and cfg.sweep_rate:
        raise BenchUsageError("choose one of --sweep-concurrency and --sweep-rate")
    return cfg
