"""The fleet: iejtui's figures on a Prometheus endpoint, and many hosts read back from Prometheus.

names       the exported vocabulary (DCGM-aligned GPU fields, canonical engine figures)
exposition  pure: canonical metric families from a service's newest samples
promql      the Prometheus HTTP API client (aiohttp, timeouts, load accounting)
model       pure: PromQL results -> hosts, GPU panels, engine panels (the local view models)
view        the refresh: which queries a visible page of the fleet needs
importer    a host's window from Prometheus as frames of a local ``imported`` run

No Textual and no SQLite here (the service writes; the UI draws).
"""
