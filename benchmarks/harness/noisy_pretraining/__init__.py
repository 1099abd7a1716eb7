"""The noisy pre-training study (``python -m benchmarks.noisy_pretraining``): its steps, each in its own module.

* :mod:`~benchmarks.harness.noisy_pretraining.cifar10` -- CIFAR-10 (JPEG-75 zips) decoded once, cached as ``.npy``
  (NumPy and Pillow only: it runs on a bare GPU machine);
* :mod:`~benchmarks.harness.noisy_pretraining.training` -- the configurations and the pre-training of one backbone per
  noise ratio;
* :mod:`~benchmarks.harness.noisy_pretraining.downstream` -- frozen features of each backbone, LP / MLP / NMTune heads
  scored by :func:`sknmtune.evaluation.evaluate_heads`;
* :mod:`~benchmarks.harness.noisy_pretraining.report` -- seed summaries, claim-by-claim verdicts and figures.
"""
