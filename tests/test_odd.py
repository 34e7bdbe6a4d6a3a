"""docs/ODD.md stays true to the code: its parameter table is the schema's, and it names every parameter."""

from __future__ import annotations

from pathlib import Path

from sim.model.scenario import parameter_rows, parameter_table_markdown

ODD = Path(__file__).resolve().parent.parent / "docs" / "ODD.md"


def test_the_parameter_table_is_generated_from_the_schema() -> None:
    text = ODD.read_text(encoding="utf-8")
    begin, end = "<!-- parameters:begin -->\n", "<!-- parameters:end -->"
    table = text[text.index(begin) + len(begin) : text.index(end)]
    assert table == parameter_table_markdown(), "regenerate with: python -m sim.model.scenario"


def test_every_rule_parameter_is_described_in_the_text() -> None:
    """Each parameter's name appears in the ODD's prose, above the appendix table."""
    prose = ODD.read_text(encoding="utf-8").split("## Appendix")[0]
    missing = [name for name, _, _ in parameter_rows() if name.split(".")[-1] not in prose]
    assert not missing, f"parameters not described in docs/ODD.md: {missing}"
