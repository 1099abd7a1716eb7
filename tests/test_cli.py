"""The ``sknmtune`` command line: run in-process through ``main(argv)``, once as the installed script."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from sknmtune import PRESETS, spectral_summary
from sknmtune.cli import main
from sknmtune.persistence import load
from sknmtune.heads import estimate_fit_seconds

COMMANDS = ("demo", "extract", "fit", "predict", "spectrum")


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """The models here are tiny; on a shared CPU one thread avoids oversubscription stalls."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def digits_files(tmp_path_factory):
    """Digits pixels as 'features': a train .npz (X, y), a test .npy and its labels (.npy and .txt)."""
    root = tmp_path_factory.mktemp("digits")
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    np.savez(root / "train.npz", X=X[:600], y=y[:600])
    np.save(root / "test.npy", X[600:900])
    np.save(root / "test_labels.npy", y[600:900])
    (root / "test_labels.txt").write_text("\n".join(map(str, y[600:900])) + "\n")
    (root / "empty.txt").write_text("\n\n")
    np.savez(root / "bad.npz", features=np.ones((3, 2)))
    return root


@pytest.fixture(scope="module")
def fitted_model(digits_files):
    path = digits_files / "model.skn"
    assert main(["fit", str(digits_files / "train.npz"), "-o", str(path), "--preset", "nmtune-paper",
                 "--epochs", "3", "--seed", "0", "--device", "cpu", "--set", "reg_lambda=0.05"]) == 0
    return path


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("sknmtune: error: ")
    return err[0]


# --------------------------------------------------------------------------- help


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\s", out, flags=re.M), command


@pytest.mark.parametrize(
    "command, options",
    [
        ("demo", ["--quick", "--seed", "--noise-rates", "--ood-shift", "--features", "--images", "--output-dir"]),
        ("extract", ["--backbone", "--cache-dir", "--weights", "--no-pretrained", "-o"]),
        ("fit", ["--preset", "--set", "--labels", "-o"]),
        ("predict", ["--proba", "-o"]),
        ("spectrum", ["--plot", "--model", "--normalize-rows", "--json"]),
    ],
)
def test_command_help_documents_its_options(capsys, command, options):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: sknmtune {command}")
    for option in options:
        assert option in out


def test_fit_help_names_every_preset(capsys):
    assert main(["fit", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for name in PRESETS:
        assert name in out


def test_installed_console_script_runs():
    script = Path(sys.executable).with_name("sknmtune")
    assert script.exists(), "the console script is not installed (pip install -e .)"
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    assert "usage: sknmtune" in done.stdout and "demo" in done.stdout


# --------------------------------------------------------------------------- fit / predict


def test_fit_saves_a_model_with_the_requested_parameters(fitted_model, capsys):
    model = load(fitted_model)
    assert model.reg_lambda == 0.05 and model.max_epochs == 3 and model.random_state == 0
    assert model.svd_top_k == PRESETS["nmtune-paper"]["svd_top_k"]
    assert list(model.classes_) == list(range(10))


def test_fit_head_vote_saves_the_recommended_image_head_with_member_overrides(digits_files, tmp_path, capsys):
    from sklearn.ensemble import VotingClassifier

    out = tmp_path / "vote.skn"
    assert main(["fit", str(digits_files / "train.npz"), "-o", str(out), "--head", "vote", "--seed", "3",
                 "--device", "cpu", "--set", "lp__max_epochs=2", "--set", "mlp__max_epochs=2",
                 "--set", "nmtune-paper__max_epochs=2"]) == 0
    printed = capsys.readouterr()
    assert "fitted 'vote' (make_voting_head()" in printed.out
    n, d = np.load(digits_files / "train.npz")["X"].shape
    guess = estimate_fit_seconds("vote", n, d)
    assert f"about {guess:.0f} s on one thread" in printed.err  # before the fit, from the registry's costs
    model = load(out)
    assert isinstance(model, VotingClassifier) and model.voting == "soft"
    assert [m.max_epochs for m in model.estimators_[1:]] == [2, 2, 2]
    assert {m.random_state for m in model.estimators_[1:]} == {3}
    assert main(["predict", str(out), str(digits_files / "test.npy"), "-o", str(tmp_path / "p.npy"), "--proba"]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), model.predict_proba(np.load(digits_files / "test.npy")),
                               rtol=1e-6)


def test_fit_head_cv_saves_the_selection_head(digits_files, tmp_path):
    from sknmtune import NMTuneClassifierCV

    out = tmp_path / "cv.skn"
    grid = '[{"mlp_depth": [0], "max_epochs": [2, 3]}]'
    assert main(["fit", str(digits_files / "train.npz"), "-o", str(out), "--head", "cv", "--seed", "0",
                 "--device", "cpu", "--set", f"param_grid={grid}", "--set", "cv=2"]) == 0
    model = load(out)
    assert isinstance(model, NMTuneClassifierCV) and model.cv == 2 and model.random_state == 0
    assert model.estimator.device == "cpu" and model.best_params_["max_epochs"] in (2, 3)


def test_predict_writes_the_estimators_predictions(digits_files, fitted_model, tmp_path, capsys):
    model = load(fitted_model)
    X = np.load(digits_files / "test.npy")
    y = np.load(digits_files / "test_labels.npy")

    assert main(["predict", str(fitted_model), str(digits_files / "test.npy"), "-o", str(tmp_path / "p.npy"),
                 "--labels", str(digits_files / "test_labels.txt")]) == 0
    pred = np.load(tmp_path / "p.npy")
    np.testing.assert_array_equal(pred, model.predict(X))
    printed = float(re.search(r"accuracy (\d\.\d+)", capsys.readouterr().out).group(1))
    assert printed == pytest.approx(np.mean(pred == y), abs=1e-4)

    assert main(["predict", str(fitted_model), str(digits_files / "test.npy"), "-o", str(tmp_path / "p.csv")]) == 0
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert lines[0] == "prediction"
    np.testing.assert_array_equal(np.array(lines[1:], dtype=int), pred)


def test_predict_proba_csv_and_npy(digits_files, fitted_model, tmp_path):
    model = load(fitted_model)
    X = np.load(digits_files / "test.npy")
    assert main(["predict", str(fitted_model), str(digits_files / "test.npy"), "-o", str(tmp_path / "p.npy"),
                 "--proba"]) == 0
    proba = np.load(tmp_path / "p.npy")
    np.testing.assert_allclose(proba, model.predict_proba(X), rtol=1e-6)

    assert main(["predict", str(fitted_model), str(digits_files / "test.npy"), "-o", str(tmp_path / "p.csv"),
                 "--proba"]) == 0
    with open(tmp_path / "p.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == [f"proba_{c}" for c in model.classes_]
    table = np.array(rows[1:], dtype=float)
    assert table.shape == (len(X), 10)
    np.testing.assert_allclose(table.sum(axis=1), 1.0, atol=1e-4)
    np.testing.assert_array_equal(table.argmax(axis=1), model.predict(X))


def test_fit_reads_labels_from_a_text_file(digits_files, tmp_path):
    out = tmp_path / "lp.skn"
    assert main(["fit", str(digits_files / "test.npy"), "--labels", str(digits_files / "test_labels.txt"),
                 "-o", str(out), "--preset", "lp", "--epochs", "2", "--device", "cpu"]) == 0
    model = load(out)
    assert model.mlp_depth == 0 and model.n_features_in_ == 64


def test_fit_reads_a_named_column_of_a_csv_table(digits_files, tmp_path):
    y = np.load(digits_files / "test_labels.npy")
    table = tmp_path / "labels.csv"
    table.write_text("id,label\n" + "".join(f"{i},{v}\n" for i, v in enumerate(y)))
    out = tmp_path / "m.skn"
    base = ["fit", str(digits_files / "test.npy"), "--labels", str(table), "-o", str(out), "--preset", "lp",
            "--epochs", "1", "--device", "cpu"]
    assert main(base) == 2  # two fields per line: an error naming the line, not a 300-class model
    assert not out.exists()
    assert main([*base, "--label-column", "label"]) == 0
    assert sorted(load(out).classes_) == sorted(set(y.tolist()))


def test_joblib_models_need_trusted(digits_files, tmp_path, capsys):
    out = tmp_path / "m.joblib"
    assert main(["fit", str(digits_files / "train.npz"), "-o", str(out), "--format", "joblib", "--preset", "lp",
                 "--epochs", "1", "--device", "cpu"]) == 0
    args = ["predict", str(out), str(digits_files / "test.npy"), "-o", str(tmp_path / "p.npy")]
    capsys.readouterr()
    assert main(args) == 2
    line = _error_line(capsys)
    assert str(out) in line and "pickle" in line and "--trusted" in line
    assert main([*args, "--trusted"]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), load(out, trusted=True).predict(np.load(digits_files / "test.npy")))


def test_damaged_model_file_is_one_line_naming_the_file(digits_files, fitted_model, tmp_path, capsys):
    cut = tmp_path / "cut.skn"
    cut.write_bytes(fitted_model.read_bytes()[:200])
    assert main(["predict", str(cut), str(digits_files / "test.npy"), "-o", str(tmp_path / "p.npy")]) == 2
    assert _error_line(capsys) == f"sknmtune: error: model file {cut} is truncated or damaged (the zip archive is incomplete: File is not a zip file)"


# --------------------------------------------------------------------------- spectrum


def test_spectrum_prints_and_writes_the_metrics(digits_files, fitted_model, tmp_path, capsys):
    X = np.load(digits_files / "test.npy")
    plot, js = tmp_path / "s.png", tmp_path / "s.json"
    assert main(["spectrum", str(digits_files / "test.npy"), "--model", str(fitted_model),
                 "--plot", str(plot), "--json", str(js), "--top", "3"]) == 0
    out = capsys.readouterr().out
    expected = spectral_summary(X)
    row = next(line for line in out.splitlines() if line.startswith("test (F)"))
    fields = row.split()
    assert float(fields[4]) == pytest.approx(expected["sve"], abs=1e-4)
    assert float(fields[5]) == pytest.approx(expected["lsvr"], abs=1e-4)
    assert any(line.startswith("test (Z)") for line in out.splitlines())

    data = json.loads(js.read_text())
    names = [s["name"] for s in data["spectra"]]
    assert names == ["test (F)", "test (Z)"]
    z = data["spectra"][1]
    assert z["sve"] == pytest.approx(spectral_summary(load(fitted_model).transform(X))["sve"], rel=1e-5)
    assert len(z["top_singular_values"]) == 3
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_spectrum_normalize_rows_changes_the_metric(digits_files, tmp_path, capsys):
    js = tmp_path / "s.json"
    assert main(["spectrum", str(digits_files / "train.npz"), "--normalize-rows", "--json", str(js)]) == 0
    sve = json.loads(js.read_text())["spectra"][0]["sve"]
    X = np.load(digits_files / "train.npz")["X"]
    assert sve == pytest.approx(spectral_summary(X, normalize_rows=True)["sve"], rel=1e-6)
    assert sve != pytest.approx(spectral_summary(X)["sve"], rel=1e-3)


def test_spectrum_at_extreme_scale_prints_the_unscaled_metrics(digits_files, tmp_path, capsys):
    X = np.load(digits_files / "test.npy").astype(np.float64)
    np.save(tmp_path / "huge.npy", X * 1e200)
    js = tmp_path / "s.json"
    assert main(["spectrum", str(tmp_path / "huge.npy"), "--json", str(js)]) == 0
    row = json.loads(js.read_text())["spectra"][0]
    expected = spectral_summary(X)
    for key in ("sve", "lsvr", "rankme"):
        assert row[key] == pytest.approx(expected[key], rel=1e-10)
    assert row["sigma_max"] == pytest.approx(expected["sigma_max"] * 1e200, rel=1e-10)


# --------------------------------------------------------------------------- extract


def test_extract_image_array_and_folder_with_cache(tmp_path, capsys):
    from PIL import Image

    digits = load_digits()
    images = (digits.images[:12] / 16.0).astype(np.float32)
    np.savez(tmp_path / "imgs.npz", X=images, y=digits.target[:12])
    common = ["--backbone", "cifar_resnet20", "--no-pretrained", "--device", "cpu", "--quiet"]
    assert main(["extract", str(tmp_path / "imgs.npz"), "-o", str(tmp_path / "a.npz"), *common]) == 0
    with np.load(tmp_path / "a.npz") as data:
        assert data["X"].shape == (12, 64) and data["X"].dtype == np.float32
        np.testing.assert_array_equal(data["y"], digits.target[:12])

    for i in range(6):
        folder = tmp_path / "folder" / f"class_{digits.target[i]}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(digits.images[i].astype(np.uint8) * 16).save(folder / f"{i}.png")
    args = ["extract", str(tmp_path / "folder"), *common, "--cache-dir", str(tmp_path / "cache")]
    assert main([*args, "-o", str(tmp_path / "f1.npz")]) == 0
    assert any((tmp_path / "cache").rglob("*")), "the feature cache is empty"
    assert main([*args, "-o", str(tmp_path / "f2.npy")]) == 0
    with np.load(tmp_path / "f1.npz") as data:
        first, labels = data["X"], data["y"]
    assert first.shape == (6, 64)
    assert sorted(set(labels)) == sorted({f"class_{t}" for t in digits.target[:6]})
    np.testing.assert_array_equal(np.load(tmp_path / "f2.npy"), first)
    assert "extracted 6 x 64 features (" in capsys.readouterr().out


def test_extract_reads_text_lines(tmp_path):
    from sknmtune.cli._io import _read_extract_input

    (tmp_path / "t.txt").write_text("first text\n\n  second, with spaces  \n")
    samples, labels = _read_extract_input(tmp_path / "t.txt")
    assert samples == ["first text", "  second, with spaces  "] and labels is None


# --------------------------------------------------------------------------- demo


def test_demo_quick_prints_the_table_and_writes_loadable_outputs(tmp_path, capsys):
    threads = torch.get_num_threads()
    out_dir = tmp_path / "demo"
    assert main(["demo", "--quick", "--noise-rates", "0,0.2", "--output-dir", str(out_dir), "--seed", "1",
                 "--device", "cpu"]) == 0
    assert torch.get_num_threads() == threads, "the demo must restore torch's thread setting"
    out = capsys.readouterr().out

    table = [line.split() for line in out.splitlines() if re.match(r"CNN \d+% noise\s", line)]
    printed = [(f"{r[0]} {r[1]} {r[2]}", r[3]) for r in table]
    assert printed == [(f"CNN {g}% noise", m) for g in (0, 20) for m in ("LP", "MLP", "NMTune")]
    assert re.search(r"^summary: .*2-SE band", out, flags=re.M)

    with open(out_dir / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6
    for line, row in zip(table, rows):
        assert float(line[4]) == pytest.approx(float(row["id_acc"]), abs=5e-5)
        assert float(line[5]) == pytest.approx(float(row["ood_acc"]), abs=5e-5)
        assert 0.0 <= float(row["id_acc"]) <= 1.0
    lp = [r for r in rows if r["method"] == "LP"]
    assert all(r["sve_f_id"] == r["sve_z_id"] for r in lp), "LP's Z is F itself"
    info = json.loads((out_dir / "results.json").read_text())["info"]
    assert info["n_test"] == info["n_ood"] and info["seed"] == 1
    for name in ("spectra.png", "accuracy.png"):
        assert (out_dir / name).read_bytes()[:4] == b"\x89PNG"


def test_demo_on_user_features_with_ood(digits_files, tmp_path, capsys):
    X, y = load_digits(return_X_y=True)
    X_ood = np.clip(X[600:900] / 16.0 + 0.3, 0, 1).astype(np.float32)
    np.save(tmp_path / "ood.npy", X_ood)
    assert main(["demo", "--features", str(digits_files / "train.npz"), "--ood-features", str(tmp_path / "ood.npy"),
                 "--ood-labels", str(digits_files / "test_labels.npy"), "--methods", "lp,nmtune", "--epochs", "2",
                 "--no-plot", "--quiet", "--output-dir", str(tmp_path / "out"), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith("train ")]
    assert [r[1] for r in rows] == ["LP", "NMTune"]
    assert all(r[3] != "-" for r in rows), "OOD accuracy must be reported"
    assert not (tmp_path / "out" / "spectra.png").exists()
    result = json.loads((tmp_path / "out" / "results.json").read_text())
    assert result["info"]["n_ood"] == 300 and result["info"]["n_test"] == 180


def test_demo_on_an_images_folder_with_a_named_backbone(tmp_path, capsys):
    from PIL import Image

    digits = load_digits()
    for i in np.flatnonzero(digits.target < 2)[:16]:
        folder = tmp_path / "images" / ("zero" if digits.target[i] == 0 else "one")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(digits.images[i].astype(np.uint8) * 16).save(folder / f"{i}.png")
    assert main(["demo", "--images", str(tmp_path / "images"), "--backbone", "cifar_resnet20", "--no-pretrained",
                 "--methods", "lp", "--epochs", "1", "--no-plot", "--quiet", "--device", "cpu",
                 "--output-dir", str(tmp_path / "out")]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("cifar_resnet20 ")]
    assert [r[1] for r in rows] == ["LP"] and rows[0][3] == "-"  # no OOD images: no OOD accuracy
    info = json.loads((tmp_path / "out" / "results.json").read_text())["info"]
    assert info["n_train"] + info["n_test"] == 16


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "missing command"),
        (["spectrum", "{d}/missing.npy"], "features file not found"),
        (["spectrum", "{d}/test_labels.txt"], "unsupported extension '.txt'"),
        (["spectrum", "{d}/bad.npz"], "has no array named 'X'"),
        (["spectrum", "{d}/test.npy", "--plot", "{d}/x.gif"], "plot file"),
        (["spectrum", "{d}/test.npy", "{d}/test.npy"], "need distinct names"),
        (["fit", "{d}/test.npy", "-o", "{d}/m.skn"], "no labels for"),
        (["fit", "{d}/train.npz", "--labels", "{d}/test_labels.npy", "-o", "{d}/m.skn"], "300 labels for 600 samples"),
        (["fit", "{d}/train.npz", "-o", "{d}/m.skn", "--set", "bogus=1"], "unknown parameter(s) bogus"),
        (["fit", "{d}/train.npz", "-o", "{d}/m.skn", "--set", "nonsense"], "--set expects KEY=VALUE"),
        (["fit", "{d}/train.npz", "-o", "{d}/m.skn", "--preset", "nope"], "Unknown preset 'nope'"),
        (["fit", "{d}/train.npz", "-o", "{d}/m.skn", "--epochs", "0"], "expected a positive integer"),
        (["fit", "{d}/train.npz", "-o", "{d}/m.skn", "--head", "vote", "--preset", "lp"],
         "--preset go with --head preset; with --head vote use --set"),
        (["fit", "{d}/train.npz", "-o", "{d}/m.skn", "--head", "cv", "--epochs", "3"], "--epochs go with --head preset"),
        (["fit", "{d}/train.npz", "-o", "{d}/m.skn", "--head", "vote", "--set", "mlp__bogus=1"],
         "unknown parameter(s) mlp__bogus for --set; VotingClassifier takes"),
        (["fit", "{d}/train.npz", "-o", "{d}/m.skn", "--head", "svm"], "unknown --head 'svm'"),
        (["predict", "{d}/missing.joblib", "{d}/test.npy", "-o", "{d}/p.npy"], "model file not found"),
        (["predict", "{d}/model.skn", "{d}/test.npy", "-o", "{d}/p.txt"], "use .npy, .csv"),
        (["demo", "--noise-rates", "0,2"], "fractions in [0, 1)"),
        (["demo", "--ood-features", "{d}/test.npy"], "--ood-features needs --features"),
        (["demo", "--images", "{d}"], "--images and --backbone go together"),
        (["demo", "--methods", "lp,svm", "--no-plot"], "--methods must name heads"),
        (["extract", "{d}/empty.txt", "--backbone", "cifar_resnet20", "-o", "{d}/f.npz"], "has no non-empty lines"),
        (["extract", "{d}/test.npy", "--backbone", "cifar_resnet20", "-o", "{d}/f.npz"], "expected an image array"),
    ],
)
def test_bad_input_gives_one_line_and_status_2(digits_files, fitted_model, capsys, argv, message):
    argv = [a.format(d=digits_files) for a in argv]
    assert main(argv) == 2
    line = _error_line(capsys)
    assert message in line
    assert "Traceback" not in line


def test_missing_optional_dependency_is_a_one_line_error(monkeypatch, tmp_path, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    assert main(["demo", "--output-dir", str(tmp_path)]) == 2
    assert "pip install 'sknmtune[plots]', or pass --no-plot" in _error_line(capsys)


def test_runtime_failure_gives_status_1(digits_files, tmp_path, capsys):
    assert main(["fit", str(digits_files / "train.npz"), "-o", str(tmp_path / "m.skn"), "--preset", "mlp",
                 "--set", "lr=1e30", "--epochs", "2", "--device", "cpu"]) == 1
    assert "diverged" in _error_line(capsys)
    assert not (tmp_path / "m.skn").exists()


def test_error_message_is_exact(capsys):
    assert main(["spectrum", "no-such-file.npy"]) == 2
    assert capsys.readouterr().err == "sknmtune: error: features file not found: no-such-file.npy\n"


def test_traceback_flag_reraises(digits_files):
    with pytest.raises(FileNotFoundError, match="features file not found"):
        main(["spectrum", str(digits_files / "missing.npy"), "--traceback"])
