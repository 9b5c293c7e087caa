"""The documentation holds together: every relative link and image in the README and the docs
points at a file that exists (and an #anchor at a heading there), and the README stays short."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README_LIMIT = 12 * 1024  # bytes: a page a person reads in five minutes

# [text](target) and ![alt](target); a target may carry a "title" after a space.
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"`+[^`]*`+")


def documents() -> list[Path]:
    paths = [ROOT / "README.md", ROOT / "CHANGELOG.md"]
    paths += sorted((ROOT / "docs").glob("*.md"))
    paths += [ROOT / "training" / "README.md", ROOT / "data" / "README.md"]
    return [path for path in paths if path.exists()]


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks, with inline code removed."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(INLINE_CODE.sub("", line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"<[^>]+>", "", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link's text only
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if fenced or not match:
            continue
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> list[str]:
    return [
        target
        for line in prose_lines(path.read_text(encoding="utf-8"))
        for target in LINK.findall(line)
    ]


def is_external(target: str) -> bool:
    return re.match(r"[a-z][a-z0-9+.-]*:", target, flags=re.I) is not None


@pytest.mark.parametrize("doc", documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_image_resolves(doc):
    broken = []
    for target in links(doc):
        if is_external(target):
            continue
        file_part, _, anchor = target.partition("#")
        dest = (doc.parent / file_part).resolve() if file_part else doc
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor.lower() not in anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {dest.relative_to(ROOT)}")
    assert not broken, f"{doc.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_documents_link_to_each_other():
    """The README reaches every page of docs/, so none is an orphan."""
    readme_targets = {t.partition("#")[0] for t in links(ROOT / "README.md")}
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"docs/{page.name}" in readme_targets, f"README.md does not link docs/{page.name}"


def test_the_readme_is_a_short_page():
    size = len((ROOT / "README.md").read_bytes())
    assert size < README_LIMIT, f"README.md is {size} bytes; move detail to docs/"


def test_the_link_checker_catches_what_it_should(tmp_path):
    (tmp_path / "a.md").write_text("# A title, with `code`\n\n## Twice\n\n## Twice\n", "utf-8")
    doc = tmp_path / "b.md"
    doc.write_text(
        "[ok](a.md#a-title-with-code) ![img](a.md) [two](a.md#twice-1) [web](https://x.org/y)\n"
        "`[not a link](nowhere.md)`\n```\n[nor this](nowhere.md)\n```\n"
        "[bad](gone.md) [x](a.md#no)\n",
        "utf-8",
    )
    assert links(doc) == [
        "a.md#a-title-with-code",
        "a.md",
        "a.md#twice-1",
        "https://x.org/y",
        "gone.md",
        "a.md#no",
    ]
    assert anchors(tmp_path / "a.md") == {"a-title-with-code", "twice", "twice-1"}
