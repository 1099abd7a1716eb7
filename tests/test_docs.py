"""The documentation: the site builds in strict mode, its examples run, and its reference tables match the code."""

from __future__ import annotations

import argparse
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = sorted((DOCS / "examples").glob("*.py"))


def _nav_pages(node) -> list[str]:
    """Every .md path named in mkdocs.yml's nav, depth first."""
    if isinstance(node, str):
        return [node] if node.endswith(".md") else []
    if isinstance(node, dict):
        return [p for value in node.values() for p in _nav_pages(value)]
    if isinstance(node, list):
        return [p for item in node for p in _nav_pages(item)]
    return []


def test_every_nav_page_exists():
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    pages = _nav_pages(config["nav"])
    assert "api.md" in pages and "getting-started.md" in pages
    missing = [p for p in pages if not (DOCS / p).is_file()]
    assert not missing, f"pages in mkdocs.yml's nav that do not exist under docs/: {missing}"
    assert not any(p.startswith("dev/") for p in pages), "docs/dev is internal and excluded from the site"


def test_docs_build_in_strict_mode(tmp_path):
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (pip install 'sknmtune[docs]')")
    pytest.importorskip("material", reason="mkdocs-material is not installed")
    pytest.importorskip("mkdocstrings_handlers.python", reason="mkdocstrings[python] is not installed")
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"),
         "--site-dir", str(site)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}\n{done.stderr}"
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    for name in ("NMTuneClassifier", "SpectralScorer", "FrozenBackboneTransformer", "singular_value_entropy"):
        assert name in api, f"{name} is missing from the API reference"
    quickstart = (site / "examples" / "quickstart" / "index.html").read_text(encoding="utf-8")
    assert "from_preset" in quickstart, "the example script was not included in its page"
    assert not (site / "dev").exists(), "docs/dev must not be published"


@pytest.fixture
def one_torch_thread():
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# The Ray example (a Ray instance, extraction and a grid search: ~2.5 min on 2 cores) runs in the extended lane:
# tests/backbones/test_distributed_ray.py checks the same two mechanisms on Ray in the default lane.
_EXTENDED_EXAMPLES = {"distributed_ray"}


@pytest.mark.parametrize("script", [pytest.param(p, marks=pytest.mark.extended) if p.stem in _EXTENDED_EXAMPLES
                                    else p for p in EXAMPLES], ids=[p.stem for p in EXAMPLES])
def test_example_runs(script, tmp_path, monkeypatch, capsys, one_torch_thread):
    pytest.importorskip("matplotlib")
    if "dask" in script.stem:
        pytest.importorskip("distributed")
    if "ray" in script.stem:
        pytest.importorskip("ray")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    assert out.strip(), f"{script.name} printed nothing"
    for value in re.findall(r"accuracy:? (\d+\.\d+)", out):
        assert 0.0 <= float(value) <= 1.0
    if script.stem == "spectrum":
        assert (tmp_path / "spectrum.png").read_bytes()[:4] == b"\x89PNG"


def test_every_example_is_shown_in_the_docs():
    text = "".join(p.read_text(encoding="utf-8") for p in DOCS.rglob("*.md"))
    for script in EXAMPLES:
        assert f'--8<-- "examples/{script.name}"' in text, f"{script.name} is not included in any page"


def test_method_page_lists_every_preset():
    from sknmtune import PRESETS

    text = (DOCS / "guide" / "method.md").read_text(encoding="utf-8")
    for name in PRESETS:
        assert f"`{name}`" in text, f"preset {name!r} is not documented in guide/method.md"


def test_cli_page_documents_every_option():
    from sknmtune.cli import build_parser

    text = (DOCS / "guide" / "cli.md").read_text(encoding="utf-8")
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for command, parser in sub.choices.items():
        assert f"## {command}" in text, f"no section for 'sknmtune {command}'"
        for action in parser._actions:
            for option in action.option_strings:
                if option.startswith("--") and option not in ("--help", "--traceback"):
                    assert option in text, f"'sknmtune {command} {option}' is not documented in guide/cli.md"
