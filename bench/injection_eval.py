"""Detection and false-positive rates of security.injection on the labelled corpora.

Run from the project root: ``python bench/injection_eval.py [--threshold T] [--show-errors]``.
Prints one row per file and category (rows, detection rate on injections, false-positive rate
on benign rows) plus totals, and the scan time per kilobyte.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from security.injection import DEFAULT_THRESHOLD, scan

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpora" / "injections"
FILES = ("injections.jsonl", "code_injections.jsonl")


@dataclass
class Tally:
    injections: int = 0
    detected: int = 0
    benign: int = 0
    false_positives: int = 0
    chars: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def add(self, label: str, flagged: bool, text: str, elapsed: float) -> None:
        self.chars += len(text)
        self.seconds += elapsed
        if label == "injection":
            self.injections += 1
            self.detected += flagged
        else:
            self.benign += 1
            self.false_positives += flagged

    def merge(self, other: Tally) -> None:
        for name in ("injections", "detected", "benign", "false_positives", "chars"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.seconds += other.seconds


def rate(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:6.1f}%" if whole else "      -"


def row(name: str, t: Tally) -> str:
    per_kb = 1000.0 * t.seconds / (t.chars / 1024) if t.chars else 0.0
    return (
        f"{name:<44} {t.injections:>5} {rate(t.detected, t.injections)} "
        f"{t.benign:>5} {rate(t.false_positives, t.benign)} {per_kb:8.2f}"
    )


def evaluate(threshold: float, show_errors: bool) -> None:
    header = (
        f"{'file / category':<44} {'inj':>5} {'detect':>7} {'benign':>5} {'FP':>7} {'ms/KB':>8}"
    )
    print(header)
    print("-" * len(header))
    grand = Tally()
    for file_name in FILES:
        tallies: dict[str, Tally] = defaultdict(Tally)
        for line in (CORPUS / file_name).read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            text = item["text"]
            category = item.get("category") or item.get("wrapper") or "none"
            began = time.perf_counter()
            hits = scan(text, threshold=threshold)
            elapsed = time.perf_counter() - began
            tallies[category].add(item["label"], bool(hits), text, elapsed)
            wrong = bool(hits) != (item["label"] == "injection")
            if show_errors and wrong:
                reasons = sorted({r for h in hits for r in h.reasons})
                tallies[category].errors.append(f"  {item['id']} {reasons} {text[:300]!r}")
        file_total = Tally()
        for category in sorted(tallies):
            print(row(f"{file_name}:{category}", tallies[category]))
            file_total.merge(tallies[category])
        print(row(f"{file_name}: total", file_total))
        print()
        grand.merge(file_total)
        if show_errors:
            for category in sorted(tallies):
                for error in tallies[category].errors:
                    print(f"[{category}]{error}")
    print(row("all files", grand))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--show-errors", action="store_true", help="print missed and false rows")
    args = parser.parse_args()
    evaluate(args.threshold, args.show_errors)


if __name__ == "__main__":
    main()
