"""The known-timing model (Triton Python backend, decoupled).

For each request it streams N = ``max_tokens`` responses, each one ``text_output`` chunk
of ``chunk_text`` (default " the": one token for Llama/GPT-2-style BPE tokenizers, so
the client's token count is N): the first ``first_chunk_delay_ms`` after the request
reached the model, then one every ``chunk_gap_ms``.  Chunk i is sent at the absolute time
``t0 + delay + i * gap`` (not after a relative sleep), so scheduling noise does not add
up along a stream.  The three values come from the config's ``parameters`` and may be
overridden per request by request parameters of the same names.

Each request is served by its own thread, so concurrent requests overlap as in a real
streaming engine; ``execute`` returns at once (decoupled mode).  The last chunk carries
the COMPLETE_FINAL flag, so the stream ends without an empty extra response.  The model
reads no tensor it does not need (only ``max_tokens``), keeping the stub's numpy use
minimal.

The stub's Python runs isolated (PYTHONPATH is ignored) and needs numpy < 2 (see
``tests/triton_server.py``): the launcher names the folders to put first on ``sys.path``
in ``IEJTUI_TRITON_PYTHONPATH`` (the demo's Triton launcher) or ``PYTHONPATH`` (which
reaches the stub's ``os.environ`` but not its ``sys.path``; tests/triton_env.py).
"""

import json
import os
import sys
import threading
import time

_FIRST = os.pathsep.join(os.environ.get(k, "") for k in ("IEJTUI_TRITON_PYTHONPATH", "PYTHONPATH"))
for _p in reversed([p for p in _FIRST.split(os.pathsep) if p]):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import numpy as np  # noqa: E402
import triton_python_backend_utils as pb_utils  # noqa: E402


def _params(defaults: dict, request) -> dict:
    out = dict(defaults)
    try:
        given = json.loads(request.parameters() or "{}")
    except ValueError:
        given = {}
    for k in out:
        if k in given:
            out[k] = given[k]
    return out


class TritonPythonModel:
    def initialize(self, args):
        cfg = json.loads(args["model_config"])
        p = cfg.get("parameters", {})
        self.defaults = {k: p[k]["string_value"] for k in
                         ("first_chunk_delay_ms", "chunk_gap_ms", "chunk_text") if k in p}
        self.threads = []

    def _stream(self, request, t0: float) -> None:
        sender = request.get_response_sender()
        try:
            p = _params(self.defaults, request)
            delay = float(p.get("first_chunk_delay_ms", 0)) / 1000.0
            gap = float(p.get("chunk_gap_ms", 0)) / 1000.0
            text = str(p.get("chunk_text", " the"))
            mt = pb_utils.get_input_tensor_by_name(request, "max_tokens")
            n = max(1, int(mt.as_numpy().reshape(-1)[0])) if mt is not None else 1
            out = np.array([text.encode()], dtype=np.object_)
            for i in range(n):
                wait = t0 + delay + i * gap - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                resp = pb_utils.InferenceResponse(
                    output_tensors=[pb_utils.Tensor("text_output", out)])
                flags = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL if i == n - 1 else 0
                sender.send(resp, flags=flags)
        except Exception as exc:  # report it on the stream, then end it
            sender.send(pb_utils.InferenceResponse(error=pb_utils.TritonError(str(exc))),
                        flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)

    def execute(self, requests):
        t0 = time.monotonic()
        self.threads = [t for t in self.threads if t.is_alive()]
        for request in requests:
            t = threading.Thread(target=self._stream, args=(request, t0), daemon=True)
            t.start()
            self.threads.append(t)
        return None

    def finalize(self):
        for t in self.threads:
            t.join(timeout=5)
