"""What the benchmark scripts share, declared once: the library of ``benchmarks/`` (scripts are leaves on it).

A script ``benchmarks/<name>.py`` (run as ``python -m benchmarks.<name>``) imports these modules,
``benchmarks.datasets`` and the public names of ``sknmtune``, never another script:

* :mod:`~benchmarks.harness.methods` -- the method table: a stored method name -> the ``sknmtune.heads.make_head``
  name, overrides and training data it is built with;
* :mod:`~benchmarks.harness.backbones` -- every frozen backbone;
* :mod:`~benchmarks.harness.tasks` -- tasks, scales and their cached features; the suites that register their
  tasks there: :mod:`~benchmarks.harness.text_cifar`, :mod:`~benchmarks.harness.imagenet`,
  :mod:`~benchmarks.harness.pacs_domains`, and :mod:`~benchmarks.harness.sick`'s features;
* :mod:`~benchmarks.harness.runner`, :mod:`~benchmarks.harness.driver` -- the accuracy benchmarks' fits and command
  line;
* :mod:`~benchmarks.harness.tables`, :mod:`~benchmarks.harness.report`, :mod:`~benchmarks.harness.figures`,
  :mod:`~benchmarks.harness.ensembles`, :mod:`~benchmarks.harness.validation_study`,
  :mod:`~benchmarks.harness.ranking_report` -- reports of stored records, soft votes, the validation study;
* :mod:`~benchmarks.harness.step_cost` -- the cost of one training step; :mod:`~benchmarks.harness.noisy_pretraining`
  -- the noisy pre-training study's steps;
* :mod:`~benchmarks.harness.io`, :mod:`~benchmarks.harness.hardware` -- paths, logs, atomic JSON, the resumable
  record store; the machine and the torch device.
"""
