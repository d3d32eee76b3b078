"""One report model, rendered to markdown and to self-contained HTML; and a report directory written whole.

A Document is a title, an optional verdict and sections of blocks: paragraphs, bullet lists, tables
of typed cells, images, markup the program drew (an inline SVG). Both formats come from the same
blocks, so they say the same thing (a block or section may be kept to one format with `only="md"`
or `only="html"`). HTML escapes every string
and carries one shared stylesheet. Markdown escapes what would break a table or turn into markup:
everything in an `escape="markdown"` document (text from journals and people), only pipes and
newlines in table cells and lists of an `escape="table"` document (text the program wrote).

A report directory is rendered into a hidden sibling (`stage`) and appears whole (`publishing`,
`publish`); on any error the staged directory is removed and the destination is left as it was.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

# ------------------------------------------------------------------ the model


@dataclass
class Cell:
    """A table cell or a run of inline text."""
    text: str
    kind: str = "text"  # text | code | ok | fail | na | bad | link
    href: str | None = None
    color: str | None = None  # HTML background (a threshold color)


Inline = str | list[Cell]


@dataclass
class Para:
    text: Inline
    kind: str = "text"  # text | note | bad | ok | quote | pre
    only: str | None = None  # "md" | "html": shown in that format alone


@dataclass
class Bullets:
    items: list[str | tuple[str, str]]  # a (key, value) item shows the key in bold
    only: str | None = None


@dataclass
class Table:
    headers: list[str]
    rows: list[list[Cell | str]]
    empty: str | None = "none"  # said instead of a table without rows; None: the header row alone
    align: str = ""  # per column, "r" right-aligns it (markdown `---:`, HTML class "r")
    row_kinds: list[str] | None = None  # per row, an HTML class: pass | fail | skip | mark (the row to find)
    only: str | None = None
    key_column: bool = False  # the first cell names its row: a row header in HTML, bold in markdown
    wide: bool = False  # HTML: the page's full width, so the tables of a page line up


@dataclass
class Image:
    title: str
    file: str
    caption: Inline = ""
    only: str | None = None
    wide: bool = False  # the page's full width (a plot to read), not its natural size


@dataclass
class Gallery:
    """Images side by side; in markdown one per line."""
    images: list[Image]
    only: str | None = None


@dataclass
class Markup:
    """Markup the program drew (an inline SVG), put into the HTML as it is; markdown says `md` instead (a link
    to the file beside the report). Never text from a journal or a person: it is not escaped."""
    html: str
    md: Inline = ""
    only: str | None = None


@dataclass
class Section:
    title: str  # "" for blocks without a heading
    blocks: list[Block] = field(default_factory=list)
    only: str | None = None


Block = Para | Bullets | Table | Image | Gallery | Markup | Section


@dataclass
class Document:
    title: str
    sections: list[Section]
    verdict: tuple[str, bool] | None = None  # (text, passed)
    verdict_in_title: bool = False  # "# <title>: <verdict>" rather than a verdict line of its own
    page_title: str | None = None  # the HTML <title>; default the heading
    escape: str = "markdown"  # markdown | table

    def heading(self) -> str:
        if self.verdict and self.verdict_in_title:
            return f"{self.title}: {self.verdict[0]}"
        return self.title

    def to_markdown(self) -> str:
        return _Markdown(self).render()

    def to_html(self) -> str:
        return _html(self)


def _cell(c: Cell | str) -> Cell:
    return c if isinstance(c, Cell) else Cell(c)


def _runs(text: Inline) -> list[Cell]:
    return [Cell(text)] if isinstance(text, str) else text


# ------------------------------------------------------------------ markdown


_MD_SPECIAL = re.compile(r"([\\`*|<>\[\]])")


def md_text(s: str, strip: bool = True) -> str:
    """Text with markdown's markup characters escaped and whitespace runs (newlines too) made one space."""
    s = " ".join(str(s).split()) if strip else re.sub(r"\s+", " ", str(s))
    return _MD_SPECIAL.sub(r"\\\1", s)


def md_code(s: str) -> str:
    s = " ".join(str(s).split()).replace("|", "\\|")
    if not s:
        return ""
    return f"`` {s} ``" if "`" in s else f"`{s}`"


def _md_pipes(s: str) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


class _Markdown:
    def __init__(self, doc: Document):
        self.doc = doc
        strict = doc.escape == "markdown"
        self.text = md_text if strict else str  # headings and paragraphs
        self.inline = (lambda s: md_text(s, strip=False)) if strict else str
        self.cell_text = md_text if strict else _md_pipes  # table cells and list items

    def render(self) -> str:
        doc = self.doc
        lines = [f"# {self.text(doc.heading())}", ""]
        if doc.verdict and not doc.verdict_in_title:
            text, passed = doc.verdict
            lines += [f"**Verdict: {'✅' if passed else '❌'} {self.text(text)}**", ""]
        for sec in doc.sections:
            lines += self.section(sec, 2)
        return "\n".join(lines)

    def section(self, sec: Section, level: int) -> list[str]:
        if sec.only == "html":
            return []
        lines = [f"{'#' * level} {self.text(sec.title)}", ""] if sec.title else []
        for b in sec.blocks:
            if b.only == "html":
                continue
            if isinstance(b, Section):
                lines += self.section(b, level + 1)
            else:
                lines += self.block(b) + [""]
        return lines

    def runs(self, text: Inline) -> str:
        if isinstance(text, str):
            return self.text(text)
        return "".join(self.cell(c, inline=True) for c in text)

    def cell(self, c: Cell | str, inline: bool = False) -> str:
        c = _cell(c)
        if c.kind == "code":
            return md_code(c.text)
        esc = self.inline if inline else self.cell_text
        if c.kind == "link" and c.href:
            return f"[{esc(c.text)}](<{c.href.replace('>', '%3E').replace(' ', '%20')}>)"
        text = esc(c.text)
        if c.kind == "ok":
            return f"✅ {text}"
        if c.kind == "fail":
            return f"❌ **{text}**"
        if c.kind == "bad":
            return f"⚠️ **{text}**" if text else ""
        if c.kind == "na":
            return f"_{text}_" if text and text != "—" else text
        return text

    def key(self, c: Cell | str) -> str:
        text = self.cell(c)
        return f"**{text}**" if text else ""

    def block(self, b: Block) -> list[str]:
        if isinstance(b, Table):
            if not b.rows and b.empty is not None:
                return [f"_{self.text(b.empty)}_"]
            align = b.align.ljust(len(b.headers), "l")
            return ["| " + " | ".join(self.cell_text(h) for h in b.headers) + " |",
                    "|" + "|".join("---:" if a == "r" else "---" for a in align[:len(b.headers)]) + "|",
                    *("| " + " | ".join(self.key(c) if b.key_column and i == 0 else self.cell(c)
                                        for i, c in enumerate(row)) + " |" for row in b.rows)]
        if isinstance(b, Image):
            caption = self.runs(b.caption) if b.caption else ""
            return [f"![{self.text(b.title)}]({b.file})"] + (["", caption] if caption else [])
        if isinstance(b, Gallery):
            return [line for image in b.images if image.only != "html" for line in self.block(image)]
        if isinstance(b, Markup):
            return [self.runs(b.md)] if b.md else []
        if isinstance(b, Bullets):
            return [f"- **{self.text(item[0])}**: {self.cell_text(item[1])}" if isinstance(item, tuple)
                    else f"- {self.cell_text(item)}" for item in b.items]
        if b.kind == "pre":
            return ["```", *str(b.text).split("\n"), "```"]
        text = self.runs(b.text)
        if b.kind == "quote":
            return ["> " + line if line.strip() else ">" for line in text.split("\n")]
        if b.kind == "bad":
            return [f"**⚠️ {text}**"]
        if b.kind == "note":
            return [f"_{text}_"]
        return [text]


# ------------------------------------------------------------------ HTML


CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1100px; color: #222; background: #fafafa; }
h1 .verdict { padding: 2px 10px; border-radius: 4px; color: white; }
.verdict.pass { background: #37872D; } .verdict.failv { background: #C4162A; }
table { border-collapse: collapse; font-size: 13px; margin: 0.4em 0 1em; background: white; max-width: 100%; }
td, th { border: 1px solid #ccc; padding: 3px 7px; vertical-align: top; text-align: left; overflow-wrap: break-word; }
th { background: #f0f0f0; }
table.wide { width: 100%; }
td.r, th.r { text-align: right; font-variant-numeric: tabular-nums; } td.r { white-space: nowrap; }
tr.fail { background: #fdd; } tr.pass { background: #efe; } tr.skip { color: #888; }
tr.mark { background: #e3f1dc; font-weight: bold; outline: 2px solid #37872D; }
td.ok { color: #1b6e1b; font-weight: bold; } td.fail { color: white; background: #C4162A; font-weight: bold; }
td.bad, p.bad { color: #C4162A; font-weight: bold; } td.na, p.note { color: #777; font-style: italic; }
p.ok { color: #2a7; }
code { font-size: 12px; overflow-wrap: anywhere; }
pre { background: white; border: 1px solid #ddd; padding: 6px; overflow-x: auto; font-size: 12px; }
blockquote { border-left: 4px solid #ccc; margin: 0.5em 0; padding: 0.2em 1em; color: #444; white-space: pre-wrap; }
figure { display: inline-block; vertical-align: top; margin: 6px; background: white; border: 1px solid #ddd;
         padding: 6px; min-width: 240px; max-width: calc(100% - 26px); }
figure img { max-width: 100%; display: block; }
figcaption { font-size: 11px; color: #555; width: 0; min-width: 100%; margin-top: 4px; }
figure.wide { display: block; margin: 6px 0 14px; max-width: none; }
figure.wide img { width: 100%; height: auto; }
figure.wide figcaption { font-size: 13px; }
div.markup svg { max-width: 100%; height: auto; background: white; border: 1px solid #ddd; }
"""


def h(s) -> str:
    return html.escape(str(s), quote=True)


def _html_run(c: Cell) -> str:
    if c.kind == "code":
        return f"<code>{h(c.text)}</code>"
    if c.kind == "link" and c.href:
        return f'<a href="{h(c.href)}">{h(c.text)}</a>'
    return h(c.text)


def _html_cell(c: Cell | str, right: bool = False, key: bool = False) -> str:
    c = _cell(c)
    style = f' style="background:{h(c.color)}"' if c.color else ""
    classes = ([c.kind] if c.kind in ("ok", "fail", "bad", "na") else []) + (["r"] if right else [])
    cls = f' class="{" ".join(classes)}"' if classes else ""
    tag, scope = ("th", ' scope="row"') if key else ("td", "")
    return f"<{tag}{scope}{cls}{style}>{_html_run(c)}</{tag}>"


def _html_runs(text: Inline) -> str:
    return "".join(_html_run(c) for c in _runs(text))


def _html_block(b: Block, level: int) -> list[str]:
    if b.only == "md":
        return []
    if isinstance(b, Section):
        out = [f"<h{level}>{h(b.title)}</h{level}>"] if b.title else []
        return out + [line for x in b.blocks for line in _html_block(x, min(level + 1, 6))]
    if isinstance(b, Table):
        if not b.rows and b.empty is not None:
            return [f'<p class="note">{h(b.empty)}</p>']
        right = [a == "r" for a in b.align.ljust(len(b.headers), "l")]
        th = ['<th class="r">' if r else "<th>" for r in right]
        head = "<tr>" + "".join(f"{t}{h(x)}</th>" for t, x in zip(th, b.headers)) + "</tr>" if any(b.headers) else ""
        kinds = b.row_kinds or [""] * len(b.rows)
        rows = "".join((f'<tr class="{h(k)}">' if k else "<tr>")
                       + "".join(_html_cell(c, r, b.key_column and i == 0) for i, (c, r) in enumerate(zip(row, right)))
                       + "</tr>" for row, k in zip(b.rows, kinds))
        return [('<table class="wide">' if b.wide else "<table>") + f"{head}{rows}</table>"]
    if isinstance(b, Image):
        caption = f"<figcaption>{_html_runs(b.caption)}</figcaption>" if b.caption else ""
        wide = ' class="wide"' if b.wide else ""
        return [f'<figure{wide}><img src="{h(b.file)}" alt="{h(b.title)}">{caption}</figure>']
    if isinstance(b, Gallery):
        return [line for image in b.images for line in _html_block(image, level)]
    if isinstance(b, Markup):
        return [f'<div class="markup">{b.html}</div>']
    if isinstance(b, Bullets):
        return ["<ul>" + "".join(f"<li><b>{h(x[0])}</b>: {h(x[1])}</li>" if isinstance(x, tuple) else f"<li>{h(x)}</li>"
                                 for x in b.items) + "</ul>"]
    if b.kind == "pre":
        return [f"<pre>{h(b.text)}</pre>"]
    if b.kind == "quote":
        return [f"<blockquote>{_html_runs(b.text)}</blockquote>"]
    cls = f' class="{h(b.kind)}"' if b.kind != "text" else ""
    return [f"<p{cls}>{_html_runs(b.text)}</p>"]


def _html(doc: Document) -> str:
    heading = h(doc.title)
    if doc.verdict:
        text, passed = doc.verdict
        heading += (": " if doc.verdict_in_title else " ") + \
            f'<span class="verdict {"pass" if passed else "failv"}">{h(text)}</span>'
    body = [f"<h1>{heading}</h1>"] + [line for sec in doc.sections for line in _html_block(sec, 2)]
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{h(doc.page_title or doc.heading())}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")


# ------------------------------------------------------------------ a report directory, written whole


def unused_path(path: Path) -> Path:
    """`path`, or `path-2`, `path-3`… whichever does not exist yet."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


def stage(final: Path, suffix: str = ".tmp") -> Path:
    """A new hidden sibling directory of `final` to render into (its parents made as needed). Not
    mkdtemp: its 0700 would become the report directory's mode."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.{uuid.uuid4().hex[:12]}{suffix}"
    tmp.mkdir()
    return tmp


def publish(tmp: Path, final: Path, merge: bool = False, last: str | None = None) -> Path:
    """Rename the staged directory to `final` (missing or empty: the whole report appears at once).
    With `merge`, into an existing directory: file by file with os.replace, `last` moved last."""
    try:
        os.rename(tmp, final)
        return final
    except OSError:
        if not (merge and final.is_dir()):
            raise
    for p in sorted(tmp.iterdir(), key=lambda p: (p.name == last, p.name)):
        os.replace(p, final / p.name)
    tmp.rmdir()
    return final


def discard(tmp: Path) -> None:
    shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def publishing(tmp: Path, final: Path, merge: bool = False, last: str | None = None) -> Iterator[Path]:
    """`with publishing(stage(final), final) as d:` write into d; it is published when the block
    ends, and removed on any exception (Ctrl-C included), leaving `final` as it was."""
    try:
        yield tmp
        publish(tmp, final, merge, last)
    except BaseException:
        discard(tmp)
        raise
