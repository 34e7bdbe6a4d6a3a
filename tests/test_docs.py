"""The documentation stands alone: no file cites a document outside the repository, every link
in README.md and docs/*.md to a repository file (and its #section) resolves, and
docs/parameters.md is the schema's."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from sim.model.scenario import PARAMETERS_MD, parameters_markdown

ROOT = Path(__file__).resolve().parent.parent
OUTSIDE_BRIEF = "MODEL" + ".md"  # the brief the model was built from: not in the repository
LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^\s*(```|~~~)")


def tracked_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / name for name in out.decode().split("\0") if name and (ROOT / name).is_file()]


def text_of(path: Path) -> str | None:
    data = path.read_bytes()
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def prose_lines(text: str) -> list[str]:
    """The lines of a markdown text outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text, lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in prose_lines(path.read_text(encoding="utf-8")):
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            base = slug(match.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_no_file_cites_the_brief_outside_the_repository() -> None:
    citing = []
    for path in tracked_files():
        text = text_of(path)
        if text is not None and OUTSIDE_BRIEF in text:
            line = next(n for n, line in enumerate(text.splitlines(), 1) if OUTSIDE_BRIEF in line)
            citing.append(f"{path.relative_to(ROOT)}:{line}")
    assert not citing, f"cite docs/sources.md (figures) or docs/ODD.md (the model) instead: {citing}"


@pytest.mark.parametrize("doc", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_to_a_repository_file_resolves(doc: Path) -> None:
    broken = []
    for line in prose_lines(doc.read_text(encoding="utf-8")):
        for target in LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:, ...
                continue
            name, _, anchor = target.partition("#")
            path = (doc.parent / name).resolve() if name else doc
            if not path.exists():
                broken.append(f"{target}: no such file")
            elif not path.is_relative_to(ROOT):
                broken.append(f"{target}: outside the repository")
            elif anchor and path.suffix == ".md" and anchor not in anchors(path):
                broken.append(f"{target}: no such section")
    assert not broken, f"{doc.relative_to(ROOT)}: broken links: {broken}"


def test_sections_of_the_sources_cited_in_files_exist() -> None:
    """`docs/sources.md#<section>` in a scenario's or experiment's comments names a real section."""
    sections = anchors(ROOT / "docs" / "sources.md")
    wrong = []
    for path in tracked_files():
        text = text_of(path)
        for anchor in re.findall(r"docs/sources\.md#([\w-]+)", text or ""):
            if anchor not in sections:
                wrong.append(f"{path.relative_to(ROOT)}: #{anchor}")
    assert not wrong, f"no such section of docs/sources.md: {wrong}; sections: {sorted(sections)}"


def test_the_parameter_reference_is_generated_from_the_schema() -> None:
    assert PARAMETERS_MD.read_text(encoding="utf-8") == parameters_markdown(), (
        "regenerate with: python -m sim.model.scenario --parameters-md > docs/parameters.md"
    )


def test_the_parameter_reference_names_every_key_with_its_range() -> None:
    text = PARAMETERS_MD.read_text(encoding="utf-8")
    for row in ("| `club.fees.annual` | `960` | number, 0 <= x <= 100000 |",
                "| `club.meetings_per_year` | `52` | `52`, `26`, `12` |",
                "| `club.composition.policy` | `exclusivity` | `exclusivity`, `complementarity`, `open` |",
                "| `market.deal_value_median` | `1500` | number, x > 0 |",
                "| `region.clubs[].count` | `1` | integer, 1 <= x <= 100000 |"):
        assert row in text
