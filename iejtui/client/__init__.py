"""The typed service client: how the CLI, the TUI and the journal talk to the service.

``ServiceClient`` (one method per route), the request dataclasses the API shares, the
verified unix-socket connection and ``service.json`` discovery (``sockets``), and the one
place an error answer becomes ``UserError``/``ServiceError`` (``transport.raise_for_reply``).
Importing this package does not import aiohttp (the transport loads on the first call).
"""

from iejtui.client.requests import (BenchRequest, DeleteRequest, EngineRequest, ImportRequest, MatrixRequest,  # noqa: F401
                                    ProfileRequest, RecordingRequest, StopRequest, TagRequest)
from iejtui.client.service_client import ServiceClient  # noqa: F401
from iejtui.client.launch import ensure_service  # noqa: F401
from iejtui.client.sockets import service_running  # noqa: F401
