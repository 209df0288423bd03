"""Detection and false-positive rates of security.injection on the labelled corpora.

Run from the project root:
``python bench/injection_eval.py [--threshold T] [--split] [--show-errors]``.

Prints one row per file and category (injection rows and the share detected, benign rows and
the share flagged) plus totals, and the scan time per kilobyte. ``--split`` assigns every row
to a development part (75 %) or a check part (25 %) by a hash of its id (of its attack's id for
injections wrapped into code, so one attack string never lands in both parts) and prints the
rates of both parts next to the full figures. ``--show-errors`` lists the misclassified rows;
with ``--split`` only those of the development part.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import corpora
from security.injection import DEFAULT_THRESHOLD, scan

CORPUS = corpora.ROOT / "injections"
FILES = ("injections.jsonl", "code_injections.jsonl")
PARTS = ("dev", "check", "full")


@dataclass
class Tally:
    injections: int = 0
    detected: int = 0
    benign: int = 0
    false_positives: int = 0
    chars: int = 0
    seconds: float = 0.0

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


@dataclass
class Row:
    """One category of one file: a tally per part."""

    parts: dict[str, Tally] = field(default_factory=lambda: {p: Tally() for p in PARTS})

    def merge(self, other: Row) -> None:
        for part in PARTS:
            self.parts[part].merge(other.parts[part])


def part_of(item: dict[str, object]) -> str:
    """``check`` for the quarter of rows whose split key hashes to 0 mod 4, else ``dev``."""
    key = str(item.get("attack_id") or item["id"])
    return "check" if hashlib.sha256(key.encode()).digest()[0] % 4 == 0 else "dev"


def rate(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:6.1f}%" if whole else "      -"


def ms_per_kb(t: Tally) -> float:
    return 1000.0 * t.seconds / (t.chars / 1024) if t.chars else 0.0


def format_row(name: str, row: Row, split: bool) -> str:
    full = row.parts["full"]
    shown = PARTS if split else ("full",)
    detect = " ".join(rate(row.parts[p].detected, row.parts[p].injections) for p in shown)
    false = " ".join(rate(row.parts[p].false_positives, row.parts[p].benign) for p in shown)
    return (
        f"{name:<44} {full.injections:>5} {detect} {full.benign:>6} {false} {ms_per_kb(full):7.2f}"
    )


def header(split: bool) -> str:
    if split:
        detect = f"{'det:dev':>7} {'check':>7} {'full':>7}"
        false = f"{'FP:dev':>7} {'check':>7} {'full':>7}"
    else:
        detect, false = f"{'detect':>7}", f"{'FP':>7}"
    return f"{'file / category':<44} {'inj':>5} {detect} {'benign':>6} {false} {'ms/KB':>7}"


def evaluate(threshold: float, split: bool, show_errors: bool) -> None:
    title = header(split)
    print(title)
    print("-" * len(title))
    grand = Row()
    errors: list[str] = []
    for file_name in FILES:
        rows: dict[str, Row] = defaultdict(Row)
        for line in (CORPUS / file_name).read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            text = item["text"]
            category = item.get("category") or item.get("wrapper") or "none"
            part = part_of(item)
            began = time.perf_counter()
            hits = scan(text, threshold=threshold)
            elapsed = time.perf_counter() - began
            for tally in (rows[category].parts[part], rows[category].parts["full"]):
                tally.add(item["label"], bool(hits), text, elapsed)
            wrong = bool(hits) != (item["label"] == "injection")
            if show_errors and wrong and (part == "dev" or not split):
                reasons = sorted({r for h in hits for r in h.reasons})
                errors.append(f"[{category}] {item['id']} {reasons} {text[:300]!r}")
        file_total = Row()
        for category in sorted(rows):
            print(format_row(f"{file_name}:{category}", rows[category], split))
            file_total.merge(rows[category])
        print(format_row(f"{file_name}: total", file_total, split))
        print()
        grand.merge(file_total)
    print(format_row("all files", grand, split))
    for error in errors:
        print(error)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--split", action="store_true", help="rates on dev and check parts too")
    parser.add_argument("--show-errors", action="store_true", help="print misclassified rows")
    args = parser.parse_args()
    evaluate(args.threshold, args.split, args.show_errors)


if __name__ == "__main__":
    main()
