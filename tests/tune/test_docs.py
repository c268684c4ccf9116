"""The README's reference tables are generated from the code and must be current."""

from __future__ import annotations

from tune.docs import README, render


def test_readme_tables_are_up_to_date():
    text = README.read_text()
    assert render(text) == text, "README.md is stale: run python -m tune.docs"


def test_readme_shows_the_two_setup_commands():
    text = README.read_text()
    assert "python -m tune.run search_spaces/hybrid_alpha.yaml" in text
    assert 'pip install -e ".[dev]" && python -m pytest' in text
