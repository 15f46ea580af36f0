"""The benchmark matrix: engine variants × workloads × load points × repetitions, from one file.

``spec``      the matrix file (TOML): parsing, validation (``file:line: what``), grid expansion
``estimate``  how long a grid will take, from the journal's history when it has some
``state``     the resumable cell states a matrix run keeps in its run row's ``facts``
``figures``   per-cell figures (throughput, latency percentiles, goodput per SLO), aggregation
``cost``      $ per 1M output tokens from GPU-hour prices, J/token, memory headroom
``results``   results.json: every cell's bench summary, engine facts, hardware (reads journal.db)
``report``    README.md: comparison tables, best variant per SLO (pure)
``charts``    throughput–latency curves per workload (SVG)
``compare``   benchmarks/ entries side by side by hardware and variant

The job that runs a grid lives in ``iejtui.service.matrix_job`` (the service owns it).
"""
