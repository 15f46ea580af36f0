"""The rules, as data. Sources and thresholds:

* ``vllmstat``: its config advisor (``src/vllmstat/core/advisor.py``). It has no durations;
  the ``for:`` given here (``PEER_FOR_S``, 15 s: fifteen 1 Hz evaluations in a row) is ours,
  so one bad scrape does not raise a finding while a real condition is said within seconds.
* ``llm-d``: ``docs/monitoring/prometheus-alerting-rules.yaml`` (warning and critical rules
  that apply to one box), thresholds and ``for:`` as written there.
* ``iejtui``: rules only a tool holding GPU truth, the launch command and the client's own
  view can have (see /work/shared/reference/advisor-and-triton.md §4 for the reasoning).

Users override ``threshold``/``for``/``severity`` or disable a rule in iejtui.toml
(``[advisor.rules.ID]``, see ``iejtui.advisor.overrides``). GPU rules read GPM signals
(SM-active, tensor, DRAM), never "GPU utilization" alone: on an H100 one single-thread
kernel reads 100 % utilization with 0.76 % of the SMs active (tests/data/nvml-h100-phases.json).
"""

from __future__ import annotations

from iejtui.advisor.model import Cond, Knob, Rule

MIN = 60.0
PEER_FOR_S = 15.0  # our duration for vllmstat's duration-less rules

SEQS_LOWER = Knob("--max-num-seqs", "lower_seqs", note="fewer sequences at once fit the KV cache")
SEQS_RAISE = Knob("--max-num-seqs", "raise_seqs", note="more sequences per batch (and client concurrency)")
GPU_MEM = Knob("--gpu-memory-utilization", "raise_gpu_mem", default="0.9",
               note="more GPU memory for the KV cache")
BLOCKS = Knob("--num-gpu-blocks-override", "double", note="a bigger KV cache (the launch fixes its block count)")
KV_SPACE = (GPU_MEM, BLOCKS)
EAGER = Knob("--enforce-eager", "remove", default="off",
              note="CUDA graphs cut per-step launch overhead; with them on already, look at the host CPU and the client")
PREFIX = Knob("--enable-prefix-caching", "enable", note="reuse KV of shared prompt prefixes")
MODEL_LEN = Knob("--max-model-len", None, note="requests longer than this are cut")

RULES: tuple[Rule, ...] = (
    # ---- vllmstat ---------------------------------------------------------------------
    Rule("preemptions", "Preempting", (Cond("preemptions_per_s", ">=", 0.05),),
         PEER_FOR_S, "critical",
         "{value:.2f} preemptions/s (peak {peak:.2f}) with up to {running:.0f} running: the KV cache is too small for the batch",
         "a preempted request is recomputed from scratch: throughput drops and latency spikes",
         "vllmstat", SEQS_LOWER, context=("running",), family="preempt"),
    Rule("length-cut", "Completions cut at the length cap",
         (Cond("length_cut_pct", ">=", 20.0),), PEER_FOR_S, "warning",
         "{value:.0f} % of requests ended before the tokens they asked for (peak {peak:.0f} %)",
         "prompt + max_tokens above --max-model-len is clamped silently; those answers are truncated",
         "vllmstat", MODEL_LEN, family="length"),
    Rule("length-cut-most", "Most completions cut at the length cap",
         (Cond("length_cut_pct", ">=", 50.0),), PEER_FOR_S, "critical",
         "{value:.0f} % of requests ended before the tokens they asked for (peak {peak:.0f} %)",
         "prompt + max_tokens above --max-model-len is clamped silently; most answers are truncated",
         "vllmstat", MODEL_LEN, family="length"),
    Rule("errors", "Requests failing", (Cond("error_share_pct", ">=", 2.0),), PEER_FOR_S, "critical",
         "{value:.1f} % of finished requests ended in error or abort (peak {peak:.1f} %)",
         "the engine refuses or aborts requests: read its log (iejtui engine logs NAME)", "vllmstat", family="errors"),
    Rule("queue-backlog", "Requests queueing", (Cond("waiting", ">=", 2.0),),
         PEER_FOR_S, "warning",
         "{value:.0f} requests waiting (peak {peak:.0f}) behind {running:.0f} running",
         "a request waits for a batch slot before its first token, so TTFT grows with the queue",
         "vllmstat", SEQS_RAISE, context=("running", "kv_usage_pct"), family="queue"),
    Rule("spec-decode-low", "Speculative decoding rarely accepted", (Cond("spec_accept_pct", "<", 30.0),),
         PEER_FOR_S, "warning", "{value:.0f} % of draft tokens accepted (lowest {peak:.0f} %)",
         "below ~30 % the draft model costs more than it saves", "vllmstat",
         Knob("--speculative-config", None, note="a better-matched draft model, or none"), peak="min"),
    Rule("gpu-memory-share-low", "GPU memory under-committed", (Cond("arg_gpu_memory_utilization", "<", 0.85),),
         PEER_FOR_S, "info", "--gpu-memory-utilization {value:g}: part of the GPU's memory is left out of the KV cache",
         "a bigger KV cache holds more sequences before preempting", "vllmstat", GPU_MEM),
    Rule("prefix-caching-off", "Prefix caching off", (Cond("arg_prefix_caching_off", ">=", 1.0),), PEER_FOR_S, "info",
         "prefix caching is switched off at launch", "shared-prefix workloads (system prompts, chat) recompute them",
         "vllmstat", PREFIX),
    Rule("eager-mode", "CUDA graphs off", (Cond("arg_enforce_eager", ">=", 1.0),), PEER_FOR_S, "info",
         "--enforce-eager: every decode step launches its kernels one by one",
         "CUDA graphs remove most per-step launch overhead (eager is for debugging)", "iejtui", EAGER),
    Rule("gpu-hot", "GPU hot", (Cond("temp_c", ">=", 85.0),), PEER_FOR_S, "warning",
         "GPU at {value:.0f} °C (peak {peak:.0f} °C)", "above ~85 °C the GPU slows its clocks to cool",
         "vllmstat", scope="gpu"),
    Rule("gpu-power-cap", "GPU at its power limit", (Cond("power_pct_of_limit", ">=", 98.0),), PEER_FOR_S, "warning",
         "board power at {value:.0f} % of its limit (peak {peak:.0f} %)",
         "at the cap the GPU trades clock speed for watts", "vllmstat", scope="gpu"),
    # ---- llm-d ------------------------------------------------------------------------
    Rule("ttft-extreme", "Extreme TTFT", (Cond("ttft_p99_s", ">", 30.0),), 5 * MIN, "critical",
         "p99 TTFT {value:.1f} s (peak {peak:.1f} s)", "users wait half a minute for a first token", "llm-d", family="ttft"),
    Rule("ttft-high", "High TTFT", (Cond("ttft_p99_s", ">", 10.0),), 10 * MIN, "warning",
         "p99 TTFT {value:.1f} s (peak {peak:.1f} s)", "prefill or queueing dominates latency", "llm-d", family="ttft"),
    Rule("e2e-high", "High request latency", (Cond("e2e_p99_s", ">", 10.0),), 10 * MIN, "warning",
         "p99 end-to-end latency {value:.1f} s (peak {peak:.1f} s)", "long requests or an overloaded engine", "llm-d"),
    Rule("preemptions-high", "Preemption storm", (Cond("preemptions_per_s", ">", 1.0),),
         5 * MIN, "warning", "{value:.1f} preemptions/s (peak {peak:.1f}) with up to {running:.0f} running",
         "the KV cache cannot hold the running batch", "llm-d", SEQS_LOWER, context=("running",), family="preempt"),
    Rule("kv-saturated", "KV cache saturated", (Cond("kv_usage_pct", ">", 90.0),), 10 * MIN, "warning",
         "KV cache {value:.0f} % full (peak {peak:.0f} %)", "new requests wait for blocks or preempt running ones",
         "llm-d", KV_SPACE, family="kv"),
    Rule("queue-buildup", "Queue building up", (Cond("waiting", ">", 50.0),),
         5 * MIN, "warning", "{value:.0f} requests waiting (peak {peak:.0f})",
         "demand exceeds what the engine schedules at once", "llm-d", SEQS_RAISE, context=("running", "kv_usage_pct"), family="queue"),
    # llm-d warns; iejtui says info: the server cannot tell whether the workload shares prefixes
    # at all (a random-prompt benchmark hits 0 % by construction).
    Rule("prefix-hit-low", "Prefix cache rarely hits", (Cond("prefix_hit_pct", "<", 30.0),), 15 * MIN, "info",
         "{value:.0f} % of prompt tokens found in the prefix cache (lowest {peak:.0f} %)",
         "shared prefixes are not being reused (workload, or routing across replicas)", "llm-d", peak="min"),
    Rule("errors-elevated", "Error rate elevated", (Cond("error_share_pct", ">", 1.0),), 10 * MIN, "warning",
         "{value:.1f} % of requests failing (peak {peak:.1f} %)", "see the engine log", "llm-d", family="errors"),
    Rule("errors-high", "Error rate high", (Cond("error_share_pct", ">", 5.0),), 2 * MIN, "critical",
         "{value:.1f} % of requests failing (peak {peak:.1f} %)", "see the engine log", "llm-d", family="errors"),
    Rule("gpu-underused", "GPU under-used while serving",
         (Cond("kernel_active_pct", "<", 30.0), Cond("running", ">", 0)), 30 * MIN, "warning",
         "kernels run {value:.0f} % of the time while {running:.0f} requests run",
         "llm-d's rule (DCGM_FI_DEV_GPU_UTIL < 30); iejtui only raises it while requests run",
         "llm-d", SEQS_RAISE, scope="gpu", peak="min"),
    # ---- iejtui: GPU truth joined with what we launched --------------------------------
    Rule("launch-bound", "Launch/host-bound",
         (Cond("sm_per_kernel_pct", "<", 25.0), Cond("kernel_active_pct", ">=", 5.0),
          Cond("kernel_active_pct", "<", 80.0)), 30.0, "warning",
         "kernels run {kernel_active_pct:.0f} % of the time but fill {sm_active_pct:.2f} % of the SMs: "
         "the GPU waits for the host between many short kernels",
         "per-step CPU work (scheduling, Python, launches) leaves the GPU idle between kernels",
         "iejtui", EAGER, scope="gpu", peak="min", context=("sm_active_pct",)),
    # the profiler's view of the same thing: gaps between kernels on the GPU stream, measured
    # from the trace of a profiled window (``bench --profile``), not inferred from NVML shares
    Rule("launch-bound-profile", "Launch/host-bound (profiler)",
         (Cond("profile_gpu_idle_pct", ">=", 30.0),), 2.0, "warning",
         "the profiler saw the GPU idle {value:.0f} % of its window between kernels: the host does not keep it fed",
         "per-step CPU work (scheduling, Python, kernel launches) leaves gaps on the GPU stream; "
         "the profile's top operators show where the host spends the time",
         "iejtui", EAGER),
    Rule("under-filled", "GPU under-filled",
         (Cond("sm_per_kernel_pct", "<", 25.0), Cond("kernel_active_pct", ">=", 80.0)), 30.0, "warning",
         "a kernel runs {kernel_active_pct:.0f} % of the time on {sm_active_pct:.2f} % of the SMs: the batch is too small to fill the GPU",
         "'GPU utilization' reads busy while most SMs idle; a bigger batch uses them",
         "iejtui", SEQS_RAISE, scope="gpu", peak="min", context=("sm_active_pct",)),
    Rule("compute-bound", "Compute-bound",
         (Cond("sm_active_pct", ">=", 80.0), Cond("tensor_active_pct", ">=", 50.0)), 30.0, "info",
         "SM-active {value:.0f} %, tensor {tensor_active_pct:.0f} %: the GPU's math units are the limit",
         "more throughput needs less math (quantization, a smaller model) or more GPUs", "iejtui", scope="gpu"),
    Rule("memory-bound", "Memory-bandwidth-bound",
         (Cond("dram_active_pct", ">=", 60.0), Cond("tensor_active_pct", "<", 30.0)), 30.0, "info",
         "DRAM {value:.0f} % busy with tensor {tensor_active_pct:.0f} %: decode streams weights and KV",
         "decode reads every weight per step; larger batches or quantized weights/KV amortize it",
         "iejtui", SEQS_RAISE, scope="gpu"),
    Rule("kv-bound", "KV-bound (preempting)",
         (Cond("kv_usage_pct", ">=", 90.0), Cond("preemptions_per_s", ">", 0.0)),
         10.0, "critical",
         "KV cache {value:.0f} % full and preempting {preemptions_per_s:.2f}/s with {running:.0f} running",
         "the batch does not fit the KV cache: requests are evicted and recomputed",
         "iejtui", SEQS_LOWER, context=("running",)),
    Rule("kv-bound-queue", "KV-bound (queueing)",
         (Cond("kv_usage_pct", ">=", 90.0), Cond("waiting", ">=", 1.0)), 10.0, "warning",
         "KV cache {value:.0f} % full with {waiting:.0f} waiting behind {running:.0f} running",
         "requests wait for KV blocks, not for batch slots", "iejtui", KV_SPACE, context=("running",), family="kv"),
    Rule("throttled-power", "Throttled by power",
         (Cond("throttle_power", ">=", 1.0), Cond("kernel_active_pct", ">=", 50.0)),
         10.0, "warning", "clocks held {clock_drop_pct:.0f} % below maximum by the power cap while busy",
         "the GPU runs slower than its rated clock; figures from this window understate it",
         "iejtui", scope="gpu", context=("clock_drop_pct",)),
    Rule("throttled-thermal", "Throttled by heat",
         (Cond("throttle_thermal", ">=", 1.0), Cond("kernel_active_pct", ">=", 50.0)),
         10.0, "warning", "clocks held {clock_drop_pct:.0f} % below maximum by a thermal slowdown while busy",
         "cooling cannot keep up; figures from this window understate the GPU", "iejtui", scope="gpu",
         context=("clock_drop_pct",)),
    Rule("queue-grows-capacity", "Queue grows, TPOT stable: out of capacity",
         (Cond("waiting_slope_per_s", ">=", 0.1), Cond("itl_change_pct", "<=", 10.0), Cond("itl_change_pct", ">=", -10.0),
          Cond("waiting", ">=", 1.0)), 10.0, "warning",
         "the queue grows {value:.2f} requests/s while inter-token latency holds ({itl_change_pct:+.0f} %)",
         "each request runs as fast as before; there are simply more than the engine takes at once",
         "iejtui", SEQS_RAISE),
    Rule("tpot-grows-context", "TPOT grows, queue stable: context or model",
         (Cond("itl_change_pct", ">=", 25.0), Cond("waiting_slope_per_s", "<", 0.05), Cond("waiting_slope_per_s", ">", -0.05),
          Cond("running_change_pct", "<=", 10.0), Cond("running_change_pct", ">=", -10.0)),
         10.0, "warning",
         "inter-token latency rose {value:.0f} % over the trend window while the queue and the batch held",
         "longer contexts (or a heavier model step) slow every token; a bigger batch would too, "
         "so the rule needs the running batch steady", "iejtui"),
)

BY_ID = {r.id: r for r in RULES}
