import numpy as np
import pytest

import sknmtune.backbones._callable as callable_mod
from sknmtune.backbones import FrozenBackboneTransformer


def test_batches_and_output(counter):
    X = np.arange(20, dtype=float).reshape(10, 2)
    feats = FrozenBackboneTransformer(counter, batch_size=4).fit_transform(X)
    assert counter.calls == [4, 4, 2]
    np.testing.assert_allclose(feats, np.c_[X.sum(1), X.mean(1)])
    assert feats.dtype == np.float32


def test_strings_go_through_as_lists(counter):
    feats = FrozenBackboneTransformer(counter, batch_size=2).transform(["aa", "b", "abc"])
    np.testing.assert_allclose(feats[:, 0], [4, 1, 4])


class Flaky:
    def __init__(self, failures, error=TimeoutError):
        self.failures, self.error, self.calls = failures, error, 0

    def __call__(self, batch):
        self.calls += 1
        if self.failures:
            self.failures -= 1
            raise self.error("rate limited")
        return np.ones((len(batch), 2))


def test_retry_with_exponential_backoff(monkeypatch):
    sleeps = []
    monkeypatch.setattr(callable_mod, "_sleep", sleeps.append)
    fn = Flaky(failures=2)
    t = FrozenBackboneTransformer(fn, retry_on=(TimeoutError,), max_retries=3, backoff=0.5)
    assert t.transform([[1.0], [2.0]]).shape == (2, 2)
    assert fn.calls == 3 and sleeps == [0.5, 1.0]


def test_retries_run_out_and_other_errors_propagate(monkeypatch):
    monkeypatch.setattr(callable_mod, "_sleep", lambda s: None)
    fn = Flaky(failures=5)
    with pytest.raises(TimeoutError):
        FrozenBackboneTransformer(fn, retry_on=(TimeoutError,), max_retries=2).transform([[1.0]])
    assert fn.calls == 3
    fn = Flaky(failures=1, error=KeyError)
    with pytest.raises(KeyError):
        FrozenBackboneTransformer(fn, retry_on=(TimeoutError,)).transform([[1.0]])
    assert fn.calls == 1


@pytest.mark.parametrize(
    "fn,match",
    [
        (lambda b: np.ones(len(b)), r"shape \(3,\)"),
        (lambda b: np.ones((len(b) + 1, 2)), r"shape \(4, 2\)"),
        (lambda b: np.full((len(b), 2), np.nan), "NaN"),
        (lambda b: "oops", "not a numeric array"),
    ],
)
def test_bad_outputs(fn, match):
    with pytest.raises(ValueError, match=match):
        FrozenBackboneTransformer(fn).transform(np.zeros((3, 2)))


def test_width_must_stay_constant():
    widths = iter([2, 3])
    fn = lambda b: np.ones((len(b), next(widths)))  # noqa: E731
    with pytest.raises(ValueError, match="returned 3 features.*but 2 before"):
        FrozenBackboneTransformer(fn, batch_size=2).transform(np.zeros((4, 1)))


def test_pairs_through_a_callable(counter):
    pairs = [("aa", "b"), ("b", "aaa")]
    feats = FrozenBackboneTransformer(counter).transform(pairs)
    assert feats.shape == (2, 8) and counter.seen == 3  # 3 distinct sentences
    raw = []
    FrozenBackboneTransformer(lambda b: raw.extend(b) or np.ones((len(b), 1)), pair_features=None).transform(pairs)
    assert raw == pairs


def test_unhashable_callable_needs_cache_key(tmp_path):
    calls = []

    def closure(batch):
        calls.append(len(batch))
        return np.ones((len(batch), 1))

    with pytest.raises(ValueError, match="cache_key"):
        FrozenBackboneTransformer(closure, cache=tmp_path).transform(np.zeros((2, 1)))
    t = FrozenBackboneTransformer(closure, cache=tmp_path, cache_key="my-api-v1")
    t.transform(np.zeros((2, 1)))
    t.transform(np.zeros((2, 1)))
    assert calls == [1]  # duplicates and the second call come from the cache
