"""Echo model (Triton Python backend): OUTPUT0 = INPUT0, after ``delay_ms`` per execution.

numpy only, FP32 tensors (no TYPE_STRING): the metrics tests need Triton's counters to move,
not a language model. A request whose first value is -1 gets an error response (Triton 2.51
still counts it in ``nv_inference_request_success``: the execution succeeded); a batch
holding a request whose first value is <= -2 raises in ``execute``, which Triton counts as
``nv_inference_request_failure{reason="BACKEND"}`` for every request of that batch.
"""

import json
import os
import sys
import time

# The stub starts its interpreter isolated (PYTHONPATH stays in os.environ but not in
# sys.path, seen with tritonserver 2.51): add the launcher's PYTHONPATH (the CPU engine
# venv's site-packages, which has numpy) by hand before importing numpy.
for _entry in reversed(os.environ.get("PYTHONPATH", "").split(os.pathsep)):
    if _entry and _entry not in sys.path:
        sys.path.insert(0, _entry)

import numpy as np  # noqa: E402
import triton_python_backend_utils as pb_utils  # noqa: E402


class TritonPythonModel:
    def initialize(self, args):
        params = json.loads(args["model_config"]).get("parameters", {})
        self.delay_s = float(params.get("delay_ms", {}).get("string_value", "0")) / 1000.0

    def execute(self, requests):
        firsts = [pb_utils.get_input_tensor_by_name(r, "INPUT0").as_numpy().flat[0] for r in requests]
        if any(float(v) <= -2 for v in firsts):
            raise pb_utils.TritonModelException("asked to fail (INPUT0[0] <= -2)")
        if self.delay_s:
            time.sleep(self.delay_s)
        responses = []
        for request in requests:
            data = pb_utils.get_input_tensor_by_name(request, "INPUT0").as_numpy()
            if data.size and float(data.flat[0]) < 0:  # -1: an error response
                responses.append(pb_utils.InferenceResponse(
                    output_tensors=[], error=pb_utils.TritonError("negative input")))
                continue
            out = pb_utils.Tensor("OUTPUT0", data.astype(np.float32))
            responses.append(pb_utils.InferenceResponse(output_tensors=[out]))
        return responses
