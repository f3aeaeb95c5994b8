"""The ablation table of BENCHMARKS.md ("Lake's one-shot challenge") from bench/lake_ablation.py's outputs.

    python bench/lake_table.py RESULT.json [RESULT.json ...]

Each file holds lake_ablation.py's stdout (its last line is the JSON summary). Error rates are printed as
percentages: the mean over the folds, the sample standard deviation and the range.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def cell(summary: dict, key: str) -> str:
    if key not in summary:
        return "-"
    s = summary[key]
    return f"{100 * s['mean']:.1f} +- {100 * s['sd']:.1f} ({100 * s['min']:.1f}-{100 * s['max']:.1f})"


def main() -> None:
    print("| variant | minutes per fold | error, inductive | transductive | with 8 test-time views | "
          "5-way 1-shot acc | 20-way 1-shot acc |")
    print("|---|---|---|---|---|---|---|")
    for name in sys.argv[1:]:
        result = json.loads(Path(name).read_text().strip().splitlines()[-1])
        s = result["summary"]
        tta = "error_inductive_tta8" if "error_inductive_tta8" in s else "error_inductive"
        print(f"| {result['variant']} | {result['minutes_per_fold']:g} | {cell(s, 'error_inductive')} | "
              f"{cell(s, 'error_transductive')} | {cell(s, tta)} | {cell(s, 'acc_5way_1shot')} | "
              f"{cell(s, 'acc_20way_1shot')} |")


if __name__ == "__main__":
    main()
