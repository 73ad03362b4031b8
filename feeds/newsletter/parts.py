"""Digests assembled from parts: each section and the frame rendered and inlined once.

100,000 readers choosing among 2,000 categories get nearly 100,000 different
digests but only a few thousand different sections. premailer therefore runs
on the frame (everything but the sections, once per number of sections) and
on batches of new sections, never once per digest; a digest is the inlined
frame with its sections put in its slots and its own values filled in.

That gives the same HTML as inlining each whole digest because premailer
styles an element from the rules whose selectors match it, and:

- a section sits in the same frame in a batch as in a digest, so descendant
  and child selectors (``.card .section h2``) see the same ancestors; selectors
  that look at a section's position or neighbours (``+``, ``~``,
  ``:first-child``, ``:nth-child()``, ...) would not, so a template whose
  ``<style>`` has one is inlined whole, digest by digest;
- ``@media`` rules and others premailer cannot inline stay in the frame's
  ``<style>``, which is the same in every digest;
- the digest's own values (subject, count, preheader, categories_label) are
  markers while inlining, filled afterwards as lxml would have written them.
  That is only right where a template prints them as text: one that tests
  them, filters them, or puts them in an attribute is inlined whole; so is one
  that reads ``sections`` outside its loop, puts more than the ``section``
  block in that loop, or reads the outer ``loop`` inside the block.

Per-recipient markers (address, unsubscribe link) are filled at sending time,
after inlining, in both ways alike.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, replace

import jinja2
from jinja2 import nodes

from feeds.errors import TemplateError
from feeds.newsletter.digest import (
    Composer,
    Item,
    headlines,
    inline_css,
    once_each,
)
from feeds.newsletter.state import Variant

log = logging.getLogger(__name__)
BATCH = 200  # sections inlined per premailer run: large enough to make its setup cheap

BLOCK = "section"
FILLED = ("subject", "count", "preheader", "categories_label")
MARKS = {name: f"%%feeds-{name}%%" for name in FILLED}
SLOT = {"html": "<!--feeds-slot-->", "txt": "%%feeds-slot%%"}
_PART = re.compile(r"<!--feeds-part-->(.*?)<!--feeds-end-->", re.S)
_POSITIONAL = re.compile(r"[+~]|:(?:first|last|only|nth)-|:empty|:has\(|:root")
_STYLE = re.compile(r"<style[^>]*>(.*?)</style>", re.S | re.I)
_MARK_IN_TAG = re.compile(r"<[^>]*%%feeds-(?:" + "|".join(FILLED) + r")%%")


def why_whole(env: jinja2.Environment, name: str) -> str | None:
    """Why this template must be inlined whole, digest by digest; None when parts will do."""
    source = env.loader.get_source(env, name)[0]  # type: ignore[union-attr]
    ast = env.parse(source)
    blocks = [b for b in ast.find_all(nodes.Block) if b.name == BLOCK]
    if len(blocks) != 1 or not blocks[0].scoped:
        return f"{name} has no '{{% block {BLOCK} scoped %}}' inside its loop over sections"
    block = blocks[0]
    loops = [
        loop
        for loop in ast.find_all(nodes.For)
        if isinstance(loop.iter, nodes.Name) and loop.iter.name == "sections"
    ]
    if len(loops) != 1 or [n for n in loops[0].body if not _blank(n)] != [block]:
        return f"{name}: its loop over sections holds more than the {BLOCK} block"
    names = list(ast.find_all(nodes.Name))
    if sum(n.name == "sections" for n in names) != 1:
        return f"{name} uses 'sections' outside its loop"
    printed = {id(n) for out in ast.find_all(nodes.Output) for n in out.nodes}
    for node in names:
        if node.name in FILLED and id(node) not in printed:
            return f"{name} uses '{node.name}' other than printing it"
    inner = {id(n) for loop in block.find_all(nodes.For) for n in loop.find_all(nodes.Name)}
    if any(n.name == "loop" and id(n) not in inner for n in block.find_all(nodes.Name)):
        return f"{name} reads the position of a section ('loop') inside its {BLOCK} block"
    return None


def _blank(node: nodes.Node) -> bool:
    return isinstance(node, nodes.Output) and all(
        isinstance(n, nodes.TemplateData) and not n.data.strip() for n in node.nodes
    )


def positional_css(html: str) -> str | None:
    """The first selector of the document's <style> that depends on position, or None."""
    for style in _STYLE.findall(html):
        for selector in re.findall(r"([^{}]+)\{", re.sub(r"/\*.*?\*/", "", style, flags=re.S)):
            if not selector.strip().startswith("@") and _POSITIONAL.search(selector):
                return " ".join(selector.split())
    return None


def marks_in_tags(html: str) -> bool:
    """Whether a digest's own value would land in an attribute, where lxml escapes otherwise."""
    return _MARK_IN_TAG.search(html) is not None


def cut_parts(inlined: str, count: int) -> list[str]:
    """The inlined sections of a batch, in order."""
    found = _PART.findall(inlined)
    if len(found) != count:
        raise ValueError(f"{count} sections inlined but {len(found)} found afterwards")
    return found


def batch_document(frame: str, sections: list[str]) -> str:
    """A frame with as many slots as sections, each slot holding one, marked for cutting."""
    pieces = frame.split(SLOT["html"])
    assert len(pieces) == len(sections) + 1
    out = [pieces[0]]
    for section, piece in zip(sections, pieces[1:], strict=True):
        out += ["<!--feeds-part-->", section, "<!--feeds-end-->", piece]
    return "".join(out)


def part_key(kind: str, text: str) -> str:
    return kind + hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def escape_text(value: str) -> str:
    """As lxml writes text in HTML: only &, < and > become entities."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True)
class Layout:
    """One digest as parts: two frames, its sections' keys, and its own values."""

    html_frame: str
    text_frame: str
    sections: tuple[tuple[str, str], ...]  # (html part, text part) per section
    fills: tuple[tuple[str, str], ...]  # (name, value)

    def dumps(self) -> str:
        return json.dumps(
            [self.html_frame, self.text_frame, self.sections, self.fills], ensure_ascii=False
        )

    @classmethod
    def loads(cls, text: str) -> Layout:
        html_frame, text_frame, sections, fills = json.loads(text)
        return cls(
            html_frame,
            text_frame,
            tuple((h, t) for h, t in sections),
            tuple((n, v) for n, v in fills),
        )

    def assemble(self, parts: dict[str, str]) -> tuple[str, str]:
        """The digest's HTML and text, with the per-recipient markers still in place."""
        html = _put(parts[self.html_frame], SLOT["html"], [parts[h] for h, _ in self.sections])
        text = _put(parts[self.text_frame], SLOT["txt"], [parts[t] for _, t in self.sections])
        for name, value in self.fills:
            html = html.replace(MARKS[name], escape_text(value))
            text = text.replace(MARKS[name], value)
        return html, text


def _put(frame: str, slot: str, sections: list[str]) -> str:
    pieces = frame.split(slot)
    out = [pieces[0]]
    for section, piece in zip(sections, pieces[1:], strict=True):
        out += [section, piece]
    return "".join(out)


def whole(variant: Variant, parts: dict[str, str]) -> Variant:
    """The variant with its HTML and text in full, however it was stored."""
    if variant.layout is None:
        return variant
    html, text = Layout.loads(variant.layout).assemble(parts)
    return replace(variant, html=html, text=text, layout=None)


class Assembler:
    """Renders the digests of one run from shared, once-inlined parts.

    ``parts`` (key to inlined HTML or text) grows as new sections turn up;
    everything a plan stores is in it. Falls back to the composer's whole
    inlining, digest by digest, for a template parts cannot reproduce.
    """

    def __init__(self, composer: Composer, *, whole: bool = False):
        self.composer = composer
        self.parts: dict[str, str] = {}
        self.frames: dict[int, tuple[str, str]] = {}
        self.sections: dict[tuple, tuple[str, str]] = {}
        self.waiting: list[tuple[str, str]] = []  # (html key, html before inlining)
        env = composer.env
        self.reason = "asked to" if whole else why_whole(env, "digest.html")
        self.reason = self.reason or why_whole(env, "digest.txt")
        if self.reason is None:
            override = "{%% extends %r %%}{%% block %s %%}%s{%% endblock %%}"
            self.frame_templates = {
                kind: env.from_string(override % (f"digest.{kind}", BLOCK, SLOT[kind]))
                for kind in ("html", "txt")
            }

    def render_all(
        self, wanted: dict[str, list[str]], by_category: dict[str, list[Item]], day: str
    ) -> dict[str, Variant]:
        """Every variant in ``wanted`` (its key: the reader's categories with news)."""
        if self.reason is None:
            try:
                return self._assembled(wanted, by_category, day)
            except _Whole as exc:
                self.reason = str(exc)
                self.parts.clear()
        log.info("inlining each digest whole: %s", self.reason)
        return {
            name: self.composer.render(categories, by_category, day)
            for name, categories in wanted.items()
        }

    def _assembled(
        self, wanted: dict[str, list[str]], by_category: dict[str, list[Item]], day: str
    ) -> dict[str, Variant]:
        digest = self.composer.settings.digest
        limits = dict.fromkeys(wanted, digest.max_items)
        variants: dict[str, Variant] = {}
        todo = list(wanted)
        while todo:
            for name in todo:
                variants[name] = self._draft(name, wanted[name], by_category, day, limits[name])
            self._inline_waiting(day)
            todo = [
                name
                for name in todo
                if limits[name] > 1 and self._size(variants[name]) > digest.max_bytes
            ]
            for name in todo:
                limits[name] = max(1, int(limits[name] * 0.8))  # shrink until not clipped
        return variants

    def _size(self, variant: Variant) -> int:
        html, text = Layout.loads(variant.layout or "").assemble(self.parts)
        return len(html.encode("utf-8")) + len(text.encode("utf-8"))

    def _draft(
        self,
        name: str,
        categories: list[str],
        by_category: dict[str, list[Item]],
        day: str,
        limit: int,
    ) -> Variant:
        composer = self.composer
        by_category = once_each(categories, by_category)
        count = sum(len(members) for members in by_category.values())
        subject = composer.subject(day, count)
        chosen = composer.shown(list(by_category), by_category, limit)
        keys = tuple(self._section(category, m, shown, day) for category, m, shown in chosen)
        html_frame, text_frame = self._frame(len(chosen), day)
        titles = [composer.settings.display_name(category) for category, _, _ in chosen]
        fills = (
            ("subject", subject),
            ("count", str(count)),
            ("preheader", headlines([shown[0].post.title for _, _, shown in chosen if shown])),
            ("categories_label", "、".join(titles) or "全部"),
        )
        layout = Layout(html_frame, text_frame, keys, fills)
        return Variant(name, subject, "", "", count, layout=layout.dumps())

    def _context(self, day: str, **values) -> dict:
        marks = {name: MARKS[name] for name in FILLED}
        return {**self.composer.constants(), **marks, "date": day, **values}

    def _section(self, category: str, members: list[Item], shown: list[Item], day: str):
        content = (category, len(members), tuple(item.post.url for item in shown))
        if content in self.sections:
            return self.sections[content]
        section = self.composer.section(category, members, shown, day)
        html = self._block("digest.html", self._context(day, section=section))
        text = self._block("digest.txt", self._context(day, section=section))
        keys = (part_key("h", html), part_key("t", text))
        self.parts[keys[1]] = text
        if keys[0] not in self.parts:
            self.parts[keys[0]] = ""  # filled when its batch is inlined
            self.waiting.append((keys[0], html))
        self.sections[content] = keys
        return keys

    def _block(self, name: str, context: dict) -> str:
        template = self.composer.templates[name]
        try:
            return "".join(template.blocks[BLOCK](template.new_context(context)))
        except jinja2.TemplateError as exc:
            raise TemplateError(str(exc), where=name) from None

    def _frame_source(self, kind: str, count: int, day: str) -> str:
        context = self._context(day, sections=[None] * count)
        try:
            return self.frame_templates[kind].render(context)
        except jinja2.TemplateError as exc:
            raise TemplateError(str(exc), where=f"digest.{kind}") from None

    def _frame(self, count: int, day: str) -> tuple[str, str]:
        """The inlined HTML frame and the text frame with ``count`` slots (once per count)."""
        if count in self.frames:
            return self.frames[count]
        html = self._frame_source("html", count, day)
        selector = positional_css(html)
        if selector:
            raise _Whole(f"digest.html: the style '{selector}' depends on a section's position")
        inlined = inline_css(html)
        if marks_in_tags(inlined):
            raise _Whole("digest.html puts a digest's own value in an attribute")
        text = self._frame_source("txt", count, day)
        keys = (part_key("H", inlined), part_key("T", text))
        self.parts[keys[0]], self.parts[keys[1]] = inlined, text
        self.frames[count] = keys
        return keys

    def _inline_waiting(self, day: str) -> None:
        while self.waiting:
            batch, self.waiting = self.waiting[:BATCH], self.waiting[BATCH:]
            frame = self._frame_source("html", len(batch), day)
            inlined = inline_css(batch_document(frame, [html for _, html in batch]))
            for (key, _), part in zip(batch, cut_parts(inlined, len(batch)), strict=True):
                self.parts[key] = part


class _Whole(Exception):
    """The template turned out to need whole inlining; the message says why."""
