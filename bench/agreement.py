"""How far two labellers agree on the labelled corpus: the ceiling of any score measured on it.

    python bench/agreement.py

A second labeller, given the labelling rules (bench/corpus/README.md, and the dev set's label
rules) and the texts without their labels, labelled a sample again: bench/agreement/labels.jsonl
(the enforcement label of 240 non-borderline items, 30 a language) and
bench/agreement/event_types.jsonl (the event type of 106 enforcement items). Prints the share of
items where both agree, Cohen's kappa for the label, and the second labeller's precision and
recall taken against the corpus's labels, per language too.
"""

from __future__ import annotations

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


def main() -> int:
    labelled = corpus(ROOT / "bench" / "corpus")
    second = read(ROOT / "bench" / "agreement" / "labels.jsonl")
    missing = [s["id"] for s in second if s["id"] not in labelled]
    if missing:
        print(f"not in the corpus: {', '.join(missing)}", file=sys.stderr)
        return 1
    pairs = [(int(labelled[s["id"]]["label"]), int(s["label"])) for s in second]
    agree = sum(a == b for a, b in pairs)
    tp = sum(a == 1 and b == 1 for a, b in pairs)
    fp = sum(a == 0 and b == 1 for a, b in pairs)
    fn = sum(a == 1 and b == 0 for a, b in pairs)
    print(f"label: {len(pairs)} items, agreement {agree / len(pairs):.3f}, "
          f"kappa {kappa(pairs):.3f}; the second labeller against the corpus: precision "
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
            print(f"  {s['id']}: corpus {a}, second {b}: {s.get('why', '')}")

    types = read(ROOT / "bench" / "agreement" / "event_types.jsonl")
    typed = [(labelled[t["id"]].get("event_type"), t["event_type"]) for t in types
             if t["id"] in labelled]
    same = sum(a == b for a, b in typed)
    print(f"event type: {len(typed)} items, agreement {same / len(typed):.3f}")
    for (a, b), n in Counter((a, b) for a, b in typed if a != b).most_common():
        print(f"  corpus {a}, second {b}: {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
