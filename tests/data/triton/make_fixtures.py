"""Write the Triton fixtures iejtui cannot capture on this CPU box (run from this folder).

Each is an exposition page laid out exactly as Triton's prometheus-cpp prints one (labels
sorted, ``_count``/``_sum`` before the ``_bucket`` lines, ``le`` last; compare the real
2.51 captures ``triton-2.51-*.prom`` made by ``capture.py``), with families and labels
taken from the source that emits them:

* ``triton-trtllm-backend-{1,2}.prom``: Triton hosting TensorRT-LLM (the
  ``ensemble``/``preprocessing``/``tensorrt_llm``/``postprocessing`` repository) on an
  H100: core ``nv_inference_*`` per model, ``nv_cpu_*``, ``nv_gpu_*``/``nv_energy_consumption``
  (label ``gpu_uuid``, server ``docs/user_guide/metrics.md``) and the backend's custom
  families from NVIDIA/TensorRT-LLM ``triton_backend/inflight_batcher_llm/src/
  custom_metrics_reporter/custom_metrics_reporter.cc`` (commit 0d5352f5: request types
  active/max/scheduled/context/waiting; KV block types max/free/used/tokens_per/reused/
  fraction; disaggregated-serving counters; inflight-batcher and general gauges;
  ``nv_llm_{output,input}_token_len`` histograms, buckets 10/50/100/500/1000). The values
  follow the backend docs' example (6239 max blocks, 64 tokens per block); two scrapes
  10 s apart, the second under heavier load.
* ``triton-vllm-backend-{1,2}.prom``: Triton's vLLM backend, the families its stat logger
  re-exports (``triton-inference-server/vllm_backend`` ``src/utils/metrics.py`` at
  1e66a222: ``vllm:*`` counters, histograms with its bucket lists, the V0 gauge
  ``vllm:gpu_cache_usage_perc``; labels ``model``/``version``).
* ``triton-2.52-first-response-{1,2}.prom``: ``nv_inference_first_response_histogram_ms``,
  which Triton records from 2.52 (24.11; absent from 2.51's library) for *decoupled*
  models with ``--metrics-config histogram_latencies=true`` (server
  ``docs/user_guide/metrics.md`` "Histograms", default buckets 100/500/2000/5000 ms;
  ``qa/L0_metrics/histogram_metrics_test.py``).
"""

def fam(name, help_, typ, rows):
    return "\n".join([f"# HELP {name} {help_}", f"# TYPE {name} {typ}", *rows])


def lab(**kw):
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(kw.items())) + "}"


CORE = [("nv_inference_request_success", "Number of successful inference requests, all batch sizes", "counter", "success"),
        ("nv_inference_request_failure", "Number of failed inference requests, all batch sizes", "counter", "failure"),
        ("nv_inference_count", "Number of inferences performed (does not include cached requests)", "counter", "count"),
        ("nv_inference_exec_count", "Number of model executions performed (does not include cached requests)", "counter", "exec"),
        ("nv_inference_request_duration_us", "Cumulative inference request duration in microseconds (includes cached requests)", "counter", "req_us"),
        ("nv_inference_queue_duration_us", "Cumulative inference queuing duration in microseconds (includes cached requests)", "counter", "queue_us"),
        ("nv_inference_compute_input_duration_us", "Cumulative compute input duration in microseconds (does not include cached requests)", "counter", "in_us"),
        ("nv_inference_compute_infer_duration_us", "Cumulative compute inference duration in microseconds (does not include cached requests)", "counter", "infer_us"),
        ("nv_inference_compute_output_duration_us", "Cumulative inference compute output duration in microseconds (does not include cached requests)", "counter", "out_us"),
        ("nv_inference_pending_request_count", "Instantaneous number of pending requests awaiting execution per-model.", "gauge", "pending")]


def core(st):
    parts = []
    for name, h, t, key in CORE:
        rows = []
        for m, d in st.items():
            if key == "failure":
                rows += [f"{name}{lab(model=m, reason=r, version='1')} {d['fail'].get(r, 0)}"
                         for r in ("OTHER", "CANCELED", "BACKEND", "REJECTED")]
            else:
                rows.append(f"{name}{lab(model=m, version='1')} {d[key]}")
        parts.append(fam(name, h, t, rows))
    return parts


def cpu(util, used):
    return [fam("nv_cpu_utilization", "CPU utilization rate [0.0 - 1.0]", "gauge", [f"nv_cpu_utilization {util}"]),
            fam("nv_cpu_memory_total_bytes", "CPU total memory (RAM), in bytes", "gauge", ["nv_cpu_memory_total_bytes 2164154449920"]),
            fam("nv_cpu_memory_used_bytes", "CPU used memory (RAM), in bytes", "gauge", [f"nv_cpu_memory_used_bytes {used}"])]


GPU_UUID = "GPU-6d2a1b7e-3c41-5f0a-9e1d-2b7c4a8f9e01"


def gpu(st):
    g = f'{{gpu_uuid="{GPU_UUID}"}}'
    return [fam("nv_gpu_utilization", "GPU utilization rate [0.0 - 1.0)", "gauge", [f"nv_gpu_utilization{g} {st['util']}"]),
            fam("nv_gpu_memory_total_bytes", "GPU total memory, in bytes", "gauge", [f"nv_gpu_memory_total_bytes{g} 85520809984"]),
            fam("nv_gpu_memory_used_bytes", "GPU used memory, in bytes", "gauge", [f"nv_gpu_memory_used_bytes{g} {st['mem']}"]),
            fam("nv_gpu_power_usage", "GPU power usage in watts", "gauge", [f"nv_gpu_power_usage{g} {st['power']}"]),
            fam("nv_gpu_power_limit", "GPU power management limit in watts", "gauge", [f"nv_gpu_power_limit{g} 700"]),
            fam("nv_energy_consumption", "GPU energy consumption in joules since the Triton Server started", "counter",
                [f"nv_energy_consumption{g} {st['energy']}"])]


def hist(name, help_, labels, buckets, obs):
    inner = lab(**labels)[:-1]
    rows = [f"{name}_count{lab(**labels)} {len(obs)}", f"{name}_sum{lab(**labels)} {sum(obs):g}"]
    rows += [f'{name}_bucket{inner},le="{b:g}"}} {sum(1 for o in obs if o <= b)}' for b in buckets]
    rows.append(f'{name}_bucket{inner},le="+Inf"}} {len(obs)}')
    return fam(name, help_, "histogram", rows)


def trt(st):
    m = dict(model="tensorrt_llm", version="1")

    def g(name, h, sel, vals):
        return fam(name, h, "gauge", [f"{name}{lab(**m, **{sel: k})} {v:g}" for k, v in vals])
    return [g("nv_trt_llm_request_metrics", "TRT LLM request metrics", "request_type",
              [("active", st["active"]), ("max", 256), ("scheduled", st["scheduled"]), ("context", st["context"]),
               ("waiting", st["waiting"])]),
            g("nv_trt_llm_runtime_memory_metrics", "TRT LLM runtime memory metrics", "memory_type",
              [("cpu", 0), ("gpu", 1610236), ("pinned", 0)]),
            g("nv_trt_llm_kv_cache_block_metrics", "TRT LLM KV cache block metrics", "kv_cache_block_type",
              [("max", 6239), ("free", 6239 - st["used"]), ("used", st["used"]), ("tokens_per", 64),
               ("reused", st["reused"]), ("fraction", st["used"] / 6239)]),
            fam("nv_trt_llm_disaggregated_serving_metrics", "TRT LLM disaggregated serving metrics", "counter",
                [f"nv_trt_llm_disaggregated_serving_metrics{lab(**m, disaggregated_serving_type=k)} 0"
                 for k in ("kv_cache_transfer_ms", "request_count")]),
            g("nv_trt_llm_inflight_batcher_metrics", "TRT LLM inflight_batcher-specific metrics",
              "inflight_batcher_specific_metric",
              [("total_context_tokens", st["ctx_tokens"]), ("generation_requests", st["gen_reqs"]),
               ("micro_batch_id", 0), ("paused_requests", 0)]),
            g("nv_trt_llm_general_metrics", "General TRT LLM metrics", "general_type",
              [("timestamp", st["stamp"]), ("iteration_counter", st["iter"])]),
            hist("nv_llm_output_token_len", "TRT LLM response metrics", dict(**m, response_metric_type="total_output_tokens"),
                 [10, 50, 100, 500, 1000], st["out"]),
            hist("nv_llm_input_token_len", "TRT LLM response metrics", dict(**m, response_metric_type="total_input_tokens"),
                 [10, 50, 100, 500, 1000], st["inp"])]


def trt_core(n):
    st = {}
    for m in ("ensemble", "postprocessing", "preprocessing", "tensorrt_llm"):
        if m in ("preprocessing", "postprocessing"):
            st[m] = dict(success=n, fail={}, count=n, exec=n // 4, req_us=n * 2100, queue_us=n * 60,
                         in_us=n * 150, infer_us=n * 1700, out_us=n * 90, pending=0)
        else:
            st[m] = dict(success=n, fail={}, count=n, exec=n, req_us=n * 900000, queue_us=n * 1200,
                         in_us=n * 150, infer_us=n * 880000, out_us=n * 90, pending=0)
    return st


def vllm(st):
    m = dict(model="vllm_model", version="1")

    def c(n, h, v):
        return fam(n, h, "counter", [f"{n}{lab(**m)} {v:g}"])

    def gg(n, h, v):
        return fam(n, h, "gauge", [f"{n}{lab(**m)} {v:g}"])
    ttft_b = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0]
    tpot_b = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5]
    req_b = [0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0,
             480.0, 960.0, 1920.0, 7680.0]
    return [c("vllm:prompt_tokens_total", "Number of prefill tokens processed.", st["prompt"]),
            c("vllm:generation_tokens_total", "Number of generation tokens processed.", st["gen"]),
            c("vllm:num_preemptions_total", "Number of preemption tokens processed.", 0),
            hist("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", m, ttft_b, st["ttft"]),
            hist("vllm:time_per_output_token_seconds", "Histogram of time per output token in seconds.", m, tpot_b, st["tpot"]),
            hist("vllm:e2e_request_latency_seconds", "Histogram of end to end request latency in seconds.", m, req_b, st["e2e"]),
            hist("vllm:request_queue_time_seconds", "Histogram of time spent in WAITING phase for request.", m, req_b, st["queue"]),
            gg("vllm:num_requests_running", "Number of requests currently running on GPU.", st["running"]),
            gg("vllm:num_requests_waiting", "Number of requests waiting to be processed.", st["waiting"]),
            gg("vllm:gpu_cache_usage_perc", "GPU KV-cache usage. 1 means 100 percent usage.", st["kv"])]


def one_model(name, n, req_us, queue_us, infer_us):
    return {name: dict(success=n, fail={}, count=n, exec=n, req_us=n * req_us, queue_us=n * queue_us, in_us=n * 100,
                       infer_us=n * infer_us, out_us=n * 80, pending=0)}


def main():
    trt_a = dict(active=2, scheduled=2, context=0, waiting=0, used=139, reused=0, ctx_tokens=0, gen_reqs=2,
                 stamp=1796611500000000, iter=1800, out=[128] * 40, inp=[96] * 40, util=0.62, mem=70123456512,
                 power=402.5, energy=151234.0)
    trt_b = dict(active=16, scheduled=16, context=3, waiting=5, used=1560, reused=220, ctx_tokens=1536, gen_reqs=13,
                 stamp=1796611510000000, iter=2300, out=[128] * 40 + [256] * 30, inp=[96] * 40 + [512] * 30,
                 util=0.97, mem=70223456512, power=655.0, energy=156934.0)
    for i, (n, st, c) in enumerate(((40, trt_a, 0.07), (70, trt_b, 0.11)), 1):
        parts = core(trt_core(n)) + cpu(c, 99876543210 + i) + gpu(st) + trt(st)
        open(f"triton-trtllm-backend-{i}.prom", "w").write("\n".join(parts) + "\n")
    v_a = dict(prompt=4000, gen=8000, ttft=[0.03] * 50, tpot=[0.02] * 1000, e2e=[1.2] * 50, queue=[0.01] * 50,
               running=4, waiting=0, kv=0.05)
    v_b = dict(prompt=9000, gen=20000, ttft=[0.03] * 50 + [0.07] * 40 + [0.3] * 10, tpot=[0.02] * 2000,
               e2e=[1.2] * 100, queue=[0.01] * 100, running=12, waiting=2, kv=0.31)
    for i, (n, st) in enumerate(((50, v_a), (100, v_b)), 1):
        parts = core(one_model("vllm_model", n, 1200000, 400, 1190000)) + cpu(0.05, 8123456789) + vllm(st)
        open(f"triton-vllm-backend-{i}.prom", "w").write("\n".join(parts) + "\n")
    for i, (n, obs) in enumerate(((10, [40] * 10), (40, [40] * 30 + [300] * 9 + [2500])), 1):
        fr = hist("nv_inference_first_response_histogram_ms", "Duration from request to first response in milliseconds",
                  dict(model="echo_stream", version="1"), [100, 500, 2000, 5000], obs)
        parts = core(one_model("echo_stream", n, 100000, 90, 99000)) + cpu(0.05, 3123456789) + [fr]
        open(f"triton-2.52-first-response-{i}.prom", "w").write("\n".join(parts) + "\n")


if __name__ == "__main__":
    main()
