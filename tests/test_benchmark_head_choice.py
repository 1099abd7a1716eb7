"""The head recommendation is computed by code from validation records only (``benchmarks/head_choice.py``)."""

from __future__ import annotations

import shutil

from benchmarks import head_choice
from benchmarks.harness.io import RESULTS_DIR


def test_head_choice_rerenders_byte_identical_from_the_stored_records(tmp_path):
    for name in ("accuracy_imagenet_validation.json", "pacs_domainbed.json"):
        if (RESULTS_DIR / name).is_file():
            shutil.copy(RESULTS_DIR / name, tmp_path / name)
    head_choice.main(tmp_path)
    for name in ("head_choice.json", "head_choice.md"):
        assert (tmp_path / name).read_bytes() == (RESULTS_DIR / name).read_bytes(), name


def _pacs(method, protocol, unit, sources, role, domain, accuracy, seed=0):
    return {"protocol": protocol, "backbone": "b", "unit": unit, "sources": sources, "method": method, "seed": seed,
            "role": role, "domain": domain, "accuracy": accuracy}


def test_only_validation_records_are_read_and_each_unit_says_which_domains_it_touched():
    records = [_pacs("vote", "lodo", "sketch", "art_painting+cartoon+photo", "val", "val", 0.8),
               _pacs("vote", "lodo", "sketch", "art_painting+cartoon+photo", "ood", "sketch", 0.1),
               _pacs("cv", "single", "photo", "photo", "val", "val", 0.7),
               _pacs("vote", "single", "photo", "photo", "val", "val", 0.72),
               _pacs("cv", "single", "sketch", "sketch", "val", "val", 0.7)]  # its first phase still runs: no vote
    imagenet = [{"backbone": "b", "task": t, "seed": 0, "method": m, "role": "val", "accuracy": 0.5}
                for t in ("dtd10", "pacs-sketch") for m in ("voting", "recommended", "logreg_cv", "svm")]
    rows = head_choice.validation_rows(imagenet, records)
    # no ood record, no unknown method, no unit whose first phase is unfinished
    assert all(r["role"] == "val" for r in rows) and len(rows) == 3 + 6
    assert not any(r["task"] == "single:sketch" for r in rows)
    touched = {(r["evidence"].split(",")[0], r["task"]): r["touches"] for r in rows}
    assert touched[("PACS multi-source", "lodo:sketch")] == "art_painting+cartoon+photo"
    assert touched[("PACS single-source", "single:photo")] == "photo"
    assert touched[("ImageNet tasks", "pacs-sketch")] == "sketch" and touched[("ImageNet tasks", "dtd10")] == ""
    # the study's cv searched every row; its cv-sub2000 is the package's default NMTuneClassifierCV()
    assert {r["method"] for r in rows} == {"vote", "cv-all-rows", "cv", "logreg-cv"}
    assert [r["method"] for r in rows if r["task"] == "single:photo"] == ["cv-all-rows", "vote"]


def test_a_target_is_never_decided_on_units_that_touched_it():
    # the vote leads by 3 points on every unit that trained on sketch, and nowhere else
    records = []
    for target in ("art_painting", "cartoon", "photo", "sketch"):
        sources = "+".join(d for d in head_choice.PACS_DOMAINS if d != target)
        for seed in range(2):
            for backbone in ("b1", "b2", "b3", "b4", "b5", "b6"):
                for method, acc in (("logreg-cv", 0.8), ("cv-sub2000", 0.8),
                                    ("vote", 0.8 + (0.03 if "sketch" in sources else 0))):
                    records.append({**_pacs(method, "lodo", target, sources, "val", "val", acc + 0.001 * seed, seed),
                                    "backbone": backbone})
    result = head_choice.decide(head_choice.validation_rows([], records), records)
    probe = result["decisions"]["vs-probe"]
    assert probe["pooled"]["head"] == "vote"  # 18 of 24 clusters lead
    assert probe["per_target"]["sketch"]["head"] == "logreg-cv"  # its 6 clusters never trained on sketch: no lead
    assert probe["changed"] == ["sketch"]
    assert "Each PACS domain left out" in head_choice.render(result)
