"""The learned second opinion: the split by event, the shipped weights, training, the
combination with the rules, and the commands that show them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support.helpers import REPO, monitor, write_config
from monitor.config import parse_config
from monitor.errors import ConfigError, MonitorError
from monitor.match.combine import RULE, SecondOpinion
from monitor.match.evaluate import select_split, split_of
from monitor.match.matcher import compile_rules, document, matcher_for
from monitor.match import model as model_module
from monitor.match.model import (Model, char_features, dump, word_features,
                                 words_of)
from monitor.config import RuleConfig

CORPUS = REPO / "bench" / "corpus"


def corpus() -> list[dict[str, Any]]:
    return [json.loads(line) for f in sorted(CORPUS.glob("*.jsonl"))
            for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]


def tiny(n: int = 24) -> list[dict[str, Any]]:
    """Enforcement stories and sports stories, one event each, in two languages."""
    items = []
    for i in range(n):
        items.append({"id": f"p{i}", "lang": "en", "label": 1, "event": f"raid-{i}",
                      "text": f"Police raid pirate IPTV network {i}\nOfficers arrested the "
                              f"operators and seized servers of the illegal streaming service."})
        items.append({"id": f"n{i}", "lang": "fr", "label": 0, "event": f"match-{i}",
                      "text": f"Le club gagne le match {i}\nLes joueurs ont marqué deux buts "
                              "devant un stade plein, dimanche soir."})
    return items


# --- the split --------------------------------------------------------------------------------
def test_the_split_is_the_documented_hash_of_the_event() -> None:
    items = corpus()
    for item in items:
        expected = int(hashlib.sha256(item["event"].encode()).hexdigest(), 16) % 10 < 3
        assert split_of(item) == ("validation" if expected else "tuning")
    by_event: dict[str, set[str]] = {}
    for item in items:
        by_event.setdefault(item["event"], set()).add(split_of(item))
    assert all(len(parts) == 1 for parts in by_event.values())  # no event on both sides
    share = sum(split_of(i) == "validation" for i in items) / len(items)
    assert 0.2 < share < 0.4
    assert split_of({"event": "x", "id": "a"}) == split_of({"event": "x", "id": "b", "label": 1})


def test_an_item_without_event_cannot_be_split() -> None:
    with pytest.raises(MonitorError, match="'q1' has no `event`"):
        select_split([{"id": "q1", "text": "t", "label": 0}], "validation")


# --- rules eval on a directory, by part -------------------------------------------------------
def test_rules_eval_reads_a_directory_and_keeps_one_part(tmp_path: Path) -> None:
    config = write_config(tmp_path, [])
    folder = tmp_path / "labelled"
    folder.mkdir()
    items = tiny(10)
    for name, part in (("a.jsonl", items[:10]), ("b.jsonl", items[10:])):
        (folder / name).write_text("".join(json.dumps(i) + "\n" for i in part), encoding="utf-8")
    whole = json.loads(monitor(config, "rules", "eval", str(folder), "--json").stdout)
    assert whole["n"] == 20
    for part in ("validation", "tuning"):
        result = monitor(config, "rules", "eval", str(folder), "--split", part, "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["n"] == sum(split_of(i) == part for i in items)
    two = monitor(config, "rules", "eval", str(folder / "a.jsonl"), str(folder / "b.jsonl"),
                  "--json")
    assert json.loads(two.stdout)["n"] == 20
    report = json.loads(two.stdout)
    assert set(report["event_type"]) == {"n", "accuracy", "among", "by_type", "mistyped"}

    (folder / "c.jsonl").write_text('{"id": "x9", "text": "t", "label": 0}\n', encoding="utf-8")
    refused = monitor(config, "rules", "eval", str(folder), "--split", "validation")
    assert refused.returncode == 1 and "'x9' has no `event`" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_rules_eval_reports_event_type_accuracy(tmp_path: Path) -> None:
    config = write_config(tmp_path, [])
    data = tmp_path / "typed.jsonl"
    item = {"id": "t1", "lang": "en", "label": 1, "event": "e", "event_type": "arrest",
            "text": "Police arrested pirate IPTV operators\nOfficers arrested two men who ran "
                    "a pirate IPTV service selling illegal streams."}
    data.write_text(json.dumps(item) + "\n", encoding="utf-8")
    report = json.loads(monitor(config, "rules", "eval", str(data), "--json").stdout)
    assert report["event_type"]["n"] == 1
    assert report["event_type"]["accuracy"] in (0.0, 1.0)
    text = monitor(config, "rules", "eval", str(data)).stdout
    assert "event type right on" in text


# --- the shipped weights ------------------------------------------------------------------------
def default_rules() -> Any:
    """The default config's rules, without the model: what gives the model its signals."""
    config = parse_config((REPO / "config.toml").read_text(encoding="utf-8"),
                          REPO / "config.toml")
    return compile_rules(config.rules, config.terms, config.entities)


RAID = document("Police shut down pirate IPTV network, three arrested",
                "Officers raided the homes of the operators of an illegal IPTV service and "
                "seized servers, the prosecutor said.")
SPORT = document("Pirates beat the Cubs in the ninth", "The Pittsburgh Pirates won the game at "
                 "home on Sunday in front of a full stadium.")


def test_the_shipped_model_loads_and_scores() -> None:
    model = Model.load()
    assert 100 < len(model.weights) <= 20_000
    assert (REPO / "monitor" / "match" / "model.json.gz").stat().st_size < 500_000
    rules = default_rules()
    assert {"R:piracy-enforcement", "L:piracy-word", "T:event-takedown"} <= set(
        rules.signals(RAID))
    assert model.signals & set(rules.signals(RAID))  # the shipped model reads the rules' signals
    raid = model.score(RAID.title, RAID.body, rules.signals(RAID))
    sport = model.score(SPORT.title, SPORT.body, rules.signals(SPORT))
    assert 0.0 <= sport < 0.5 < raid <= 1.0


# Stories in the languages of the corpus, Arabic with its attached prefixes, and odd words:
# one-letter words, digits, a word longer than the stems, the same word twice.
VARIED = [
    (RAID.title, RAID.body),
    (SPORT.title, SPORT.body),
    ("Le réseau IPTV pirate démantelé", "La police a démantelé un réseau de piratage : "
     "l'opérateur a été arrêté, et les serveurs saisis. Démantèlement, démantelées."),
    ("Razzia gegen illegale Streaming-Server", "Die Polizei hat bei einer Razzia Server "
     "beschlagnahmt; Urheberrechtsverletzungen im großen Stil, 3 Festnahmen."),
    ("الشرطة تغلق شبكة قرصنة", "أعلنت الشرطة والنيابة العامة إغلاق موقع للقرصنة وبالقرصنة "
     "واعتقال المشغلين للقرصنة، والمحكمة أمرت بحجب المواقع ٢٠٢٤"),
    ("a b c", "x y z 1 2 3 " + "streaming " * 200),
    ("", ""),
]


@given(st.lists(st.sampled_from([w for t, b in VARIED for w in (t + " " + b).split()]
                                + ["", "l'IPTV", "ÉTÉ", "北京", "ـلل"]),
                max_size=60))
@settings(max_examples=100, deadline=None)
def test_kept_features_are_those_of_the_direct_computation(picked: list[str]) -> None:
    model = Model.load()
    for title, body in [*VARIED, (" ".join(picked[:8]), " ".join(picked[8:]))]:
        words = words_of(title, body)
        kept_words, kept_chars = model.kept_features(*words)
        assert len(kept_words) == len(set(kept_words))
        assert set(kept_words) == model.blocks["word"].known.intersection(word_features(*words))
        assert kept_chars == model.blocks["char"].known.intersection(char_features(*words))
        signals = ("R:piracy-enforcement", "L:actor") if picked else ()
        direct = model.score_features(word_features(*words), char_features(*words), signals)
        assert model.score(title, body, signals) == pytest.approx(direct, abs=1e-12)


def test_the_per_word_lookups_start_afresh_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_module, "MAX_CACHED", 5)
    model = Model.load()
    for title, body in VARIED * 2:
        words = words_of(title, body)
        assert model.kept_features(*words)[1] == model.blocks["char"].known.intersection(
            char_features(*words))
    assert len(model._lookup.rows) <= 5


def test_an_opinion_names_the_features_that_weighed_most() -> None:
    opinion = default_rules().opinion(RAID, Model.load())
    assert opinion is not None
    assert 0 < len(opinion.positive) <= 5 and len(opinion.negative) <= 5
    assert all(w > 0 for _, w in opinion.positive) and all(w < 0 for _, w in opinion.negative)
    assert opinion.describe().startswith(f"model p={opinion.probability:.2f}")
    # the probability explained is the one the matcher decides with
    model = Model.load()
    rules = default_rules()
    assert opinion.probability == pytest.approx(
        model.score(RAID.title, RAID.body, rules.signals(RAID)), abs=1e-9)


def test_pure_python_scores_equal_scikit_learn(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from monitor.match.train import C, examples, fit

    items = tiny(12)
    data = examples(default_rules(), items)
    intercept, blocks = fit(data, top_k={"word": 40, "char": 60})
    assert len(blocks["word"]) <= 40 and len(blocks["char"]) <= 60 and blocks["signal"]
    path = tmp_path / "w.json.gz"
    dump(path, intercept, blocks, {})
    model = Model.load(path)
    # the same model, fitted by scikit-learn on the kept features, scored by scikit-learn
    def vocabulary(name: str) -> dict[str, int]:
        return {g: i for i, g in enumerate(sorted(blocks[name]))}

    same = lambda x: x  # noqa: E731
    x = hstack([
        TfidfVectorizer(analyzer=same, binary=True, lowercase=False,
                        vocabulary=vocabulary("word")).fit_transform([e.word for e in data]),
        TfidfVectorizer(analyzer=same, binary=True, lowercase=False,
                        vocabulary=vocabulary("char")).fit_transform([e.char for e in data]),
        CountVectorizer(analyzer=same, binary=True, lowercase=False,
                        vocabulary=vocabulary("signal")).fit_transform([e.signal for e in data]),
    ]).tocsr()
    reg = LogisticRegression(C=C, max_iter=5000, class_weight="balanced").fit(
        x, [e.label for e in data])
    for item, e, p in zip(items, data, reg.predict_proba(x)[:, 1]):
        title, body = item["text"].split("\n", 1)
        assert model.score(title, body, e.signal) == pytest.approx(p, abs=1e-3)


# --- training -----------------------------------------------------------------------------------
def test_rules_train_writes_a_loadable_file(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    config = write_config(tmp_path, [])
    data = tmp_path / "tiny.jsonl"
    data.write_text("".join(json.dumps(i) + "\n" for i in tiny()), encoding="utf-8")
    out = tmp_path / "weights" / "model.json.gz"
    result = monitor(config, "rules", "train", str(data), "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert "validation" in result.stdout and "thresholds" in result.stdout
    model = Model.load(out)
    assert model.info["trained_on"] == sum(split_of(i) == "tuning" for i in tiny())
    raid = document("Police raid pirate IPTV network", "")
    assert model.score(raid.title, raid.body, default_rules().signals(raid)) > 0.5

    # the daemon's matcher loads it from [model] weights, relative to the config's folder
    text = config.read_text(encoding="utf-8").replace(
        "[[notifiers]]", '[model]\nenabled = true\nweights = "weights/model.json.gz"\n\n'
        "[[notifiers]]", 1)
    config.write_text(text, encoding="utf-8")
    assert monitor(config, "check-config").returncode == 0


def test_rules_train_with_feedback_learns_from_the_marks_too(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    config = write_config(tmp_path, [])
    assert monitor(config, "import", str(REPO / "seeds" / "000_34fcc89c45c3ecef.txt")).returncode == 0
    story = json.loads(monitor(config, "list", "--json").stdout.splitlines()[0])["id"]
    assert monitor(config, "mark", story, "relevant").returncode == 0
    data = tmp_path / "tiny.jsonl"
    data.write_text("".join(json.dumps(i) + "\n" for i in tiny()), encoding="utf-8")
    out = tmp_path / "model.json.gz"
    result = monitor(config, "rules", "train", str(data), "--feedback", "--output", str(out))
    assert result.returncode == 0, result.stderr
    tuning = sum(split_of(i) == "tuning" for i in tiny())
    assert Model.load(out).info["trained_on"] == tuning + 1


def test_a_missing_weights_file_is_a_config_error() -> None:
    config = parse_config('[model]\nenabled = true\nweights = "nowhere.json.gz"\n',
                          Path("/srv/monitor/config.toml"))
    with pytest.raises(ConfigError) as e:
        matcher_for(config)
    assert e.value.key == "model.weights"


def test_thresholds_are_probabilities() -> None:
    with pytest.raises(ConfigError) as e:
        parse_config("[model]\nrescue_threshold = 1.5\n", Path("/srv/monitor/config.toml"))
    assert e.value.key is not None and "rescue_threshold" in e.value.key


# --- the combination ----------------------------------------------------------------------------
def hand_made() -> Model:
    """Sure of enforcement on "raid", sure of the opposite on "survey", unsure otherwise."""
    return Model({"format": 1, "intercept": 0.0, "features": [
        ["raid", 1.0, 8.0], ["survey", 1.0, -8.0], ["piracy", 1.0, 0.0]]})


@pytest.fixture
def rules() -> Any:
    matcher = compile_rules([RuleConfig("piracy", "piracy")], {"event-raid": ["raid"]}, {})
    matcher.second_opinion = SecondOpinion(hand_made(), rescue_threshold=0.9, veto_threshold=0.1)
    return matcher


def test_rescue_flags_what_the_rules_miss(rules: Any) -> None:
    matches = rules.find_matches(document("Dawn raid", "Officers came at six."))
    assert [m.rule for m in matches] == [RULE]
    assert matches[0].tags == ("raid",) and matches[0].score > 9


def test_veto_drops_what_the_model_is_sure_of(rules: Any) -> None:
    assert rules.find_matches(document("Piracy survey", "One in four visits pirate sites.")) == []


def test_between_the_thresholds_the_rules_stand(rules: Any) -> None:
    assert [m.rule for m in rules.find_matches(document("Piracy", "News."))] == ["piracy"]
    assert rules.find_matches(document("Weather", "Sunny.")) == []


def test_thresholds_at_their_ends_turn_a_side_off(rules: Any) -> None:
    rules.second_opinion = SecondOpinion(hand_made(), rescue_threshold=1.0, veto_threshold=0.0)
    assert rules.find_matches(document("Dawn raid", "Officers came at six.")) == []
    assert len(rules.find_matches(document("Piracy survey", "Figures."))) == 1


# --- explain ------------------------------------------------------------------------------------
def test_explain_shows_the_models_probability_and_ngrams(tmp_path: Path) -> None:
    config = write_config(tmp_path, [])
    seed = REPO / "seeds" / "000_34fcc89c45c3ecef.txt"
    assert monitor(config, "import", str(seed)).returncode == 0
    story = json.loads(monitor(config, "list", "--json").stdout.splitlines()[0])["id"]
    text = monitor(config, "explain", story)
    assert text.returncode == 0, text.stderr
    assert "model p=" in text.stdout and "for: '" in text.stdout
    obj = json.loads(monitor(config, "explain", story, "--json").stdout)
    assert 0.0 <= obj["model"]["probability"] <= 1.0
    assert obj["model"]["enabled"] is False and obj["model"]["positive"]
