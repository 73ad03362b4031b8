"""The feeds a build has published, so that later builds can retract what they no longer produce.

Kept in ``<state_dir>/published.json``, apart from the cache: the cache only
saves time and may be lost at any moment, while this is the record of which
files in the public output are ours. Rules (README, "Retracted posts"):

- a feed that was published and has no posts now (its posts were unpublished,
  deleted, moved to another category, or left ``_posts/`` as the real site's
  old posts do) stays, as a valid feed without entries: its readers' URL keeps
  answering, and nothing it showed stays public;
- the files of a format no longer in ``feeds.formats``, and every tag feed once
  ``feeds.tags`` is off, are removed;
- only files listed here are ever removed, never anything else in the output.

Without this file (the first build of a version that keeps it, or after it
was lost), the build adopts the feeds that feeds itself wrote into the output
before: files named as ours whose ``<generator>`` is feeds.

A cold build (no cache, empty output) with this file gives the same tree as
the warm build that wrote it.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FILE = "published.json"
FORMAT = 1


@dataclass(frozen=True)
class Published:
    """One published feed folder: what it is a feed of, and since when it has been empty."""

    kind: str  # "site", "category" or "tag"
    name: str  # the category or tag as written in posts; "" for the site feed
    emptied: int | None = None  # epoch µs of the build that found it without posts


@dataclass
class Registry:
    output: str  # the output folder it describes, resolved
    formats: list[str] = field(default_factory=list)  # file kinds written into every folder
    feeds: dict[str, Published] = field(default_factory=dict)  # folder -> what it holds
    found: bool = False  # read from disk (False: first build, or the file was unusable)

    @classmethod
    def load(cls, state_dir: Path, output: Path) -> Registry:
        """The registry for ``output``; an empty one when there is none, for another folder
        or damaged (then the feeds published before are no longer tracked, and say so)."""
        resolved = str(output.resolve())
        path = state_dir / FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            registry = cls(
                resolved,
                [str(kind) for kind in data["formats"]],
                {
                    str(folder): Published(str(kind), str(name), emptied)
                    for folder, (kind, name, emptied) in data["feeds"].items()
                },
                True,
            )
            if data["format"] != FORMAT or not all(
                entry.emptied is None or type(entry.emptied) is int
                for entry in registry.feeds.values()
            ):
                raise ValueError("unknown format")
        except FileNotFoundError:
            return cls(resolved)
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            log.warning("%s: unreadable (%s); feeds published before are not tracked", path, exc)
            return cls(resolved)
        if data.get("output") != resolved:
            return cls(resolved)  # another output folder's feeds are none of this build's business
        return registry

    def save(self, state_dir: Path) -> None:
        data: dict[str, Any] = {
            "format": FORMAT,
            "output": self.output,
            "formats": self.formats,
            "feeds": {
                folder: [entry.kind, entry.name, entry.emptied]
                for folder, entry in sorted(self.feeds.items())
            },
        }
        text = json.dumps(data, indent=1, sort_keys=True) + "\n"
        state_dir.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=state_dir, prefix=f".{FILE}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(text)
            os.replace(temporary, state_dir / FILE)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def same_as(self, other: Registry) -> bool:
        return (self.output, self.formats, self.feeds) == (other.output, other.formats, other.feeds)


ATOM = "{http://www.w3.org/2005/Atom}"


def adopt(registry: Registry, output: Path) -> Registry:
    """The feeds an earlier build of ours left in ``output``, for a registry that was missing.

    A feed is ours when its generator is ``feeds``; its category or tag is the
    term of its entries whose slug is the folder's name (or the folder's name
    itself, when that is its own slug). A feed whose name cannot be told has no
    entries to retract and is left alone.
    """
    from feeds.output.feedwriter import FILE_NAMES, safe_slug

    feeds: dict[str, Published] = {}
    formats: set[str] = set()
    folders = [("site", output)]
    for kind in ("category", "tag"):
        try:
            folders += [(kind, path) for path in sorted((output / kind).iterdir()) if path.is_dir()]
        except OSError:
            continue
    for kind, folder in folders:
        relative = "" if kind == "site" else f"{kind}/{folder.name}"
        for file_kind, file_name in FILE_NAMES.items():
            if file_kind == "json":  # no generator in JSON Feed: ours beside an XML feed of ours
                if relative in feeds and (folder / file_name).is_file():
                    formats.add(file_kind)
                continue
            terms = our_feed_terms(folder / file_name)
            if terms is None:
                continue
            name = ""
            if kind != "site":
                candidates = [term for term in terms if safe_slug(term) == folder.name]
                if not candidates and safe_slug(folder.name) == folder.name:
                    candidates = [folder.name]
                if not candidates:
                    continue
                name = candidates[0]
            feeds.setdefault(relative, Published(kind, name))
            formats.add(file_kind)
    if feeds:
        log.info("adopted %d feed folder(s) an earlier build wrote into %s", len(feeds), output)
    kinds = [kind for kind in FILE_NAMES if kind in formats]
    return Registry(registry.output, kinds, feeds, False)


def our_feed_terms(path: Path) -> list[str] | None:
    """The category terms of a feed file that feeds wrote; None for anything else."""
    from lxml import etree

    if not path.is_file():
        return None
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.parse(str(path), parser).getroot()
    except (etree.XMLSyntaxError, OSError):
        return None
    generator = root.findtext(f"{ATOM}generator") or root.findtext("channel/generator")
    if (generator or "").strip() != "feeds":
        return None
    terms = [element.get("term", "") for element in root.iter(f"{ATOM}category")]
    terms += [element.text or "" for element in root.iterfind("channel/item/category")]
    return terms
