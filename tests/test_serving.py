"""Concurrent serving of fitted models (issue 37): threads and processes give the sequential results, and
memory does not grow over 10,000 calls.

A fitted pipeline (a torch backbone + an NMTune head) and the vote (``make_voting_head``) answer from 8
threads at once and from 2 processes; every answer must equal, bit for bit, the answer of the same call
made sequentially. The head answers 10,000 single-request calls (from 8 threads) with a resident set that
stays within a tolerance of where it was after a warm-up.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from sklearn.pipeline import make_pipeline

from sknmtune.backbones import FrozenBackboneTransformer
from sknmtune.heads import NMTuneClassifier, make_voting_head
from sknmtune.persistence import load, save

HEAD = {"max_epochs": 3, "hidden_ratio": 1.0, "device": "cpu", "random_state": 0, "early_stopping": False}


def _rss_mib() -> float:
    """The resident set of this process now (Linux /proc; psutil elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # pragma: no cover - not Linux
        import psutil

        return psutil.Process().memory_info().rss / 2**20


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 6)).astype(np.float32)
    y = np.arange(64) % 3
    torch.manual_seed(0)
    backbone = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU()).eval()
    pipe = make_pipeline(FrozenBackboneTransformer(backbone, device="cpu"), NMTuneClassifier(**HEAD)).fit(X, y)
    vote = make_voting_head(random_state=0).fit(X, y)
    root = tmp_path_factory.mktemp("serving")
    return X, pipe, vote, save(pipe, root / "pipe.skn"), save(vote, root / "vote.skn")


def _requests(X: np.ndarray, n: int) -> list[np.ndarray]:
    """``n`` requests of 1 to 8 rows each, drawn from ``X``."""
    rng = np.random.default_rng(1)
    return [X[rng.integers(0, len(X), rng.integers(1, 9))] for _ in range(n)]


@pytest.mark.parametrize("which", ["pipeline", "vote"])
def test_eight_threads_give_the_sequential_answers(served, which):
    X, pipe, vote, *_ = served
    model = pipe if which == "pipeline" else vote
    requests = _requests(X, 160 if which == "pipeline" else 48)
    sequential = [model.predict_proba(r) for r in requests]
    with ThreadPoolExecutor(8) as pool:
        concurrent = list(pool.map(model.predict_proba, requests))
        labels = list(pool.map(model.predict, requests))
    for r, a, b, lab in zip(requests, sequential, concurrent, labels):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(lab, model.classes_[a.argmax(axis=1)])
        assert a.shape == (len(r), 3) and np.isfinite(a).all()


def _serve(path: str, X: np.ndarray) -> np.ndarray:
    torch.set_num_threads(1)
    return load(path).predict_proba(X)


def test_two_processes_give_the_sequential_answers(served):
    X, pipe, vote, pipe_file, vote_file = served
    context = multiprocessing.get_context("spawn")  # a fresh interpreter, as a second server process is
    with context.Pool(2) as pool:
        answers = pool.starmap(_serve, [(str(pipe_file), X), (str(vote_file), X)])
    np.testing.assert_array_equal(answers[0], pipe.predict_proba(X))
    np.testing.assert_array_equal(answers[1], vote.predict_proba(X))


def test_memory_does_not_grow_over_ten_thousand_calls(served):
    X, pipe, *_ = served
    head, F = pipe[-1], pipe[0].transform(X)
    requests = _requests(F, 10_500)
    expected = head.predict_proba(requests[-1])
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(head.predict_proba, requests[:500]))  # warm-up: allocator pools, thread stacks
        before = _rss_mib()
        answers = list(pool.map(head.predict_proba, requests[500:]))
        after = _rss_mib()
    assert len(answers) == 10_000 and all(np.isfinite(a).all() for a in answers)
    np.testing.assert_array_equal(answers[-1], expected)
    assert after - before < 25, f"the resident set grew by {after - before:.1f} MiB over 10,000 calls"


def test_the_inference_copy_follows_the_module(served):
    """Predictions reuse one float64 copy of the module; replacing or changing the module renews it."""
    X, pipe, *_ = served
    head = pipe[-1]
    F = pipe[0].transform(X)
    first = head._inference_module()
    assert head._inference_module() is first  # reused while nothing changed
    before = head.predict_proba(F)
    saved = head.module_.classifier.bias.detach().clone()
    with torch.no_grad():
        head.module_.classifier.bias[0] += 1.0  # an in-place change of the fitted weights
    try:
        assert head._inference_module() is not first
        assert not np.array_equal(head.predict_proba(F), before)
    finally:
        with torch.no_grad():
            head.module_.classifier.bias.copy_(saved)
    np.testing.assert_array_equal(head.predict_proba(F), before)
