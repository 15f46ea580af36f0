"""Pure read-time maths on stored raw samples (no I/O, no Textual, no SQLite).

counters   increase / rate / sliding rate of counters, resets handled
gauges     latest / peak / mean of gauges over a window
histograms Prometheus classic histograms: delta, merge, quantile, windows
downsample time-bucket reduction for plots
series     the store's read contract (SeriesGetter) and histogram assembly
metric_map per-engine alias tables (vLLM V1 → V0 names)
engine     canonical engine figures (EngineFigures) over a window
"""
