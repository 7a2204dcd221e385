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
from monitor.match.model import MAX_WORDS, dump, features

C = 10.0  # inverse regularisation: measured by event-folds on the tuning part (3, 10, 30)
TOP_K = 5000  # n-grams kept, by |weight|: F1 as good as all ~40,000, a file of ~100 KB
FOLDS = 5
RESCUE_GRID = tuple(round(0.5 + 0.01 * i, 2) for i in range(50))  # 0.50 .. 0.99
VETO_GRID = tuple(round(0.01 * i, 2) for i in range(41))  # 0.00 .. 0.40
# The model may buy recall with at most this much of the rules' precision: the F1-best pair
# alone (rescue ~0.5) lets the model flag surveys and business news that name piracy words.
PRECISION_GIVEN = 0.02


def _sklearn() -> Any:
    try:
        import numpy
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import GroupKFold
    except ImportError as e:
        raise MonitorError("training needs scikit-learn: pip install 'monitor[train]'") from e
    return numpy, TfidfVectorizer, LogisticRegression, GroupKFold


def _analyzer(item: dict[str, Any]) -> list[str]:
    doc = to_document(item)
    return features(doc.title, doc.body)


def fit(items: Sequence[dict[str, Any]], c: float = C,
        top_k: int = TOP_K) -> tuple[float, dict[str, tuple[float, float]]]:
    """Intercept and {n-gram: (idf, weight)} of a logistic regression on TF-IDF n-grams.
    Fitted twice: once on every n-gram to find the top_k by |weight|, once on those alone, so
    that the L2 norm at scoring time (over the kept n-grams) is the one the weights were fitted
    with, and pure-Python scores equal scikit-learn's."""
    np, tfidf, logreg, _ = _sklearn()
    labels = np.array([1 if i.get("label") in (1, True, "1") else 0 for i in items])
    if len(set(labels.tolist())) < 2:
        raise MonitorError("training needs items of both labels (1 and 0)")

    def one(vocabulary: dict[str, int] | None) -> tuple[Any, Any]:
        vec = tfidf(analyzer=_analyzer, binary=True, vocabulary=vocabulary,
                    min_df=1 if vocabulary else (2 if len(items) >= 50 else 1))
        x = vec.fit_transform(items)
        model = logreg(C=c, max_iter=5000, class_weight="balanced").fit(x, labels)
        return vec, model

    vec, model = one(None)
    names = vec.get_feature_names_out()
    keep = np.argsort(-np.abs(model.coef_[0]), kind="stable")[:top_k]
    vec, model = one({str(names[j]): n for n, j in enumerate(sorted(keep))})
    names = vec.get_feature_names_out()
    weights = {str(g): (float(idf), float(w))
               for g, idf, w in zip(names, vec.idf_, model.coef_[0]) if w != 0.0}
    return float(model.intercept_[0]), weights


def probabilities(intercept: float, weights: dict[str, tuple[float, float]],
                  items: Sequence[dict[str, Any]]) -> list[float]:
    """What monitor.match.model.Model.score says, without writing a file."""
    from monitor.match.model import Model

    model = Model({"format": 1, "intercept": intercept,
                   "features": [[g, i, w] for g, (i, w) in weights.items()]})
    return [model.score(d.title, d.body) for d in map(to_document, items)]


def out_of_fold(items: Sequence[dict[str, Any]], folds: int = FOLDS) -> list[float]:
    """Each item's probability from a model trained on the other folds; folds by event."""
    np, _, _, group_k_fold = _sklearn()
    groups = [str(i.get("event") or i.get("id") or n) for n, i in enumerate(items)]
    folds = min(folds, len(set(groups)))
    if folds < 2:
        raise MonitorError("cross-validation needs items about at least two events")
    out = [0.0] * len(items)
    for train, test in group_k_fold(folds).split(np.zeros(len(items)), groups=groups):
        intercept, weights = fit([items[j] for j in train])
        for j, p in zip(test, probabilities(intercept, weights, [items[j] for j in test])):
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
    flags = [bool(rules.find_matches(to_document(i))) for i in items]
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
    cv = score(rules, tuning, out_of_fold(tuning, folds))
    rescue, veto = choose_thresholds(cv)
    intercept, weights = fit([*tuning, *extra])
    result = Training(rescue, veto, len(tuning) + len(extra), len(weights))
    result.figures["tuning (out of fold)"] = figures(cv, rescue, veto)
    if validation:
        result.figures["validation"] = figures(
            score(rules, validation, probabilities(intercept, weights, validation)), rescue, veto)
    info = {"trained_on": result.n_train, "c": C, "top_k": TOP_K, "max_words": MAX_WORDS,
            "rescue_threshold": rescue, "veto_threshold": veto,
            "figures": {k: {w: {m: f[m] for m in ("precision", "recall", "f1")}
                            for w, f in v.items()} for k, v in result.figures.items()}}
    dump(output, intercept, weights, info)
    return result


def format_training(t: Training, output: Path) -> str:
    def f(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.3f}"

    lines = [f"trained on {t.n_train} items; {t.n_features} n-grams kept; written to {output}",
             f"thresholds (best F1 out of fold): rescue {t.rescue:g}, veto {t.veto:g}", ""]
    for part, ways in t.figures.items():
        lines.append(f"{part}: precision / recall / F1")
        for way, row in ways.items():
            langs = "  ".join(f"{lang} {f(r['f1'])}" for lang, r in row["by_lang"].items())
            lines.append(f"  {way:<9} n={row['n']:<5} {f(row['precision'])} / {f(row['recall'])}"
                         f" / {f(row['f1'])}   F1 by language: {langs}")
        lines.append("")
    return "\n".join(lines)
