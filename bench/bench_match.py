"""Matcher throughput: articles per second with the default rules of config.toml and with a
generated 1,000-term rule set, on the same articles (the cost should not grow with the number of
terms), and with the default rules plus the learned model ([model] in config.toml).

    python bench/bench_match.py [--rounds N]

The articles are the dev set in ../shared/eval-dev/articles.jsonl when it is there (read in
place, never copied), otherwise generated ones. Prints, never asserts: timings vary by machine.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.match.combine import second_opinion  # noqa: E402
from monitor.match.evaluate import to_document  # noqa: E402
from monitor.match.matcher import Matcher, compile_rules  # noqa: E402
from monitor.config import RuleConfig  # noqa: E402
from monitor.models import Document  # noqa: E402
from monitor.match.text import words  # noqa: E402

DEV_SET = ROOT.parent / "shared" / "eval-dev" / "articles.jsonl"


def load_articles() -> tuple[list[Document], str]:
    if DEV_SET.exists():
        with DEV_SET.open(encoding="utf-8") as f:
            return [to_document(json.loads(line)) for line in f if line.strip()], str(DEV_SET)
    rng = random.Random(7)
    vocab = ("police pirate IPTV site seized arrested court order streaming illegal network "
             "le réseau a été démantelé la policía ha detenido piratería Razzia Server "
             "football match broadcast subscribers the of and to in a for on with by at").split()
    docs = [Document(" ".join(rng.choices(vocab, k=10)),
                     " ".join(rng.choices(vocab, k=rng.randint(150, 600))))
            for _ in range(200)]
    return docs, "200 generated articles"


def default_matcher(model: bool = False) -> Matcher:
    data = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    rules = [RuleConfig(r["name"], r["query"], float(r.get("min_score", 0)),
                        tuple(r.get("tags", ())), tuple(r.get("notifiers", ())),
                        r.get("enabled", True)) for r in data.get("rules", [])]
    matcher = compile_rules(rules, data.get("terms", {}), data.get("entities", {}))
    if model:  # the shipped weights with config.toml's [model] thresholds
        m = data.get("model", {})
        matcher.second_opinion = second_opinion(True, None, m.get("rescue_threshold", 0.7),
                                                m.get("veto_threshold", 0.33))
    return matcher


def generated_matcher(docs: list[Document], n_terms: int = 1000) -> Matcher:
    """100 rules of 10 terms each, drawn from the articles' own words so that they do hit."""
    rng = random.Random(42)
    vocab = sorted({" ".join(words(w)) for d in docs for w in (d.title + " " + d.body).split()
                    if w.isalpha() and len(w) > 3})  # distinct once folded
    terms = rng.sample(vocab, min(n_terms, len(vocab)))
    terms += [f"synthetic{i}" for i in range(n_terms - len(terms))]
    rules = []
    for i in range(0, n_terms, 10):
        a, b = terms[i:i + 5], terms[i + 5:i + 10]
        quote = lambda t: '"' + t.replace('"', "") + '"'  # noqa: E731
        op = "NEAR/10" if i % 20 == 0 else "AND"
        rules.append(RuleConfig(f"gen-{i // 10}", f"({' OR '.join(map(quote, a))}) {op} "
                                                  f"({' OR '.join(map(quote, b))})"))
    return compile_rules(rules, {}, {})


def one_round(matcher: Matcher, docs: list[Document]) -> tuple[float, int]:
    """CPU seconds of this process for one pass (``process_time``: on a shared machine the
    wall clock also counts the time other processes held the core)."""
    flagged = 0
    start = time.process_time()
    for doc in docs:
        flagged += bool(matcher.find_matches(doc))
        matcher.find_entities(doc)
    return time.process_time() - start, flagged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    docs, origin = load_articles()
    chars = sum(len(d.title) + len(d.body) for d in docs) / len(docs)
    print(f"articles: {len(docs)} from {origin}, {chars:.0f} characters on average")
    built = []
    for name, build in (("default rules", default_matcher),
                        ("generated 1,000-term rules", lambda: generated_matcher(docs)),
                        ("default rules + model", lambda: default_matcher(model=True))):
        start = time.perf_counter()
        matcher = build()
        built.append((name, matcher, time.perf_counter() - start))
        one_round(matcher, docs[:5])  # warm the folding table
    spent = [0.0] * len(built)
    flagged = [0] * len(built)
    for _ in range(args.rounds):  # interleaved, so that a busy machine slows both alike
        for i, (_, matcher, _) in enumerate(built):
            seconds, flagged[i] = one_round(matcher, docs)
            spent[i] += seconds
    rates = [args.rounds * len(docs) / t for t in spent]
    for (name, matcher, compiled), rate, n in zip(built, rates, flagged):
        print(f"{name:<28} {len(matcher.rules):>4} rules {matcher.n_terms:>5} terms  "
              f"compiled in {compiled * 1000:6.1f} ms  {rate:8.0f} articles per CPU-second  "
              f"({n} flagged)")
    print(f"ratio default / generated: {rates[0] / rates[1]:.2f} (target: between 0.5 and 2)")
    print(f"ratio with model / without: {rates[2] / rates[0]:.2f}")


if __name__ == "__main__":
    main()
