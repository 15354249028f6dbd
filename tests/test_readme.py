"""The README says what the code does: its settings tables are the `Settings` fields, and every POVQA_* it names exists.

Like paper-qa's test_readme_settings_cheatsheet_accuracy: the expected rows come from `Settings` itself, so a new
or changed setting fails here until `python -m bench.readme_settings --write` regenerates the tables.
"""

from __future__ import annotations

import re
from pathlib import Path

from bench import readme_settings

README = Path(__file__).resolve().parent.parent / "README.md"
NOT_SETTINGS = {"POVQA_FUSED_QUERY"}  # read by indexer/e5fused.py at load, outside the settings object


def test_readme_settings_tables_match_the_settings_class():
    assert readme_settings.section(README.read_text("utf-8")) == readme_settings.markdown(), (
        "README.md's settings tables are out of date: run python -m bench.readme_settings --write")


def test_every_setting_has_a_row_and_every_row_is_a_setting():
    from assistant.settings import Settings

    def leaves(model, prefix="POVQA_"):
        for name, field in model.model_fields.items():
            default = field.get_default(call_default_factory=True)
            if hasattr(type(default), "model_fields"):
                yield from leaves(type(default), f"{prefix}{name.upper()}__")
            else:
                yield f"{prefix}{name.upper()}"

    table = readme_settings.section(README.read_text("utf-8"))
    rows = set(re.findall(r"^\| `(POVQA_[A-Z0-9_]+)` \|", table, re.M))
    assert rows == set(leaves(Settings))


def test_every_povqa_variable_the_readme_names_exists():
    named = set(re.findall(r"POVQA_[A-Z0-9_]*[A-Z0-9]", README.read_text("utf-8")))
    unknown = named - readme_settings.variables() - NOT_SETTINGS
    assert not unknown, f"README.md names variables that no setting reads: {sorted(unknown)}"


def test_a_variable_from_the_table_sets_its_field(monkeypatch):
    from assistant.settings import Settings

    monkeypatch.setenv("POVQA_ANSWER__WEIGHTS__LEXICAL", "0.5")
    monkeypatch.setenv("POVQA_RETRIEVAL__LEXICON", "false")
    settings = Settings()
    assert settings.answer.weights.lexical == 0.5 and settings.retrieval.lexicon is False
