"""Moved to ``iejtui.client.validate`` (the request checks travel with the typed requests the
client and the API share); this name stays for the tests and callers that import it here."""

from iejtui.client.validate import (bench_request, engine_request, import_request, log_lines,  # noqa: F401
                                    matrix_request, recording_request, stop_request)
