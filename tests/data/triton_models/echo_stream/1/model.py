"""Streaming echo (Triton Python backend, decoupled): INPUT0[0] responses of OUTPUT0 = INPUT0.

The first response after ``first_delay_ms``, then one every ``gap_ms``, then the final
flag. numpy only, FP32 tensors; see ``echo/1/model.py`` for why PYTHONPATH is added by hand.
"""

import json
import os
import sys
import time

for _entry in reversed(os.environ.get("PYTHONPATH", "").split(os.pathsep)):
    if _entry and _entry not in sys.path:
        sys.path.insert(0, _entry)

import numpy as np  # noqa: E402
import triton_python_backend_utils as pb_utils  # noqa: E402


class TritonPythonModel:
    def initialize(self, args):
        params = json.loads(args["model_config"]).get("parameters", {})
        self.first_s = float(params.get("first_delay_ms", {}).get("string_value", "0")) / 1000.0
        self.gap_s = float(params.get("gap_ms", {}).get("string_value", "0")) / 1000.0

    def execute(self, requests):
        for request in requests:
            sender = request.get_response_sender()
            data = pb_utils.get_input_tensor_by_name(request, "INPUT0").as_numpy().astype(np.float32)
            count = max(1, int(data.flat[0])) if data.size else 1
            time.sleep(self.first_s)
            for i in range(count):
                if i:
                    time.sleep(self.gap_s)
                sender.send(pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("OUTPUT0", data)]))
            sender.send(flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)
        return None
