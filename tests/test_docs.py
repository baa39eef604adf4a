"""The science guide under docs/: its relative links resolve, and it stays self-contained.

Every relative Markdown link in ``docs/science/*.md`` must point to a file of this repository
that exists (links to web pages are not fetched); a link with a ``#anchor`` must name a heading
of its target page, slugged as GitHub does. Links inside code spans, fenced code blocks and
math are not links. Every page of the guide must be linked from its index. Nothing under
``docs/`` may refer to the project's internal notes (the guide is written in its own words).
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SCIENCE = DOCS / "science"
PAGES = sorted(SCIENCE.glob("*.md"))
FORBIDDEN = ("PHENOMENA.md", "shared/")  # internal notes: never named in user-facing docs

_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.S | re.M)
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.S)
_MATH = re.compile(r"\$\$.+?\$\$|\$[^$\n]+\$", re.S)
# [text](target) or ![alt](target), target optionally in <...>, optionally with a "title"
_INLINE = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^()\s]+)(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)"
)
_REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)", re.M)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:|^//")
_HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$", re.M)


def _prose(text: str) -> str:
    """``text`` without fenced blocks, code spans and math (nothing in them is a link)."""
    return _MATH.sub(" ", _CODE_SPAN.sub(" ", _FENCE.sub(" ", text)))


def links(text: str) -> list[str]:
    """Every link target of a Markdown text, in order: inline links, images and reference
    definitions (angle brackets removed)."""
    prose = _prose(text)
    found = [m.group(1) for m in _INLINE.finditer(prose)]
    found += [m.group(1) for m in _REFERENCE.finditer(prose)]
    return [t[1:-1] if t.startswith("<") else t for t in found]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation removed
    (letters, digits, ``_`` and ``-`` kept), spaces turned into hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    text = re.sub(r"[`*]", "", text).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The anchors of a Markdown page's headings (repeats get ``-1``, ``-2``, ... as on
    GitHub)."""
    out: set[str] = set()
    seen: dict[str, int] = {}
    for m in _HEADING.finditer(_FENCE.sub(" ", text)):
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def broken_links(page: Path, root: Path = ROOT) -> list[str]:
    """The relative links of ``page`` that do not resolve (or leave ``root``), each with the
    reason."""
    bad = []
    for target in links(page.read_text(encoding="utf-8")):
        if _SCHEME.match(target):  # http:, https:, mailto:, ...: not checked here
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if path and not dest.is_relative_to(root):
            bad.append(f"{target}: outside the repository")
        elif not dest.exists():
            bad.append(f"{target}: no such file ({dest.relative_to(root)})")
        elif anchor:
            if dest.suffix != ".md":
                bad.append(f"{target}: an anchor into a file that is not Markdown")
            elif anchor not in anchors(dest.read_text(encoding="utf-8")):
                bad.append(f"{target}: no heading with anchor #{anchor} in {dest.name}")
    return bad


def test_the_guide_has_an_index_and_pages():
    names = {p.name for p in PAGES}
    assert "README.md" in names, "docs/science/README.md (the index) is missing"
    assert len(names) > 1, f"docs/science has no pages besides the index: {sorted(names)}"


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_relative_links_resolve(page):
    assert broken_links(page) == [], f"{page.relative_to(ROOT)}: broken links"


def test_every_page_is_linked_from_the_index():
    linked = {
        (SCIENCE / t.partition("#")[0]).resolve()
        for t in links((SCIENCE / "README.md").read_text(encoding="utf-8"))
        if not _SCHEME.match(t) and t.partition("#")[0]
    }
    missing = [p.name for p in PAGES if p.name != "README.md" and p.resolve() not in linked]
    assert missing == [], f"pages not linked from docs/science/README.md: {missing}"


def test_docs_do_not_mention_the_internal_notes():
    files = [p for p in DOCS.rglob("*") if p.is_file()]
    assert files, "docs/ is empty"
    hits = [
        f"{p.relative_to(ROOT)}: {word!r}"
        for p in files
        for word in FORBIDDEN
        if word.lower() in p.read_bytes().decode("utf-8", errors="ignore").lower()
    ]
    assert hits == [], f"docs name internal notes: {hits}"


# -- the checker itself, on small texts --------------------------------------------------------


def test_links_finds_inline_image_and_reference_links_but_not_code_or_math():
    text = (
        'See [the guide](schedules.md) and ![a plot](img/a.png "title").\n'
        "[ref]: <other page.md>\n"
        "Not a link: `[x](code.md)`, $[0, 1](t)$, nor\n"
        "```\n[y](fenced.md)\n```\n"
        "[nested [brackets]](nested.md#a-heading) and [web](https://example.org)."
    )
    assert links(text) == [
        "schedules.md",
        "img/a.png",
        "nested.md#a-heading",
        "https://example.org",
        "other page.md",
    ]


def test_anchors_follow_github_slugs():
    text = "# Science guide\n## WSD and the river valley\n## `best_wsd`: search!\n"
    text += "## Notes\n## Notes\n"
    assert anchors(text) == {
        "science-guide",
        "wsd-and-the-river-valley",
        "best_wsd-search",
        "notes",
        "notes-1",
    }


def test_broken_links_reports_missing_files_anchors_and_escapes(tmp_path):
    (tmp_path / "b.md").write_text("# Title\n## Part two\n")
    page = tmp_path / "a.md"
    page.write_text(
        "[ok](b.md) [ok](b.md#part-two) [self](#top) [gone](c.md) [bad](b.md#nope) "
        "[out](../x.md)\n# Top\n"
    )
    assert broken_links(page, root=tmp_path) == [
        "c.md: no such file (c.md)",
        "b.md#nope: no heading with anchor #nope in b.md",
        "../x.md: outside the repository",
    ]
