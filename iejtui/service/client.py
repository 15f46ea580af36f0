"""Moved to ``iejtui.client`` (the typed service client owns the verified connection and
service.json discovery); this name stays for the tests that call the raw transport."""

from iejtui.client.transport import API, VerifiedUnixConnector, call, call_async  # noqa: F401
