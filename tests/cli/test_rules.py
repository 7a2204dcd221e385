"""The rule commands as a user runs them: explain, rules test, rules eval, and bad rules."""

from __future__ import annotations

import json
from pathlib import Path

from support.helpers import REPO, monitor, write_config

SEED = REPO / "seeds" / "000_34fcc89c45c3ecef.txt"


def imported(tmp_path: Path) -> Path:
    config = write_config(tmp_path, [])
    result = monitor(config, "import", str(SEED))
    assert result.returncode == 0, result.stderr
    return config


def seed_id(config: Path) -> str:
    listing = monitor(config, "list", "--json")
    return json.loads(listing.stdout.splitlines()[0])["id"]


def test_import_flags_the_seed_and_explain_marks_its_terms(tmp_path: Path) -> None:
    config = imported(tmp_path)
    story = json.loads(monitor(config, "list", "--json").stdout.splitlines()[0])
    # the seed names its actor and action: the second default rule, actor-action, fires too
    assert story["flagged"] is True and story["rules"][0] == "piracy-enforcement"
    assert story["origin"] == "file"
    shown = monitor(config, "show", story["id"])
    assert shown.stdout == SEED.read_text(encoding="utf-8")  # stored exactly as the file says

    text = monitor(config, "explain", story["id"])
    assert text.returncode == 0, text.stderr
    assert "rule piracy-enforcement: fired" in text.stdout
    assert "«takes down»" in text.stdout.splitlines()[0]  # marked in the title
    assert "✓" in text.stdout

    as_json = monitor(config, "explain", story["id"], "--json")
    obj = json.loads(as_json.stdout)
    assert obj["id"] == story["id"]
    assert [r["rule"] for r in obj["rules"]] == ["piracy-enforcement", "actor-action"]
    assert obj["rules"][0]["fired"] is True and obj["rules"][0]["clause"]["matched"] is True


def test_rules_test_lists_matching_clippings(tmp_path: Path) -> None:
    config = imported(tmp_path)
    hit = monitor(config, "rules", "test", '"Electro TV Sat" AND Morocco', "--json")
    assert hit.returncode == 0, hit.stderr
    rows = [json.loads(line) for line in hit.stdout.splitlines()]
    assert [r["id"] for r in rows] == [seed_id(config)]
    assert set(rows[0]["terms"]) >= {"Electro TV Sat", "Morocco"}
    miss = monitor(config, "rules", "test", "baseball AND inning")
    assert miss.returncode == 0 and miss.stdout == ""
    assert "0 stored clippings match" in miss.stderr
    by_rule = monitor(config, "rules", "test", "--rule", "piracy-enforcement")
    # listed by its short id, as every listing does
    assert any(line.startswith(seed_id(config)[:8] + "  ")
               for line in by_rule.stdout.splitlines()[1:])
    bad = monitor(config, "rules", "test", "piracy AND (raid")
    assert bad.returncode == 1
    assert "position" in bad.stderr and "Traceback" not in bad.stderr


def test_rules_eval_reports_figures_and_misses(tmp_path: Path) -> None:
    config = write_config(tmp_path, [])
    items = [
        {"id": "p1", "lang": "en", "label": 1, "text": "Police shut down pirate IPTV service\n"
         "Officers arrested two men who ran a pirate IPTV service selling illegal streams."},
        {"id": "n1", "lang": "en", "label": 0, "text": "Pirates beat the Cubs\nThe Pittsburgh "
         "Pirates won the game in the ninth inning."},
        {"id": "n2", "lang": "fr", "label": 0, "text": "Les prix du streaming augmentent\n"
         "Les abonnements coûteront plus cher en janvier."},
        {"id": "b1", "lang": "en", "label": 1, "borderline": True, "text": "A quiet week\nNothing "
         "happened at all."},
    ]
    data = tmp_path / "items.jsonl"
    data.write_text("\n".join(json.dumps(i) for i in items) + "\n", encoding="utf-8")
    result = monitor(config, "rules", "eval", str(data), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["n"] == 3
    assert report["precision"] == 1.0 and report["recall"] == 1.0
    assert report["false_positives"] == [] and report["false_negatives"] == []
    assert set(report["by_lang"]) == {"en", "fr"}
    text = monitor(config, "rules", "eval", str(data))
    assert "overall" in text.stdout and "borderline" in text.stdout

    data.write_text('{"text": "x", "label": 1}\nnot json\n', encoding="utf-8")
    broken = monitor(config, "rules", "eval", str(data))
    assert broken.returncode == 1 and f"{data}:2: not JSON" in broken.stderr


def test_a_rule_with_a_syntax_error_refuses_to_start_naming_file_and_key(tmp_path: Path) -> None:
    config = write_config(tmp_path, [], extra='\n[[rules]]\nname = "mine"\nquery = "piracy AND"\n')
    checked = monitor(config, "check-config")
    assert checked.returncode == 1
    assert str(config) in checked.stderr and "rules[0].query" in checked.stderr
    assert 'rule "mine"' in checked.stderr and "Traceback" not in checked.stderr
    run = monitor(config, "run", "--once")
    assert run.returncode == 1 and "rules[0].query" in run.stderr
