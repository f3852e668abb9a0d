"""The runbook's structure, read by a CommonMark parser (markdown-it-py, with tables and front matter).

The reader of meaning (runbook/model.py) never looks at raw lines for structure: it gets headings
(any depth), and under each the blocks in order — paragraphs, list items (any bullet, ordered or
not, with or without a task checkbox), table rows, code blocks (``` or ~~~ fences with any info
string, or indented) — each with the 1-based line of the source it came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from markdown_it import MarkdownIt
from mdit_py_plugins.front_matter import front_matter_plugin


@dataclass
class Para:
    line: int
    text: str  # plain text (emphasis and code marks removed), lines joined by " "
    lines: list[tuple[int, str]]  # the source lines, markup stripped, for labels like "**所要時間**: 1-2分"


@dataclass
class Item:
    line: int
    text: str  # plain text of the item's first paragraph, the task checkbox removed
    lines: list[tuple[int, str]]
    depth: int  # 0 for a top-level item
    checkbox: bool
    ordered: bool


@dataclass
class Table:
    line: int
    header: list[str]
    rows: list[tuple[int, list[str]]]


@dataclass
class Code:
    line: int  # the fence's line (or the first line of an indented block)
    info: str  # the fence's info string ("" for an indented block)
    lines: list[tuple[int, str]]  # (line, text) of its content


Block = Para | Item | Table | Code


@dataclass
class Heading:
    depth: int  # number of '#' (or 1/2 for a setext heading)
    text: str
    line: int
    blocks: list[Block] = field(default_factory=list)  # up to the next heading of any depth


@dataclass
class Document:
    headings: list[Heading]
    preamble: list[Block]  # blocks before the first heading
    front_matter: str = ""

    def subtree(self, i: int) -> list[int]:
        """Indices of the headings below heading i (deeper, up to the next of its depth or less)."""
        out = []
        for j in range(i + 1, len(self.headings)):
            if self.headings[j].depth <= self.headings[i].depth:
                break
            out.append(j)
        return out

    def children(self, i: int) -> list[int]:
        """The headings directly below heading i: the shallowest depth of its subtree."""
        sub = self.subtree(i)
        if not sub:
            return []
        top = min(self.headings[j].depth for j in sub)
        return [j for j in sub if self.headings[j].depth == top]

    def body(self, i: int) -> list[Block]:
        """Heading i's own blocks and those of every heading below it, in order."""
        out = list(self.headings[i].blocks)
        for j in self.subtree(i):
            out += self.headings[j].blocks
        return out


_MD = MarkdownIt("commonmark").enable("table").use(front_matter_plugin)
_CHECKBOX = re.compile(r"^\[[ xX]\]\s+")
_MARKUP = re.compile(r"(\*\*|__|(?<![\w*])\*(?!\s)|(?<!\w)_(?!\s)|`)")


def _plain(inline) -> str:
    parts: list[str] = []
    for t in inline.children or []:
        if t.type in ("text", "code_inline"):
            parts.append(t.content)
        elif t.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif t.type == "image":
            parts.append(t.content)
        elif t.type == "html_inline" and re.match(r"<br\s*/?>", t.content, re.I):
            parts.append(" ")
    return re.sub(r"[ \t]+", " ", "".join(parts)).strip()


def _source_lines(inline) -> list[tuple[int, str]]:
    start = inline.map[0] + 1 if inline.map else 0
    return [(start + k, _MARKUP.sub("", s).strip()) for k, s in enumerate(inline.content.split("\n"))]


def normalize_newlines(text: str) -> str:
    """A byte-order mark dropped, CRLF and CR read as LF: the lines count as an editor shows them."""
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def parse(text: str) -> Document:
    tokens = _MD.parse(normalize_newlines(text))
    doc = Document([], [])

    def add(block: Block) -> None:
        (doc.headings[-1].blocks if doc.headings else doc.preamble).append(block)

    list_stack: list[bool] = []  # ordered?
    item_first_para: list[bool] = []  # per open item: its first paragraph not seen yet
    item_checkbox: list[bool] = []
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if t.type == "front_matter":
            doc.front_matter = t.content
        elif t.type == "heading_open":
            inline = tokens[i + 1]
            doc.headings.append(Heading(int(t.tag[1]), _plain(inline), t.map[0] + 1))
            i += 3
            continue
        elif t.type in ("bullet_list_open", "ordered_list_open"):
            list_stack.append(t.type == "ordered_list_open")
        elif t.type in ("bullet_list_close", "ordered_list_close"):
            list_stack.pop()
        elif t.type == "list_item_open":
            item_first_para.append(True)
        elif t.type == "list_item_close":
            item_first_para.pop()
        elif t.type == "paragraph_open":
            inline = tokens[i + 1]
            text_ = _plain(inline)
            lines = _source_lines(inline)
            line = t.map[0] + 1
            if item_first_para and item_first_para[-1]:
                item_first_para[-1] = False
                box = bool(_CHECKBOX.match(text_))
                text_ = _CHECKBOX.sub("", text_)
                if lines:
                    lines[0] = (lines[0][0], _CHECKBOX.sub("", lines[0][1]))
                add(Item(line, text_, lines, len(list_stack) - 1, box, list_stack[-1]))
            else:
                add(Para(line, text_, lines))
            i += 3
            continue
        elif t.type == "table_open":
            header: list[str] = []
            rows: list[tuple[int, list[str]]] = []
            j = i + 1
            row: list[str] | None = None
            row_line = 0
            in_head = False
            while tokens[j].type != "table_close":
                tj = tokens[j]
                if tj.type == "thead_open":
                    in_head = True
                elif tj.type == "thead_close":
                    in_head = False
                elif tj.type == "tr_open":
                    row, row_line = [], tj.map[0] + 1 if tj.map else 0
                elif tj.type == "inline" and row is not None:
                    row.append(_plain(tj))
                elif tj.type == "tr_close" and row is not None:
                    if in_head:
                        header = row
                    else:
                        rows.append((row_line, row))
                    row = None
                j += 1
            add(Table(t.map[0] + 1, header, rows))
            i = j + 1
            continue
        elif t.type in ("fence", "code_block"):
            first = t.map[0] + (2 if t.type == "fence" else 1)
            content = t.content[:-1] if t.content.endswith("\n") else t.content
            lines = [(first + k, s) for k, s in enumerate(content.split("\n"))] if content else []
            add(Code(t.map[0] + 1, t.info.strip() if t.type == "fence" else "", lines))
        i += 1
    return doc
