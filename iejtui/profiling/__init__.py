"""Profiling: the torch-profiler (and nsys) window of a bench or profile run, and its summary.

``summary`` (pure) reads kineto traces; ``nsys`` (pure) reads ``nsys stats`` CSV;
``files`` finds, sizes and moves a run's trace files.
"""
