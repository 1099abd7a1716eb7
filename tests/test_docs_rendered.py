"""Benchmark numbers in README.md and docs/ are rendered from the stored results (``benchmarks/render_docs.py``).

The documents must equal their re-rendering (drift fails), every block must have a renderer, and a renderer
must really read its results file (a changed file changes the block).
"""

from __future__ import annotations

import json
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
    for name in ("which-head", "claims"):
        assert f"<!-- rendered:{name}:start -->" in text and f"<!-- rendered:{name}:end -->" in text


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
    assert "](../../benchmarks/results/head_choice.md)" in render_docs.render_text(
        block, tmp_path, relative_to=Path("docs/guide"))
