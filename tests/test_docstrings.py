"""Every Examples section of the package's docstrings runs and prints what it shows."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import sknmtune


def _modules() -> list[str]:
    # `__main__` modules run a program when imported
    return sorted(m.name for m in pkgutil.walk_packages(sknmtune.__path__, prefix="sknmtune.")
                  if not m.name.endswith(".__main__"))


def test_the_package_has_docstring_examples():
    finder = doctest.DocTestFinder()
    examples = sum(len(t.examples) for name in _modules() for t in finder.find(importlib.import_module(name)))
    assert examples >= 40  # the examples below are really collected


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples_run(name):  # one torch thread: conftest.py
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, report=False)
    assert result.failed == 0, (
        f"{result.failed} of {result.attempted} docstring examples of {name} failed "
        f"(details: pytest --doctest-modules {name.replace('.', '/')}.py)"
    )
