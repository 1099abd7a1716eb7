"""The training loop: determinism across threads and the caller's RNG state."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification

from sknmtune import NMTuneClassifier


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=240, n_features=12, n_informative=6, n_classes=3, random_state=0)
    return X, y


def _fit_proba(args):
    X, y, seed, dropout = args
    clf = NMTuneClassifier(max_epochs=3, reg_lambda=0.5, dropout=dropout, random_state=seed).fit(X, y)
    return clf.predict_proba(X)


@pytest.mark.parametrize("dropout", [0.0, 0.3], ids=["no-dropout", "dropout"])
def test_fits_in_concurrent_threads_equal_serial_fits(data, dropout):
    # Threads share torch's global RNG: without the lock around seeding/initialization (and
    # around dropout's draws) concurrent fits interleave their draws and differ from serial
    # ones (a Dask LocalCluster with processes=False showed it in CI).
    X, y = data
    jobs = [(X, y, seed, dropout) for seed in range(6)]
    serial = [_fit_proba(job) for job in jobs]
    with ThreadPoolExecutor(max_workers=3) as pool:
        threaded = list(pool.map(_fit_proba, jobs))
    for expected, got in zip(serial, threaded):
        np.testing.assert_array_equal(got, expected)
    assert not np.allclose(serial[0], serial[1]), "different seeds should give different heads"


def test_fit_leaves_the_global_rng_state_untouched(data):
    X, y = data
    torch.manual_seed(1234)
    expected = torch.rand(5)
    torch.manual_seed(1234)
    NMTuneClassifier(max_epochs=2, dropout=0.2, random_state=0).fit(X, y)
    np.testing.assert_array_equal(torch.rand(5).numpy(), expected.numpy())


def test_read_only_inputs_fit_without_a_torch_warning():
    """joblib hands read-only memmaps to parallel fits; torch warns (once per process) when it wraps one."""
    import subprocess
    import sys

    code = (
        "import warnings, numpy as np\n"
        "from sknmtune import NMTuneClassifier\n"
        "rng = np.random.default_rng(0)\n"
        "X = rng.normal(size=(60, 4)).astype(np.float32); y = (X[:, 0] > 0).astype(int)\n"
        "X.setflags(write=False); y.setflags(write=False)\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    clf = NMTuneClassifier(max_epochs=2, random_state=0).fit(X, y)\n"
        "    clf.predict(X)\n"
        "print([str(w.message)[:60] for w in caught if 'not writable' in str(w.message)])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_cpu_fits_use_the_fused_adamw_kernel(data, monkeypatch):
    # The fused kernel is 4x faster per step than the multi-tensor update on CPU (benchmarks/fit_time.py).
    seen = []
    original = torch.optim.AdamW.__init__

    def recording_init(self, params, **kwargs):
        seen.append(kwargs)
        original(self, params, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "__init__", recording_init)
    X, y = data
    NMTuneClassifier(max_epochs=1, random_state=0).fit(X, y)
    assert seen and all(kw.get("fused") is True and "foreach" not in kw for kw in seen)


@pytest.mark.parametrize(("before", "threads"), [(False, 1), (True, 1), (False, 2)])
def test_single_threaded_cpu_training_flushes_subnormals_and_restores_the_setting(data, before, threads, monkeypatch):
    # Subnormal gradients made the late epochs of saturated heads 5x slower (docs/guide/gpu.md). The setting is
    # per thread, so multi-threaded fits leave it alone.
    from sknmtune.heads._training import _flushes_subnormals

    during = []
    original = torch.optim.AdamW.step

    def recording_step(self, *args, **kwargs):
        during.append(_flushes_subnormals())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", recording_step)
    X, y = data
    threads_before = torch.get_num_threads()
    torch.set_num_threads(threads)
    torch.set_flush_denormal(before)
    try:
        NMTuneClassifier(max_epochs=2, random_state=0).fit(X, y)
        after = _flushes_subnormals()
    finally:
        torch.set_flush_denormal(False)
        torch.set_num_threads(threads_before)
    assert during and all(flag is (threads == 1 or before) for flag in during)
    assert after is before


def test_ctrl_c_during_training_reaches_the_caller_instead_of_a_truncated_head(monkeypatch):
    # skorch's partial_fit swallows KeyboardInterrupt and returns as if the fit had finished; the head must not
    import numpy as np
    import pytest
    from skorch.callbacks import Callback

    from sknmtune import NMTuneClassifier
    from sknmtune.heads import _training

    class Interrupt(Callback):
        def on_epoch_end(self, net, **kwargs):
            if len(net.history) == 2:
                raise KeyboardInterrupt

    original = _training._NMTuneNet.__init__

    def with_interrupt(self, *args, callbacks=None, **kwargs):
        original(self, *args, callbacks=[*(callbacks or []), ("interrupt", Interrupt())], **kwargs)

    monkeypatch.setattr(_training._NMTuneNet, "__init__", with_interrupt)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 4)).astype(np.float32), np.arange(40) % 2
    clf = NMTuneClassifier(max_epochs=10, random_state=0)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)
    assert not hasattr(clf, "module_")  # nothing half-fitted is left on the estimator


def test_early_stopping_still_ends_training_and_restores_the_best_epoch():
    # the Ctrl-C pass-through must not turn skorch's early stop (it raised KeyboardInterrupt) into an interruption
    import numpy as np

    from sknmtune import NMTuneClassifier

    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(300, 5)).astype(np.float32), np.arange(300) % 2  # labels unrelated to X: stops early
    clf = NMTuneClassifier(max_epochs=200, n_iter_no_change=3, early_stopping=True, random_state=0).fit(X, y)
    assert clf.n_iter_ < 200 and clf.best_epoch_ <= clf.n_iter_ - 3
