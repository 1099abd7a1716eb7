"""Paired differences over clusters, the exact sign-flip fallback and claims, against hand-computed cases."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from sknmtune.evaluation import Claim, claim, paired_difference, paper_claims


def _records(diffs_by_cluster: dict[str, list[float]], base: float = 0.5) -> list[dict]:
    """Methods "a" and "b" on clusters (domains) x seeds, with a - b given per (domain, seed)."""
    out = []
    for domain, diffs in diffs_by_cluster.items():
        for seed, d in enumerate(diffs):
            out.append({"method": "b", "role": "ood", "domain": domain, "seed": seed, "accuracy": base})
            out.append({"method": "a", "role": "ood", "domain": domain, "seed": seed, "accuracy": base + d})
    return out


def test_clusters_default_to_units_without_the_seed_and_weigh_equally():
    # domain x: 3 seeds of +0.1 ; domain y: 1 seed of -0.2 -> cluster means 0.1, -0.2 -> mean -0.05
    d = paired_difference(_records({"x": [0.1, 0.1, 0.1], "y": [-0.2]}), "a", "b", role="ood")
    assert d.clusters == ("domain",) and d.n_clusters == 2 and d.n_units == 4 and d.wins == 3
    assert d.mean == pytest.approx(-0.05) and d.cluster_wins == 1
    # the cluster bootstrap only ever averages cluster means: its interval lies between them
    assert -0.2 - 1e-12 <= d.low <= d.high <= 0.1 + 1e-12


def test_exact_sign_flip_p_value_by_hand():
    # cluster means 1, 2, 3 (x 0.01): of the 8 sign patterns, |mean| >= 2 only for +++ and --- -> p = 2/8
    d = paired_difference(_records({"u": [0.01], "v": [0.02], "w": [0.03]}), "a", "b", role="ood")
    assert d.p_value == pytest.approx(0.25)
    # four domains all ahead: 2 of 16 patterns as extreme -> p = 0.125: never significant at 95 %
    d4 = paired_difference(_records({c: [0.05, 0.06] for c in "wxyz"}), "a", "b", role="ood")
    assert (d4.n_clusters, d4.few_clusters, d4.p_value, d4.verdict) == (4, True, 0.125, "inconclusive")
    assert d4.low > 0  # the bootstrap interval alone would have said "reproduced": that is what few clusters hide
    # six clusters all ahead: p = 2/64 and the interval is used (6 = min_clusters)
    d6 = paired_difference(_records({c: [0.05] for c in "uvwxyz"}), "a", "b", role="ood")
    assert d6.p_value == pytest.approx(2 / 64) and not d6.few_clusters and d6.verdict == "reproduced"


def test_sign_flip_matches_a_brute_force_enumeration():
    rng = np.random.default_rng(3)
    means = rng.normal(0.01, 0.02, size=7)
    d = paired_difference(_records({str(i): [m] for i, m in enumerate(means)}), "a", "b", role="ood")
    flips = [abs(np.mean(np.array(s) * means)) for s in itertools.product((1, -1), repeat=7)]
    assert d.p_value == pytest.approx(np.mean(np.array(flips) >= abs(means.mean()) - 1e-15))


def test_few_clusters_use_the_exact_test_and_a_large_effect_with_enough_clusters_is_refuted():
    behind = paired_difference(_records({c: [-0.05, -0.04] for c in "abcdefgh"}), "a", "b", role="ood")
    assert behind.verdict == "refuted" and behind.high < 0 and behind.p_value == pytest.approx(2 / 256)
    with_p = paired_difference(_records({c: [-0.05] for c in "abcde"}), "a", "b", role="ood")
    assert with_p.few_clusters and with_p.p_value == pytest.approx(2 / 32) and with_p.verdict == "inconclusive"
    assert paired_difference(_records({c: [-0.05] for c in "abcde"}), "a", "b", role="ood",
                             confidence=0.9).verdict == "refuted"  # p = 0.0625 <= 0.1


def test_seeds_that_share_a_split_do_not_count_as_independent():
    records = _records({"x": [0.02, 0.03, 0.025, 0.021, 0.028], "y": [0.01, 0.012, 0.011, 0.013, 0.009]})
    pooled = paired_difference(records, "a", "b", role="ood", clusters=("domain", "seed"), bootstrap="unit")
    clustered = paired_difference(records, "a", "b", role="ood")
    assert pooled.verdict == "reproduced" and pooled.n_clusters == 10
    assert clustered.verdict == "inconclusive" and clustered.n_clusters == 2


def test_hierarchical_bootstrap_resamples_inside_clusters():
    records = _records({c: [0.0, 0.1] for c in "abcdef"})  # identical clusters, spread only inside them
    cluster = paired_difference(records, "a", "b", role="ood", bootstrap="cluster")
    hier = paired_difference(records, "a", "b", role="ood", bootstrap="hierarchical", n_boot=2000)
    assert cluster.low == pytest.approx(0.05) and cluster.high == pytest.approx(0.05)  # no spread between clusters
    assert hier.low < 0.05 < hier.high and hier.mean == pytest.approx(0.05)


def test_bad_arguments_are_named():
    records = _records({"x": [0.1]})
    with pytest.raises(ValueError, match="bootstrap"):
        paired_difference(records, "a", "b", bootstrap="cases")
    with pytest.raises(ValueError, match="clusters"):
        paired_difference(records, "a", "b", clusters=("task",))
    with pytest.raises(ValueError, match="confidence"):
        paired_difference(records, "a", "b", confidence=1.0)
    assert paired_difference(records, "a", "nope").verdict == "no data"


def test_describe_names_the_clusters_and_warns_when_few():
    d = paired_difference(_records({c: [0.05] for c in "wxyz"}), "a", "b", role="ood")
    text = d.describe()
    assert text.startswith("+5.00 [+5.00, +5.00], 4 domain clusters") and "exact sign-flip" in text


def _three_methods(nmtune: float, mlp: float, lp: float, n: int = 6) -> list[dict]:
    return [{"method": m, "role": "ood", "domain": f"d{i}", "seed": 0, "accuracy": acc + 0.001 * i}
            for i in range(n) for m, acc in (("nmtune", nmtune), ("mlp", mlp), ("lp", lp))]


@pytest.mark.parametrize("accs, main, chain", [
    ((0.70, 0.60, 0.50), "reproduced", "reproduced"),   # NMTune > MLP > LP
    ((0.70, 0.50, 0.60), "reproduced", "refuted"),      # NMTune beats both, but MLP < LP: the chain fails
    ((0.55, 0.50, 0.60), "refuted", "refuted"),         # NMTune behind LP
])
def test_the_main_claim_and_the_chain_are_separate_verdicts(accs, main, chain):
    claims = {c.name: c for c in paper_claims(_three_methods(*accs), nmtune="nmtune", mlp="mlp", lp="lp", role="ood")}
    assert claims["NMTune > max(LP, MLP)"].verdict == main
    assert claims["NMTune > MLP > LP"].verdict == chain
    assert [pair for pair in claims["NMTune > max(LP, MLP)"].comparisons] == [("nmtune", "lp"), ("nmtune", "mlp")]


def test_claim_verdict_rules():
    records = _three_methods(0.70, 0.60, 0.60)  # MLP and LP equal: MLP > LP has a zero difference
    assert claim(records, "x", [("nmtune", "mlp"), ("mlp", "lp")], role="ood").verdict == "inconclusive"
    assert claim(records, "x", [("nmtune", "absent")], role="ood").verdict == "no data"
    assert isinstance(claim(records, "x", [("nmtune", "lp")], role="ood"), Claim)
    with pytest.raises(ValueError, match="at least one comparison"):
        claim(records, "x", [])


# ------------------------------------------------------------------------------------------ decisions
from sknmtune.evaluation import recommend_head, recommend_head_leaving_out  # noqa: E402


def _val(leads: dict[str, float], n_tasks: int = 8, role: str = "val") -> list[dict]:
    return [{"method": m, "role": role, "task": f"t{i}", "seed": s, "accuracy": 0.8 + lead + 0.002 * i + 0.001 * s}
            for i in range(n_tasks) for s in range(2) for m, lead in leads.items()]


def test_the_reference_stays_unless_beaten_decisively():
    rec = recommend_head(_val({"probe": 0.0, "cv": 0.0, "vote": 0.0}), reference="probe")
    assert rec.head == "probe" and not rec.decisive and "No head" in rec.statement
    rec = recommend_head(_val({"probe": 0.0, "cv": 0.01, "vote": 0.02}), reference="probe")
    assert rec.head == "vote" and rec.decisive and rec.leader == "vote"
    assert rec.means["vote"] == pytest.approx(rec.means["probe"] + 0.02)
    assert set(rec.differences) == {"cv", "vote"} and rec.as_dict()["differences"]["vote"]["n_clusters"] == 8


def test_a_leader_on_too_few_clusters_does_not_replace_the_reference():
    rec = recommend_head(_val({"probe": 0.0, "vote": 0.03}, n_tasks=4), reference="probe")
    assert (rec.head, rec.leader, rec.decisive) == ("probe", "vote", False)
    assert "not" in rec.statement or "No head" in rec.statement


def test_a_head_measured_on_part_of_the_evidence_does_not_replace_the_reference():
    # "narrow" leads decisively, but only on 8 of the reference's 12 tasks; "vote" leads less, on all of them
    records = _val({"probe": 0.0, "vote": 0.01}, n_tasks=12) + [
        r for r in _val({"narrow": 0.03}, n_tasks=12) if int(r["task"][1:]) < 8]
    rec = recommend_head(records, reference="probe")
    assert rec.coverage == {"vote": 1.0, "narrow": pytest.approx(8 / 12)}
    assert rec.differences["narrow"].verdict == "reproduced" and rec.head == "vote" and rec.leader == "narrow"
    assert rec.as_dict()["coverage"]["narrow"] == pytest.approx(8 / 12)
    rec = recommend_head(records, reference="probe", min_coverage=0.5)
    assert rec.head == "narrow"
    alone = recommend_head([r for r in records if r["method"] != "vote"], reference="probe")
    assert alone.head == "probe" and "narrow is decisively ahead on the 67 % of the evidence" in alone.statement
    for bad in (0, 1.5, True, "all"):
        with pytest.raises(ValueError, match="min_coverage must be a share"):
            recommend_head(records, reference="probe", min_coverage=bad)


def test_the_decision_never_reads_test_records():
    records = _val({"probe": 0.0, "vote": 0.0}) + _val({"probe": 0.0, "vote": 0.05}, role="ood")
    assert recommend_head(records, reference="probe").head == "probe"
    assert recommend_head(records, reference="probe", role="ood").head == "vote"


def test_errors_name_the_missing_methods():
    with pytest.raises(ValueError, match="reference 'lr'"):
        recommend_head(_val({"probe": 0.0}), reference="lr")
    with pytest.raises(ValueError, match=r"candidates \['svm'\]"):
        recommend_head(_val({"probe": 0.0}), reference="probe", candidates=["svm"])


def test_target_left_out_drops_every_unit_that_touched_the_target():
    # units trained on sources {a,b,c} minus one; the vote only leads on units that used domain "a"
    records = []
    for held in "abcd":
        used = set("abcd") - {held}
        lead = 0.04 if "a" in used else 0.0
        for i in range(8):
            for m, acc in (("probe", 0.8), ("vote", 0.8 + lead)):
                records.append({"method": m, "role": "val", "domain": f"val-{held}", "task": f"{held}{i}", "seed": 0,
                                "sources": "+".join(sorted(used)), "accuracy": acc + 0.001 * i})
    out = recommend_head_leaving_out(records, ["a", "b"], touches=lambda r: r["sources"].split("+"),
                                     reference="probe")
    assert out.pooled.head == "vote"  # 24 of 32 units lead
    assert out.per_target["a"].head == "probe"  # only the 8 units held out on "a" never touched it: no lead there
    assert out.per_target["b"].head == "vote" and out.changed == ["a"] and out.n_changed == 1
    assert out.as_dict()["n_changed"] == 1
    with pytest.raises(ValueError, match="free of target 'z'"):
        recommend_head_leaving_out(records, ["z"], touches=lambda r: "z", reference="probe")


# ------------------------------------------------------------------------------------------ spectra vs accuracy
from sknmtune.evaluation import rank_association  # noqa: E402


def test_rank_association_within_cells_and_over_clusters():
    # in every cell LSVR ranks the three heads exactly against accuracy: rho = -1; seeds average inside a domain
    records = [{"method": m, "role": "ood", "domain": d, "seed": s, "accuracy": acc + 0.01 * s, "lsvr_Z": 2 - acc}
               for d in "uvwxyz" for s in range(2) for m, acc in (("a", 0.6), ("b", 0.7), ("c", 0.8))]
    a = rank_association(records, "lsvr_Z")
    assert (a.n_cells, a.n_clusters) == (12, 6) and a.rho == pytest.approx(-1.0)
    assert a.p_value == pytest.approx(2 / 64) and "12 cells in 6 clusters" in a.describe()
    # a cell with fewer than three heads, or a constant metric, says nothing and is left out
    two = [r for r in records if r["method"] != "c"]
    assert rank_association(two, "lsvr_Z").n_cells == 0
    flat = [dict(r, lsvr_Z=1.0) for r in records]
    assert rank_association(flat, "lsvr_Z").describe() == "no data"
