"""Benchmark numbers in README.md and docs/ are rendered from the stored results (``benchmarks/render_docs.py``).

The documents must equal their re-rendering (drift fails), every block must have a renderer, and a renderer
must really read its results file (a changed file changes the block).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from benchmarks import render_docs
from benchmarks.harness.io import RESULTS_DIR, ROOT


def test_readme_and_docs_equal_their_rendering_from_the_stored_results():
    assert render_docs.documents(), "no document holds a rendered block"
    for path in render_docs.documents():
        text = path.read_text(encoding="utf-8")
        rendered = render_docs.render_text(text, RESULTS_DIR, relative_to=path.parent.relative_to(ROOT))
        assert rendered == text, f"{path.relative_to(ROOT)}: run python -m benchmarks.render_docs"
    assert render_docs.main(["--check"]) == 0


def test_the_readme_holds_the_which_head_and_claims_blocks():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in ("which-head", "claims-short"):
        assert f"<!-- rendered:{name}:start -->" in text and f"<!-- rendered:{name}:end -->" in text
    guide = (ROOT / "docs" / "guide" / "benchmark.md").read_text(encoding="utf-8")
    assert "<!-- rendered:claims:start -->" in guide  # the full claims table, with every interval


def _decision(statement: str) -> dict:
    pooled = {"reference": "logreg-cv", "statement": statement}
    return {"evidence": {"ImageNet tasks": {"clusters": 10, "records": 300, "methods": []}},
            "decisions": {"vs-probe": {"pooled": pooled, "per_target": {"photo": {}, "sketch": {}}, "changed": ["photo"],
                                       "n_changed": 1}}}


def test_the_rendering_follows_the_results_file(tmp_path):
    block = "<!-- rendered:which-head:start -->\nold\n<!-- rendered:which-head:end -->\n"
    (tmp_path / "head_choice.json").write_text(json.dumps(_decision("No head is decisively better than logreg-cv.")))
    first = render_docs.render_text(block, tmp_path)
    assert "old" not in first and "No head is decisively better than logreg-cv." in first
    assert "changes for 1 of 2 domains (photo)" in first and "ImageNet tasks (10 clusters)" in first
    (tmp_path / "head_choice.json").write_text(json.dumps(_decision("vote is decisively ahead of logreg-cv.")))
    assert "vote is decisively ahead" in render_docs.render_text(block, tmp_path)
    (tmp_path / "head_choice.json").unlink()
    assert "no decision stored yet" in render_docs.render_text(block, tmp_path)


def test_unknown_blocks_are_named():
    with pytest.raises(KeyError, match="nope"):
        render_docs.render_text("<!-- rendered:nope:start -->\nx\n<!-- rendered:nope:end -->", RESULTS_DIR)


def test_links_are_relative_to_the_document(tmp_path):
    (tmp_path / "head_choice.json").write_text(json.dumps(_decision("x")))
    block = "<!-- rendered:which-head:start -->\n<!-- rendered:which-head:end -->"
    assert "](benchmarks/results/head_choice.md)" in render_docs.render_text(block, tmp_path, relative_to=Path("."))
    assert "](../benchmarks/results/head_choice.md)" in render_docs.render_text(
        block, tmp_path, relative_to=Path("examples"))
    # the documentation site (mkdocs, strict) holds no file outside docs/: there the link becomes a code span
    under_docs = render_docs.render_text(block, tmp_path, relative_to=Path("docs/guide"))
    assert "Full table: `benchmarks/results/head_choice.md`." in under_docs and "](" not in under_docs


def test_every_renderer_says_what_to_run_when_its_results_are_missing(tmp_path):
    for name, renderer in render_docs.RENDERERS.items():
        text = renderer(tmp_path)
        assert text.endswith("\n") and "python -m benchmarks." in text, f"{name}: {text!r}"


def test_every_renderer_is_used_by_a_document():
    used = set()
    for path in render_docs.documents():
        used |= set(re.findall(r"<!-- rendered:([a-z0-9-]+):start -->", path.read_text(encoding="utf-8")))
    assert used == set(render_docs.RENDERERS), f"unused: {set(render_docs.RENDERERS) - used}"


def _pacs_records(nmtune_gain: float) -> list[dict]:
    """Multi-source records of 4 target domains x 2 seeds: LP 0.60, MLP 0.61, NMTune (paper) 0.61 + gain."""
    accuracy = {"lp": 0.60, "mlp": 0.61, "nmtune-paper": 0.61 + nmtune_gain}
    return [{"protocol": "lodo", "backbone": "tf_efficientnet_lite0", "unit": d, "selection": "train-domain",
             "sources": "+".join(o for o in "wxyz" if o != d), "method": m, "seed": s, "role": "ood", "domain": d,
             "accuracy": acc + 0.001 * s + 0.002 * "wxyz".index(d)}
            for d in "wxyz" for s in (0, 1) for m, acc in accuracy.items()]


def test_the_domain_shift_claims_follow_the_results_file(tmp_path):
    block = "<!-- rendered:domain-shift-claims:start -->\n<!-- rendered:domain-shift-claims:end -->"
    (tmp_path / "domain_shift.json").write_text(json.dumps(_pacs_records(0.03)))
    ahead = render_docs.render_text(block, tmp_path)
    row = next(line for line in ahead.split("\n") if line.startswith("| EfficientNet-Lite0, multi-source"))
    assert "| paper equations | +3.00 [+3.00, +3.00] | +1.00 [+1.00, +1.00] | +4.00 [+4.00, +4.00] | 4 |" in row
    assert row.endswith("| inconclusive | inconclusive |")  # 4 clusters: the exact sign-flip test cannot reach 95 %
    (tmp_path / "domain_shift.json").write_text(json.dumps(_pacs_records(-0.02)))
    assert "| paper equations | -2.00 [-2.00, -2.00] |" in render_docs.render_text(block, tmp_path)
