"""The benchmarks' public harness: paths and result files, the frozen backbones, the heads compared, reports.

Benchmark scripts are thin: they declare their tasks and scales and call these modules and
:mod:`sknmtune.evaluation` (the protocol and its record format). Nothing here is private to one
script, and no script imports another script's private names.

* :mod:`benchmarks.harness.io` -- ``ROOT``, ``RESULTS_DIR``, ``CACHE_DIR``, logging, atomic JSON files,
  a resumable record store;
* :mod:`benchmarks.harness.backbones` -- the ImageNet-1k backbones from local safetensors files;
* :mod:`benchmarks.harness.methods` -- the heads every benchmark compares, by name, with fit-cost hints;
* :mod:`benchmarks.harness.report` -- markdown tables of records, summaries and paired claims.
"""
