"""Every stored benchmark report re-renders byte-identical from its stored JSON (the scripts' ``--report`` paths,
``python -m benchmarks.<name> --report``).

Each report is rendered into a temporary copy of ``benchmarks/results`` (figures too, unchecked) and compared
with the committed markdown; the accuracy benchmark's full run also rewrites the summary block of the
``README.md`` beside its results folder, which must come out unchanged as well.
"""

from __future__ import annotations

import importlib
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"

# (script, its --report arguments, the reports it writes)
REPORTS = [
    ("accuracy", ["--report"], ["accuracy.md"]),
    ("accuracy", ["--report", "--quick"], ["accuracy_quick.md"]),
    ("accuracy_imagenet", ["--report"], ["accuracy_imagenet.md"]),
    ("accuracy_imagenet", ["--report", "--quick"], ["accuracy_imagenet_quick.md"]),
    ("label_noise", ["--report"], ["label_noise.md"]),
    ("ranking", ["--report"], ["ranking.md"]),
    ("regression", ["--report"], ["regression.md"]),
    ("domain_shift", ["--report"], ["domain_shift.md"]),
    ("domain_shift", ["--report", "--quick"], ["domain_shift_quick.md"]),
    ("ablation", ["--report"], ["ablation.md"]),
    ("pacs_domainbed", ["--report"], ["pacs_domainbed.md"]),
    ("cost_choice", [], ["cost_choice.md"]),
]
NOISY = [("noisy_pretraining", []), ("noisy_pretraining_gpu", ["--full"])]  # (results folder, profile flag)


@pytest.fixture
def results_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "results"
    folder.mkdir()
    for path in RESULTS.glob("*.json"):
        shutil.copy(path, folder / path.name)
    shutil.copy(ROOT / "benchmarks" / "README.md", tmp_path / "README.md")
    return folder


def test_every_stored_report_is_covered():
    covered = {name for _, _, names in REPORTS for name in names}
    stored = {p.name for p in RESULTS.glob("*.md")}
    # cv_grid_study.md has its own re-render test below; head_choice.md: tests/test_benchmark_head_choice.py
    assert stored - covered <= {"cv_grid_study.md", "head_choice.md"}


@pytest.mark.parametrize(("script", "args", "names"), REPORTS, ids=[" ".join([s, *a[1:]]) for s, a, _ in REPORTS])
def test_report_rerenders_byte_identical(script, args, names, results_copy):
    module = importlib.import_module(f"benchmarks.{script}")
    assert module.main([*args, "--results-dir", str(results_copy)]) == 0
    for name in names:
        assert (results_copy / name).read_bytes() == (RESULTS / name).read_bytes(), name
    assert (results_copy.parent / "README.md").read_bytes() == (ROOT / "benchmarks" / "README.md").read_bytes()


@pytest.mark.parametrize(("folder", "flags"), NOISY, ids=[f for f, _ in NOISY])
def test_noisy_pretraining_claims_rerender_byte_identical(folder, flags, tmp_path):
    from benchmarks import noisy_pretraining

    for name in ("pretraining.json", "downstream.json"):
        shutil.copy(RESULTS / folder / name, tmp_path / name)
    assert noisy_pretraining.main(["--report-only", *flags, "--results-dir", str(tmp_path), "--no-progress"]) == 0
    assert (tmp_path / "claims.md").read_bytes() == (RESULTS / folder / "claims.md").read_bytes()


def test_cv_grid_study_report_rerenders_byte_identical(results_copy, capsys):
    from benchmarks import cv_grid_study

    assert cv_grid_study.main(["report", "--out", str(results_copy / "cv_grid_study.json")]) == 0
    assert (results_copy / "cv_grid_study.md").read_bytes() == (RESULTS / "cv_grid_study.md").read_bytes()
    assert capsys.readouterr().out == (RESULTS / "cv_grid_study.md").read_text() + "\n"  # the report is also printed


