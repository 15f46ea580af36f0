"""Any OpenAI-compatible endpoint (a hosted API, a proxy, an engine iejtui has no adapter
for): ready when ``GET /v1/models`` answers 200; no metrics endpoint is assumed."""

from __future__ import annotations

from collectors.engines.base import EngineAdapter, ReadyState


class OpenAIAdapter(EngineAdapter):
    kind = "openai"
    default_port = None  # unknown program: only an explicit --port gives a URL
    health_path = "/v1/models"
    metrics_path = None

    def classify_health(self, status: int, body: bytes) -> ReadyState:
        if status == 200:
            return ReadyState("ready", "", status)
        if status in (401, 403):  # it answers; the key is the client's business
            return ReadyState("ready", f"HTTP {status}: /v1/models needs an API key", status)
        if status in (502, 503, 504):  # loading, or a proxy in front of a loading server
            return ReadyState("loading", f"HTTP {status} (starting)", status)
        if status == 404:
            return ReadyState("error", "HTTP 404 for /v1/models: not an OpenAI-compatible "
                              "server at this URL?", status)
        return ReadyState("error", f"HTTP {status} from /v1/models", status)
