"""match stage: the rules and the learned model together ([model] in config.toml).

The model reads the story's words and what the rules saw in it (which rules fired, which term
lists it names), so its probability already weighs the rules' verdict. It gets the last word in
two cases: a story the rules miss is flagged when the model is sure enough that it reports an
enforcement action (a match of the rule ``model``), and a story the rules flag is dropped when
the model is sure enough that it does not (piracy news without an action). Between the two
thresholds the rules stand; with both thresholds equal the model decides alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from monitor.config import MODEL_RULE
from monitor.match.model import Model
from monitor.models import Document, Match

RULE = MODEL_RULE  # the name of the rule a rescued story matched


class Scanned(Protocol):
    """What the matcher offers from the scan the rules already made: the document's folded
    words, the rules' and lists' signals, and its event tags."""

    def folded_words(self, doc: Document) -> tuple[list[str], list[str]]: ...

    def signals(self, doc: Document, matches: Sequence[Match] | None = None
                ) -> tuple[str, ...]: ...

    def find_events(self, doc: Document) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class SecondOpinion:
    """The model and its two thresholds; ``apply`` turns the rules' matches into the final ones.
    A threshold of 1 (rescue) or 0 (veto) turns that side off."""

    model: Model
    rescue_threshold: float
    veto_threshold: float

    def apply(self, doc: Document, matches: list[Match], scanned: Scanned) -> list[Match]:
        if matches and self.veto_threshold <= 0:
            return matches
        if not matches and self.rescue_threshold >= 1:
            return matches
        p = self.model.score_words(*scanned.folded_words(doc), scanned.signals(doc, matches))
        if matches:
            return [] if p < self.veto_threshold else matches
        if p >= self.rescue_threshold:
            # score: ten times the probability, so that a notifier's min_score can ask for more
            return [Match(RULE, round(10 * p, 2), (), scanned.find_events(doc))]
        return matches


def second_opinion(enabled: bool, path: Path | None, rescue: float,
                   veto: float) -> SecondOpinion | None:
    """The configured second opinion, or None when [model] is off."""
    if not enabled:
        return None
    return SecondOpinion(Model.load(path), rescue, veto)
