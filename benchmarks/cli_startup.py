"""Start-up cost of the package root and of the ``sknmtune`` command (issue: a light package root).

``import sknmtune`` resolves its public names lazily (PEP 562), so it and ``sknmtune --help`` load neither
torch, timm nor skorch. This measures, side by side in fresh interpreters (alternating, ``--repeats`` each):

- ``import sknmtune`` (the lazy root) and the modules it leaves unloaded;
- ``sknmtune --help`` (``python -m sknmtune.cli --help``);
- ``import sknmtune`` + touching ``NMTuneClassifier`` and ``FrozenBackboneTransformer``: what every call paid
  when the root imported torch, timm and skorch eagerly (the "before").

    python -m benchmarks.cli_startup            # -> benchmarks/results/cli_startup.json

Wall times depend on the machine's load: compare the ratios, measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "cli_startup.json"
HEAVY = ("torch", "timm", "skorch")
CASES = {
    "import sknmtune (lazy root)": ["-c", "import sknmtune"],
    "sknmtune --help": ["-m", "sknmtune.cli", "--help"],
    "import sknmtune + estimators (eager, the old root)": [
        "-c", "import sknmtune; sknmtune.NMTuneClassifier; sknmtune.FrozenBackboneTransformer"],
}


def _loaded_heavy() -> list[str]:
    probe = f"import sys, sknmtune; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    return [m for m in out.split(",") if m]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for name, cmd in CASES.items():  # warm the file-system cache once
        subprocess.run([sys.executable, *cmd], capture_output=True, check=True)
    for _ in range(args.repeats):
        for name, cmd in CASES.items():
            t0 = time.perf_counter()
            subprocess.run([sys.executable, *cmd], capture_output=True, check=True)
            times[name].append(time.perf_counter() - t0)
    eager = statistics.median(times["import sknmtune + estimators (eager, the old root)"])
    result = {
        "python": platform.python_version(),
        "repeats": args.repeats,
        "heavy_modules_loaded_by_import_sknmtune": _loaded_heavy(),
        "cases": {
            name: {"median_s": round(statistics.median(ts), 3), "min_s": round(min(ts), 3),
                   "ratio_to_eager": round(statistics.median(ts) / eager, 3)}
            for name, ts in times.items()
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
