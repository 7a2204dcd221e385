"""How far two labellers agree on the labelled sets: the ceiling of any score measured on them.

    python bench/agreement.py                  # the corpus (bench/corpus)
    python bench/agreement.py --set heldout    # the held-out set (bench/heldout)

A second labeller, given the labelling rules (bench/corpus/README.md, and the dev set's label
rules) and the texts without their labels, labelled a sample again: for the corpus,
bench/agreement/labels.jsonl (the enforcement label of 240 non-borderline items, 30 a language)
and bench/agreement/event_types.jsonl (the event type of 106 enforcement items); for the
held-out set, bench/agreement/heldout_labels.jsonl (every non-borderline item, its label and,
when enforcement, its event type). Prints the share of items where both agree, Cohen's kappa
for the label, and the second labeller's precision and recall taken against the first's labels,
per language too; then the event types of the items both call enforcement.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.cli.rules import read_all  # noqa: E402


def read(path: Path) -> list[dict[str, Any]]:
    """The second labeller's lines (no `text`: read_all's checks are for labelled items)."""
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def corpus(directory: Path) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in read_all([str(directory)])}


def kappa(pairs: list[tuple[int, int]]) -> float:
    """Cohen's kappa of two binary labellings."""
    n = len(pairs)
    observed = sum(a == b for a, b in pairs) / n
    first, second = sum(a for a, _ in pairs) / n, sum(b for _, b in pairs) / n
    expected = first * second + (1 - first) * (1 - second)
    return (observed - expected) / (1 - expected) if expected < 1 else 1.0


def agreement(labelled: dict[str, dict[str, Any]], second: list[dict[str, Any]],
              types: list[dict[str, Any]]) -> int:
    missing = [s["id"] for s in second if s["id"] not in labelled]
    if missing:
        print(f"not in the labelled set: {', '.join(missing)}", file=sys.stderr)
        return 1
    pairs = [(int(labelled[s["id"]]["label"]), int(s["label"])) for s in second]
    agree = sum(a == b for a, b in pairs)
    tp = sum(a == 1 and b == 1 for a, b in pairs)
    fp = sum(a == 0 and b == 1 for a, b in pairs)
    fn = sum(a == 1 and b == 0 for a, b in pairs)
    print(f"label: {len(pairs)} items, agreement {agree / len(pairs):.3f}, "
          f"kappa {kappa(pairs):.3f}; the second labeller against the first: precision "
          f"{tp / (tp + fp):.3f}, recall {tp / (tp + fn):.3f}")
    by_lang: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for s, (a, b) in zip(second, pairs):
        row = by_lang[labelled[s["id"]]["lang"]]
        row[0] += 1
        row[1] += a == b
    print("  by language: " + "  ".join(f"{lang} {right}/{n}"
                                         for lang, (n, right) in sorted(by_lang.items())))
    for s, (a, b) in zip(second, pairs):
        if a != b:
            print(f"  {s['id']}: first {a}, second {b}: {s.get('why', '')}")

    typed = [(labelled[t["id"]].get("event_type"), t["event_type"]) for t in types
             if t["id"] in labelled and labelled[t["id"]].get("event_type") and t.get("event_type")]
    same = sum(a == b for a, b in typed)
    print(f"event type: {len(typed)} items, agreement {same / len(typed):.3f}")
    for (a, b), n in Counter((a, b) for a, b in typed if a != b).most_common():
        print(f"  first {a}, second {b}: {n}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=("corpus", "heldout"), default="corpus",
                        help="which labelled set (default: the corpus)")
    args = parser.parse_args()
    here = ROOT / "bench" / "agreement"
    if args.set == "heldout":
        second = read(here / "heldout_labels.jsonl")
        return agreement(corpus(ROOT / "bench" / "heldout"), second, second)
    return agreement(corpus(ROOT / "bench" / "corpus"), read(here / "labels.jsonl"),
                     read(here / "event_types.jsonl"))


if __name__ == "__main__":
    sys.exit(main())
