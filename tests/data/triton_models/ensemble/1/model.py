"""TensorRT-LLM's ``ensemble`` contract served by the tiny Llama on CPU (Triton Python backend).

Decoupled: with ``stream`` true every generated token goes out as its own response (its
text delta in ``text_output``), so first response == first token; with ``stream`` false
(TensorRT-LLM's default) one response carries the whole text. Requests that arrive
together (Triton's dynamic batcher hands them over as one ``execute`` call) are generated
together, one token for each in turn, so every stream advances at the same pace. There is
no in-flight batching (one instance, ``execute`` returns when its batch is done): a request
arriving mid-batch waits in Triton's queue (``nv_inference_queue_duration_us``) for the next.

Runs in the stub's Python: torch and transformers come from the CPU engine venv (see
``iejtui.demo.triton_env``). The model folder is ``$IEJTUI_TINY_MODEL``, else the cache's
``models/tiny-llama-v1``. Greedy decoding unless ``temperature`` > 0; ``min_tokens``
(or ``min_length``, as a parameter or input) keeps end-of-sequence masked until reached.
"""
import json
import os
import sys
import threading

# The stub's interpreter runs isolated (PYTHONPATH is ignored): the launcher names the
# folders to put first in IEJTUI_TRITON_PYTHONPATH -- numpy<2 for the stub (its pybind11
# reads numpy 1's C structures: numpy 2 garbles every tensor it hands over), then the CPU
# engine venv's site-packages (torch, transformers).
for _p in reversed([p for p in os.environ.get("IEJTUI_TRITON_PYTHONPATH", "").split(os.pathsep) if p]):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import numpy as np  # noqa: E402
import triton_python_backend_utils as pb_utils  # noqa: E402


def _model_dir():
    if os.environ.get("IEJTUI_TINY_MODEL"):
        return os.environ["IEJTUI_TINY_MODEL"]
    root = os.environ.get("IEJTUI_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "iejtui")
    return os.path.join(root, "models", "tiny-llama-v1")


def _scalar(request, name, default=None):
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    if tensor is None:
        return default
    arr = tensor.as_numpy().reshape(-1)
    if arr.size == 0:
        return default
    value = arr[0]
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value.item()


def _params(request):
    try:
        return json.loads(request.parameters() or "{}")
    except (AttributeError, ValueError):
        return {}


class _Stream:
    """One request being generated."""

    def __init__(self, request, tokenizer, torch):
        prompt = _scalar(request, "text_input", "")
        params = _params(request)
        self.sender = request.get_response_sender()
        self.stream = bool(_scalar(request, "stream", False))
        self.max_tokens = int(_scalar(request, "max_tokens", 16))
        self.min_tokens = int(_scalar(request, "min_tokens", None)
                              or _scalar(request, "min_length", None)
                              or params.get("min_tokens") or params.get("min_length") or 0)
        self.temperature = float(_scalar(request, "temperature", 0.0) or 0.0)
        ids = tokenizer(prompt, add_special_tokens=False)["input_ids"] or [tokenizer.bos_token_id]
        self.next_input = torch.tensor([ids], dtype=torch.long)
        self.past = None
        self.generated = []
        self.sent = ""
        self.done = self.max_tokens <= 0

    def text_output(self, text):
        return pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(
            "text_output", np.array([[text.encode("utf-8")]], dtype=np.object_))])


class TritonPythonModel:
    def initialize(self, args):
        import torch
        from transformers import AutoTokenizer, LlamaForCausalLM

        torch.set_num_threads(int(os.environ.get("IEJTUI_TRITON_TORCH_THREADS", "1")))
        self.torch = torch
        path = _model_dir()
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = LlamaForCausalLM.from_pretrained(path, torch_dtype=torch.float32).eval()
        self.eos = self.tokenizer.eos_token_id
        self.lock = threading.Lock()
        pb_utils.Logger.log_info(f"ensemble: tiny Llama from {path} on CPU")

    def _step(self, s):
        torch = self.torch
        with torch.no_grad():
            out = self.model(input_ids=s.next_input, past_key_values=s.past, use_cache=True)
        s.past = out.past_key_values
        logits = out.logits[0, -1].float()
        if len(s.generated) < s.min_tokens and self.eos is not None:
            logits[self.eos] = float("-inf")
        if s.temperature > 0:
            token = int(torch.multinomial(torch.softmax(logits / s.temperature, -1), 1))
        else:
            token = int(torch.argmax(logits))
        s.next_input = torch.tensor([[token]], dtype=torch.long)
        if token == self.eos:
            s.done = True
            return ""
        s.generated.append(token)
        text = self.tokenizer.decode(s.generated, skip_special_tokens=True)
        if text.endswith("\ufffd"):  # half of a multi-byte character: wait for the rest
            delta = ""
        else:
            delta, s.sent = text[len(s.sent):], text
        if len(s.generated) >= s.max_tokens:
            s.done = True
        return delta

    def execute(self, requests):
        streams = []
        for request in requests:
            try:
                streams.append(_Stream(request, self.tokenizer, self.torch))
            except Exception as exc:  # noqa: BLE001 -- a bad request fails alone
                request.get_response_sender().send(
                    pb_utils.InferenceResponse(error=pb_utils.TritonError(f"bad request: {exc}")),
                    flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
        final = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL
        with self.lock:
            while any(not s.done for s in streams):
                for s in streams:
                    if s.done:
                        continue
                    delta = self._step(s)
                    if s.stream and delta:
                        s.sender.send(s.text_output(delta))
                    if s.done:
                        if not s.stream:
                            s.sender.send(s.text_output(s.sent))
                        s.sender.send(flags=final)
            for s in streams:
                if s.max_tokens <= 0:
                    if not s.stream:
                        s.sender.send(s.text_output(""))
                    s.sender.send(flags=final)
        return None

    def finalize(self):
        self.model = None
