"""Read-time maths on stored raw samples (no Textual, no SQLite: samples come through a
``SeriesGetter`` or the store's ``Reader``, never a connection).

counters   increase / rate / sliding rate of counters, resets handled
gauges     latest / peak / mean of gauges over a window
histograms Prometheus classic histograms: delta, merge, quantile, windows
downsample time-bucket reduction for plots
series     the store's read contract (SeriesGetter) and histogram assembly
metric_map per-engine alias tables (vLLM V1 → V0 names)
engine     canonical engine figures (EngineFigures) over a window
gpu        per-GPU and total figures of a run's window, from the host GPU recording
gpu_window the per-tick GPU series of a run's window (charts, metrics.json) and token rates
client_server a bench's client figures beside the engine's histograms; the client-bound verdict
steady     a bench's steady state (printed warm-up rule) and its steady-window figures
"""
