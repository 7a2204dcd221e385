"""match stage: training the learned model (``monitor rules train``), with scikit-learn.

Labelled items (monitor.match.evaluate's format) -> a weights file for monitor.match.model.
The only module that imports scikit-learn (the ``train`` extra); the daemon never loads it.
Thresholds are chosen on out-of-fold predictions of the tuning part, folds made by event, and
the validation part is scored once, at the end, by a model that never saw its events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.errors import MonitorError
from monitor.match.evaluate import Counts, split_of, to_document
from monitor.match.matcher import Matcher
from monitor.match.model import (BLOCKS, CHAR_N, MAX_WORDS, Model, char_features, dump,
                                 word_features, words_of)

# Measured by event-folds on the tuning part: C 3, 10, 30 and 100 within 0.01 of F1, 30 best;
# character 4-grams beside the word n-grams +0.02, the rules' and lists' signals +0.03.
C = 30.0  # inverse regularisation
TOP_K = {"word": 5000, "char": 10000}  # kept by |weight|: a file of a few hundred KB
FOLDS = 5
RESCUE_GRID = tuple(round(0.3 + 0.01 * i, 2) for i in range(70))  # 0.30 .. 0.99
VETO_GRID = tuple(round(0.01 * i, 2) for i in range(61))  # 0.00 .. 0.60
# The model may buy recall with at most this much of the rules' precision: the F1-best pair
# alone can let the model flag surveys and business news that name piracy words.
PRECISION_GIVEN = 0.02


def _sklearn() -> Any:
    try:
        import numpy
        from scipy.sparse import hstack
        from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import GroupKFold
    except ImportError as e:
        raise MonitorError("training needs scikit-learn: pip install 'monitor[train]'") from e
    return numpy, hstack, CountVectorizer, TfidfVectorizer, LogisticRegression, GroupKFold


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled item as the model reads it: its three blocks of features."""

    word: tuple[str, ...]
    char: tuple[str, ...]
    signal: tuple[str, ...]
    label: int


def examples(rules: Matcher, items: Sequence[dict[str, Any]]) -> list[Example]:
    """Each item's features; the signals are what ``rules`` (no model) saw in it."""
    out = []
    for item in items:
        doc = to_document(item)
        words = words_of(doc.title, doc.body)
        out.append(Example(tuple(word_features(*words)), tuple(sorted(char_features(*words))),
                           rules.signals(doc), 1 if item.get("label") in (1, True, "1") else 0))
    return out


def _same(x: Sequence[str]) -> Sequence[str]:
    return x


Blocks = dict[str, dict[str, tuple[float, float]]]


def fit(data: Sequence[Example], c: float = C,
        top_k: dict[str, int] | None = None) -> tuple[float, Blocks]:
    """Intercept and, per block, {feature: (idf, weight)} of a logistic regression.
    Fitted twice: once on every feature to find the top_k of each text block by |weight|, once
    on those alone, so that the L2 norms at scoring time (over the kept features) are the ones
    the weights were fitted with, and pure-Python scores equal scikit-learn's."""
    np, hstack, count, tfidf, logreg, _ = _sklearn()
    top_k = TOP_K if top_k is None else top_k
    labels = np.array([e.label for e in data])
    if len(set(labels.tolist())) < 2:
        raise MonitorError("training needs items of both labels (1 and 0)")
    min_df = 2 if len(data) >= 50 else 1

    def one(vocabularies: dict[str, dict[str, int]] | None) -> tuple[list[Any], Any]:
        vocab = vocabularies or {}
        vecs = [tfidf(analyzer=_same, binary=True, lowercase=False, vocabulary=vocab.get("word"),
                      min_df=1 if vocabularies else min_df),
                tfidf(analyzer=_same, binary=True, lowercase=False, vocabulary=vocab.get("char"),
                      min_df=1 if vocabularies else min_df),
                count(analyzer=_same, binary=True, lowercase=False,
                      vocabulary=vocab.get("signal"))]
        columns = [[e.word for e in data], [e.char for e in data], [e.signal for e in data]]
        blocks = []
        for vec, col in zip(vecs, columns):
            try:
                blocks.append(vec.fit_transform(col))
            except ValueError:  # an empty block (no signal at all): one column of zeros
                vec.fit([["-"]])
                blocks.append(vec.transform([[] for _ in col]))
        model = logreg(C=c, max_iter=5000, class_weight="balanced").fit(
            hstack(blocks).tocsr(), labels)
        return vecs, model

    vecs, model = one(None)
    keep: dict[str, dict[str, int]] = {}
    start = 0
    for name, vec in zip(BLOCKS, vecs):
        names = vec.get_feature_names_out()
        coef = model.coef_[0][start:start + len(names)]
        start += len(names)
        order = np.argsort(-np.abs(coef), kind="stable")[:top_k.get(name, len(names))]
        keep[name] = {str(names[j]): n for n, j in enumerate(sorted(order))}
    vecs, model = one(keep)
    out: Blocks = {}
    start = 0
    for name, vec in zip(BLOCKS, vecs):
        names = vec.get_feature_names_out()
        coef = model.coef_[0][start:start + len(names)]
        start += len(names)
        idf = vec.idf_ if name != "signal" else np.ones(len(names))
        out[name] = {str(g): (float(i), float(w)) for g, i, w in zip(names, idf, coef)
                     if w != 0.0}
    return float(model.intercept_[0]), out


def to_model(intercept: float, blocks: Blocks) -> Model:
    return Model({"format": 2, "intercept": intercept,
                  "blocks": {n: [[g, i, w] for g, (i, w) in b.items()]
                             for n, b in blocks.items()}})


def probabilities(intercept: float, blocks: Blocks, data: Sequence[Example]) -> list[float]:
    """What monitor.match.model.Model says of each example, without writing a file."""
    model = to_model(intercept, blocks)
    return [model.score_features(e.word, e.char, e.signal) for e in data]


def out_of_fold(items: Sequence[dict[str, Any]], data: Sequence[Example],
                folds: int = FOLDS) -> list[float]:
    """Each item's probability from a model trained on the other folds; folds by event."""
    np, _, _, _, _, group_k_fold = _sklearn()
    groups = [str(i.get("event") or i.get("id") or n) for n, i in enumerate(items)]
    folds = min(folds, len(set(groups)))
    if folds < 2:
        raise MonitorError("cross-validation needs items about at least two events")
    out = [0.0] * len(items)
    for train, test in group_k_fold(folds).split(np.zeros(len(items)), groups=groups):
        intercept, blocks = fit([data[j] for j in train])
        for j, p in zip(test, probabilities(intercept, blocks, [data[j] for j in test])):
            out[j] = p
    return out


def combined(flagged: bool, p: float, rescue: float, veto: float) -> bool:
    """The verdict of monitor.match.combine.SecondOpinion, from the rules' and the model's."""
    return p >= veto if flagged else p >= rescue


@dataclass
class Scored:
    """Labelled items with the rules' verdict and the model's probability."""

    items: list[dict[str, Any]]
    flagged: list[bool]
    probability: list[float]

    def counts(self, rescue: float, veto: float, lang: str | None = None) -> Counts:
        tp = fp = fn = tn = 0
        for item, f, p in zip(self.items, self.flagged, self.probability):
            if item.get("borderline") or (lang is not None and item.get("lang") != lang):
                continue
            yes, label = combined(f, p, rescue, veto), item.get("label") in (1, True, "1")
            tp, fp = tp + (yes and label), fp + (yes and not label)
            fn, tn = fn + (not yes and label), tn + (not yes and not label)
        return Counts(tp, fp, fn, tn)

    @property
    def langs(self) -> list[str]:
        return sorted({str(i.get("lang") or "und") for i in self.items})


def score(rules: Matcher, items: Sequence[dict[str, Any]], probability: list[float]) -> Scored:
    flags = [bool(rules.rule_matches(to_document(i))) for i in items]
    return Scored(list(items), flags, probability)


def choose_thresholds(scored: Scored) -> tuple[float, float]:
    """The rescue and veto thresholds of the best F1 among those that keep precision within
    PRECISION_GIVEN of the rules' own; ties go to the least model influence (the highest
    rescue, the lowest veto), so that the rules keep the last word when it is all the same."""
    floor = (scored.counts(1.01, 0.0).precision or 0.0) - PRECISION_GIVEN
    best: tuple[float, float, float] = (-1.0, 1.0, 0.0)
    for rescue in reversed(RESCUE_GRID + (1.0,)):
        for veto in VETO_GRID:
            counts = scored.counts(rescue, veto)
            f1 = counts.f1 or 0.0
            if (counts.precision or 0.0) >= floor and f1 > best[0] + 1e-9:
                best = (f1, rescue, veto)
    return best[1], best[2]


@dataclass
class Training:
    """What ``monitor rules train`` reports: figures of the rules, the model and both."""

    rescue: float
    veto: float
    n_train: int
    n_features: int
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)


def _row(c: Counts) -> dict[str, Any]:
    def r(x: float | None) -> float | None:
        return None if x is None else round(x, 4)
    return {"n": c.n, "precision": r(c.precision), "recall": r(c.recall), "f1": r(c.f1)}


def figures(scored: Scored, rescue: float, veto: float) -> dict[str, Any]:
    """Rules alone, model alone (0.5) and combined, overall and per language."""
    ways = {"rules": (1.01, 0.0), "model": (0.5, 0.5), "combined": (rescue, veto)}
    return {name: {**_row(scored.counts(*t)),
                   "by_lang": {lang: _row(scored.counts(*t, lang=lang)) for lang in scored.langs}}
            for name, t in ways.items()}


def train(rules: Matcher, corpus: Sequence[dict[str, Any]], output: Path,
          extra: Sequence[dict[str, Any]] = (), folds: int = FOLDS) -> Training:
    """Fit on the tuning part of ``corpus`` (and ``extra``, analysts' marks: always training
    data, they have no event), choose thresholds on out-of-fold predictions, report the
    validation part, write the weights to ``output``."""
    tuning = [i for i in corpus if split_of(i) == "tuning"]
    validation = [i for i in corpus if split_of(i) == "validation"]
    if not tuning:
        raise MonitorError("no item falls in the tuning part: give more events")
    tuning_data = examples(rules, tuning)
    cv = score(rules, tuning, out_of_fold(tuning, tuning_data, folds))
    rescue, veto = choose_thresholds(cv)
    intercept, blocks = fit([*tuning_data, *examples(rules, extra)])
    result = Training(rescue, veto, len(tuning) + len(extra),
                      sum(len(b) for b in blocks.values()))
    result.figures["tuning (out of fold)"] = figures(cv, rescue, veto)
    if validation:
        p = probabilities(intercept, blocks, examples(rules, validation))
        result.figures["validation"] = figures(score(rules, validation, p), rescue, veto)
    info = {"trained_on": result.n_train, "c": C, "top_k": TOP_K, "max_words": MAX_WORDS,
            "char_n": CHAR_N,
            "rescue_threshold": rescue, "veto_threshold": veto,
            "figures": {k: {w: {m: f[m] for m in ("precision", "recall", "f1")}
                            for w, f in v.items()} for k, v in result.figures.items()}}
    dump(output, intercept, blocks, info)
    return result


def format_training(t: Training, output: Path) -> str:
    def f(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.3f}"

    lines = [f"trained on {t.n_train} items; {t.n_features} features kept; written to {output}",
             f"thresholds (best F1 out of fold): rescue {t.rescue:g}, veto {t.veto:g}", ""]
    for part, ways in t.figures.items():
        lines.append(f"{part}: precision / recall / F1")
        for way, row in ways.items():
            langs = "  ".join(f"{lang} {f(r['f1'])}" for lang, r in row["by_lang"].items())
            lines.append(f"  {way:<9} n={row['n']:<5} {f(row['precision'])} / {f(row['recall'])}"
                         f" / {f(row['f1'])}   F1 by language: {langs}")
        lines.append("")
    return "\n".join(lines)
