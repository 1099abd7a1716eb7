"""``sknmtune compare``: the report files, resuming a killed run from records.json, the inputs it reads, and the
HTML report rendered by a real browser (headless Chromium, where installed)."""

from __future__ import annotations

import inspect
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import sknmtune.evaluation._compare as compare_module
from sknmtune.cli import build_parser, main
from sknmtune.evaluation import MIN_CLUSTERS
from sknmtune.cli.compare import _DEFAULT_HEADS, _read_groups
from sknmtune.evaluation import DEFAULT_HEADS, Comparison

HEADS = ["--heads", "lp,mlp", "--reference", "lp"]  # cheap heads (logreg-cv, the default reference, fits slower)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Features of 7 classes in 3 domains (an .npz with X, y and domain), a labels CSV table, a shifted test set."""
    root = tmp_path_factory.mktemp("compare")
    rng = np.random.default_rng(0)
    y = np.tile(np.arange(7), 24)
    domain = np.repeat(np.array(["art", "photo", "sketch"]), 56)
    X = (rng.normal(size=(168, 10)) + 2.0 * np.eye(7, 10)[y] + (domain == "sketch")[:, None] * 0.7).astype(np.float32)
    np.savez(root / "feats.npz", X=X, y=y, domain=domain)
    np.save(root / "X.npy", X)
    (root / "table.csv").write_text("label,site\n" + "".join(f"{a},{b}\n" for a, b in zip(y, domain)))
    (root / "domains.txt").write_text("\n".join(domain) + "\n")
    yt = np.tile(np.arange(7), 5)
    np.savez(root / "shifted.npz", X=(rng.normal(size=(35, 10)) + 2.0 * np.eye(7, 10)[yt] + 1.0).astype(np.float32), y=yt)
    np.savez(root / "nolabels.npz", X=X[:5])
    return root


@pytest.fixture(scope="module")
def report(files, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    status = main(["compare", str(files / "feats.npz"), "--groups", "domain", "--test", f"shifted={files / 'shifted.npz'}",
                   *HEADS, "--seeds", "1", "--quiet", "-o", str(out)])
    assert status == 0
    return out


@pytest.fixture
def count_fits(monkeypatch):
    """A list that grows by one head name per fit compare_heads makes."""
    fits: list[str] = []
    real = compare_module.evaluate_heads
    monkeypatch.setattr(compare_module, "evaluate_heads",
                        lambda heads, *a, **k: fits.extend(heads) or real(heads, *a, **k))
    return fits


def test_default_heads_match_the_library():
    assert _DEFAULT_HEADS == ",".join(DEFAULT_HEADS)
    args = build_parser().parse_args(["compare", "f.npz", "-o", "out"])
    default_seeds = inspect.signature(compare_module.compare_heads).parameters["n_seeds"].default
    assert default_seeds == MIN_CLUSTERS
    assert args.heads == _DEFAULT_HEADS and args.seeds == default_seeds and args.test_size == 0.2 and args.reference == "logreg-cv"


def test_the_report_files(report):
    assert sorted(p.name for p in report.iterdir()) == ["accuracy.png", "records.json", "report.html", "report.md",
                                                        "spectra.png"]
    data = json.loads((report / "records.json").read_text())
    assert data["complete"] is True and data["protocol"] == "leave-one-group-out"
    assert len(data["records"]) == 2 * 3 * 3  # heads x held-out groups x (held-out, shifted, val)
    comparison = Comparison.from_json(report / "records.json")
    assert comparison.clusters == ("held_out",)
    md = (report / "report.md").read_text()
    assert "## Validation (what the decision reads)" in md and "## Out-of-distribution test sets" in md
    assert "| art | photo | shifted | sketch |" in md.replace("| head ", "")
    mlp_ood = comparison.summaries["mlp"].differences["ood"]
    assert f"{100 * mlp_ood.mean:+.2f} [{100 * mlp_ood.low:+.2f}, {100 * mlp_ood.high:+.2f}]" in md
    assert "smallest two-sided p-value is 2 / 2^3 = 0.25" in md  # 3 held-out groups cannot decide at 95 %
    assert "![accuracy](accuracy.png)" in md and (report / "accuracy.png").read_bytes()[:4] == b"\x89PNG"


def test_the_html_report_is_self_contained(report):
    page = (report / "report.html").read_text()
    assert page.count("src='data:image/png;base64,") == 2
    assert not re.search(r"""(src|href)=['"](?!data:)""", page)  # nothing loaded from elsewhere
    assert "<table>" in page and "Recommended head" in page


def test_a_killed_run_resumes_from_records_json(files, tmp_path, count_fits, monkeypatch):
    out = tmp_path / "out"
    argv = ["compare", str(files / "feats.npz"), *HEADS, "--seeds", "2", "--quiet", "-o", str(out)]
    real = compare_module._fit_unit

    def killed_at_third(*args, **kwargs):
        if len(count_fits) == 2:
            raise KeyboardInterrupt  # Ctrl-C (or a kill) as the third fit starts
        return real(*args, **kwargs)

    monkeypatch.setattr(compare_module, "_fit_unit", killed_at_third)
    assert main(argv) == 130
    partial = json.loads((out / "records.json").read_text())
    assert partial["complete"] is False and len(partial["records"]) == 2  # two finished fits were saved
    monkeypatch.setattr(compare_module, "_fit_unit", real)
    count_fits.clear()
    assert main(argv) == 0
    assert len(count_fits) == 2  # 2 heads x 2 seeds, 2 already done
    final = json.loads((out / "records.json").read_text())
    assert final["complete"] is True and final["records"][:2] == partial["records"]
    count_fits.clear()
    assert main(argv) == 0 and count_fits == []  # a finished run refits nothing
    assert main(argv + ["--seeds", "1", "--restart"]) == 0 and len(count_fits) == 2  # seed 0 refitted, not reused


def test_records_of_other_data_need_restart(files, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["compare", str(files / "X.npy"), "--labels", str(files / "table.csv"), "--label-column", "label",
                 *HEADS, "--seeds", "1", "--quiet", "--no-spectra", "-o", str(out)]) == 0
    data = json.loads((out / "records.json").read_text())
    assert all(r["sve_F"] is None for r in data["records"]) and not (out / "spectra.png").exists()
    capsys.readouterr()
    status = main(["compare", str(files / "X.npy"), "--labels", str(files / "table.csv"), "--label-column", "label",
                   *HEADS, "--seeds", "1", "--test-size", "0.3", "--quiet", "-o", str(out)])
    assert status == 2 and "pass --restart to fit afresh" in capsys.readouterr().err


def test_groups_from_a_file_an_npz_array_or_a_csv_column(files):
    expected = np.load(files / "feats.npz")["domain"]
    for spec, labels in ((str(files / "domains.txt"), None), ("domain", None), ("site", str(files / "table.csv"))):
        groups, note = _read_groups(spec, str(files / "feats.npz"), labels, 168)
        assert np.array_equal(groups, expected) and spec.rsplit("/", 1)[-1] in note


@pytest.mark.parametrize("extra, message", [
    (["--groups", "nowhere"], "is neither a file, nor an array"),
    (["--test", "oops"], "--test expects NAME=FILE"),
    (["--test", "a=X.npy"], "the test set needs its labels"),
    (["--id-test", "nolabels.npz"], "the test set needs its labels"),
    (["--heads", "lp,nope"], "unknown --heads nope"),
    (["--heads", "lp,mlp"], "--reference logreg-cv is not among --heads lp,mlp"),
    (["--test-size", "1.5"], "expected a fraction in (0, 1) or a number of rows"),
    (["--seeds", "0"], "expected a positive integer"),
])
def test_bad_input_is_one_line_with_status_2(files, tmp_path, capsys, extra, message, count_fits):
    extra = [str(files / e) if e.endswith((".npy", ".npz")) and "=" not in e else e for e in extra]
    extra = [e.replace("a=X.npy", f"a={files / 'X.npy'}") for e in extra]
    status = main(["compare", str(files / "feats.npz"), "--quiet", "-o", str(tmp_path / "out"), *extra])
    err = capsys.readouterr().err
    assert status == 2 and message in err and err.count("\n") == 1
    assert count_fits == []  # refused before any fit


@pytest.mark.skipif(shutil.which("chromium") is None, reason="headless Chromium is not installed")
def test_the_report_renders_its_figures_in_headless_chromium(report, tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    shot = tmp_path / "shot.png"
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1200,3000",
                    (report / "report.html").as_uri()], check=True, capture_output=True, timeout=120)
    pixels = (matplotlib.image.imread(shot)[..., :3] * 255).round().astype(int)
    # matplotlib's first two colours (the markers of the roles) are on the page only if the figures rendered
    for colour in ((31, 119, 180), (255, 127, 14)):
        assert (np.abs(pixels - colour).sum(axis=-1) <= 12).sum() > 50, colour
