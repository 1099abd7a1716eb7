"""benchmarks/label_noise.py: the report's paired differences come from matched (task, seed) units."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import label_noise as ln  # noqa: E402


def _record(task, method, rate, seed, accuracy, role="id", domain="id"):
    return {"task": task, "backbone": "bb", "method": method, "noise_rate": rate, "seed": seed,
            "role": role, "domain": domain, "accuracy": accuracy}


def test_report_pairs_units_and_counts_wins(tmp_path):
    records = []
    for task, base in (("a", 0.5), ("b", 0.7)):
        records += [_record(task, "lp", 0.2, 0, base), _record(task, "mlp", 0.2, 0, base + 0.02),
                    _record(task, "nmtune-paper", 0.2, 0, base + 0.05)]
    # an unmatched unit (no NMTune record) must not enter the means
    records.append(_record("c", "lp", 0.2, 0, 0.0))
    records.append(_record("c", "mlp", 0.2, 0, 0.0))
    # OOD: two domains of one unit are averaged first
    records += [_record("a", m, 0.2, 0, acc, role="ood", domain=d)
                for m, accs in (("lp", (0.2, 0.4)), ("mlp", (0.3, 0.3)), ("nmtune-paper", (0.1, 0.3)))
                for d, acc in zip(("x", "y"), accs)]
    ln.render(records, tmp_path / "report.md")
    text = (tmp_path / "report.md").read_text()
    id_row = next(line for line in text.splitlines() if line.startswith("| bb | 20% | 60.0"))
    assert "| 60.0 | 62.0 | 65.0 | +3.00 (2/2) | +5.00 (2/2) | 2 |" in id_row
    ood_row = [line for line in text.split("## OOD")[1].splitlines() if line.startswith("| bb | 20%")][0]
    assert "| 30.0 | 30.0 | 20.0 | -10.00 (0/1) | -10.00 (0/1) | 1 |" in ood_row
