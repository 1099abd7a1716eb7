"""Smoke test of ``python -m benchmarks.noisy_pretraining`` in its --tiny mode (skipped where the shared data is absent).

One tiny end-to-end run (2 noise ratios, 1 epoch on 320 CIFAR-10 images, every head) checks that the
study produces its JSON, figures and claims table, that each checkpoint loads through
``FrozenBackboneTransformer`` and gives the trained network's own features, and that a second run
skips the finished noise ratios.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import datasets as bd  # noqa: E402
from benchmarks import noisy_pretraining as npt  # noqa: E402
from benchmarks.harness.noisy_pretraining import training as noisy_training  # noqa: E402
from benchmarks.harness.noisy_pretraining.cifar10 import cifar10_available  # noqa: E402


def _require_data() -> None:
    if not cifar10_available():
        pytest.skip("CIFAR-10 zips (../shared/data/cifar10-jpg) are absent")
    for folder in ("pacs", "mnist-t10k", "usps-test", "mnist-m-test"):
        if not (bd.data_root() / folder).is_dir():
            pytest.skip(f"shared data folder {folder!r} is absent")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    _require_data()
    root = tmp_path_factory.mktemp("noisy_pretraining")
    argv = ["--tiny", "--threads", "1", "--no-progress",
            "--results-dir", str(root / "results"), "--checkpoint-dir", str(root / "ckpt")]
    return root, argv, npt.main(argv)


def test_augment_returns_shifted_flipped_crops_of_the_padded_image():
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (16, 32, 32, 3), dtype=torch.uint8)
    mean, std = torch.zeros(1, 3, 1, 1), torch.ones(1, 3, 1, 1)
    out = noisy_training.augment(x, mean, std, gen)
    assert out.shape == (16, 3, 32, 32)
    padded = torch.nn.functional.pad(x.permute(0, 3, 1, 2).float() / 255, (4, 4, 4, 4))
    crops = {(dy, dx, f) for dy in range(9) for dx in range(9) for f in (False, True)}
    for i in range(16):
        found = [
            c for c in crops
            if torch.equal(out[i], (lambda p: p.flip(2) if c[2] else p)(padded[i, :, c[0]:c[0] + 32, c[1]:c[1] + 32]))
        ]
        assert found, f"sample {i} is not a (flipped) 32x32 crop of its 4-px padded image"


@pytest.mark.slow
def test_tiny_study_writes_results_and_checkpoints(tiny_run):
    root, _, code = tiny_run
    assert code == 0
    res = root / "results"
    pre = json.loads((res / "pretraining.json").read_text())
    assert set(pre["gammas"]) == {"0", "30"}
    for g, row in pre["gammas"].items():
        assert 0.0 <= row["clean_test_acc"] <= 1.0
        assert Path(row["checkpoint"]).is_file()
    assert pre["gammas"]["0"]["n_corrupted"] == 0
    assert pre["gammas"]["30"]["n_corrupted"] == round(0.3 * pre["config"]["n_train"])

    down = json.loads((res / "downstream.json").read_text())
    assert set(down["gammas"]) == {"0", "30"}
    recs = down["gammas"]["0"]["records"]
    assert {r["method"] for r in recs} == {"LP", "MLP", "NMTune", "MLP-authors", "NMTune-authors"}
    assert {r["role"] for r in recs} == {"id", "ood"}  # sknmtune.evaluation.evaluate_heads records
    assert {r["domain"] for r in recs if r["role"] == "ood"} == {
        "pacs/art_painting", "pacs/cartoon", "pacs/sketch", "usps", "mnist-m"}
    assert {r["fraction"] for r in recs if r["method"] == "LP"} == {0.5, 1.0}
    assert all(0.0 <= r["accuracy"] <= 1.0 and np.isfinite(r["sve_Z"]) and np.isfinite(r["sve_F"]) for r in recs)

    results = json.loads((res / "results.json").read_text())
    assert results["claims"] and all(c["verdict"] for c in results["claims"])
    for name in results["figures"]:
        assert (res / name).stat().st_size > 1000
    md = (res / "claims.md").read_text()
    assert "Table 3" in md and "| 1 |" in md


@pytest.mark.slow
def test_checkpoint_loads_through_frozen_backbone_transformer(tiny_run):
    from sknmtune.backbones import FrozenBackboneTransformer

    root, _, _ = tiny_run
    pre = json.loads((root / "results" / "pretraining.json").read_text())
    mean, std = pre["normalization"]["mean"], pre["normalization"]["std"]
    ckpt = pre["gammas"]["30"]["checkpoint"]
    images = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)

    feats = FrozenBackboneTransformer(
        "resnet18", pretrained=False, weights=ckpt, image_size=32, crop_pct=1.0, mean=mean, std=std, device="cpu"
    ).fit_transform(images)

    model = noisy_training.create_model("resnet18", 10)
    model.load_state_dict(torch.load(ckpt, map_location="cpu", weights_only=True))
    model.eval()
    x = noisy_training.to_input(torch.from_numpy(images), torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1))
    with torch.no_grad():
        own = model.forward_head(model.forward_features(x), pre_logits=True).numpy()
    np.testing.assert_allclose(feats, own, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_second_run_skips_finished_gammas(tiny_run, capsys):
    root, argv, _ = tiny_run
    before = (root / "results" / "pretraining.json").read_text()
    capsys.readouterr()
    assert npt.main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("already pre-trained") == 2
    assert out.count("downstream already done") == 2
    assert (root / "results" / "pretraining.json").read_text() == before
