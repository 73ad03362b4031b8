"""Reading a post takes shortcuts, and each gives exactly what the plain rule gives (hypothesis).

A regular file is opened without first asking whether it is a symbolic link.
The plain rules the shortcuts replaced are kept here as the reference, and
every kind of file system entry is run through both.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from feeds.safefile import Unreadable, read_regular
from feeds.site.collect import BadPost, _link_target, read_bytes
from tests.conftest import examples


def outcome(function, *args) -> Any:
    """What a call gives, or the exception it raises, as a value two calls can be compared by."""
    try:
        return function(*args)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


# --- opening a post file -------------------------------------------------------------------------


def read_bytes_asking_first(path: Path, site_dir: Path | None, max_bytes: int) -> bytes:
    """The plain rule: ask whether the path is a link, follow it if allowed, then read."""
    target = _link_target(path, site_dir) if path.is_symlink() else path
    try:
        return read_regular(target, max_bytes, "max_post_bytes")
    except Unreadable as exc:
        raise BadPost(str(exc)) from None


def make_entry(site: Path, kind: str, size: int) -> Path:
    """One entry of the kind asked for, at site/_posts/<kind>.md (or below it)."""
    posts, drafts = site / "_posts", site / "drafts"
    posts.mkdir(parents=True)
    drafts.mkdir()
    (drafts / "inside.md").write_bytes(b"i" * size)
    (site.parent / "outside.md").write_bytes(b"o" * size)
    entry = posts / f"{kind}.md"
    if kind == "regular":
        entry.write_bytes("字".encode() * (size // 3) + b"x" * (size % 3))
    elif kind == "link inside":
        entry.symlink_to("../drafts/inside.md")
    elif kind == "link to a link inside":
        (posts / "hop.md").symlink_to(drafts / "inside.md")
        entry.symlink_to("hop.md")
    elif kind == "link outside":
        entry.symlink_to(site.parent / "outside.md")
    elif kind == "link to a device":
        entry.symlink_to("/dev/null")
    elif kind == "dangling link":
        entry.symlink_to("nowhere.md")
    elif kind == "link to itself":
        entry.symlink_to(entry.name)
    elif kind == "link to a folder":
        entry.symlink_to("../drafts")
    elif kind == "FIFO":
        os.mkfifo(entry)
    elif kind == "link to a FIFO":
        os.mkfifo(drafts / "fifo")
        entry.symlink_to("../drafts/fifo")
    elif kind == "folder":
        entry.mkdir()
    elif kind == "under a file":  # a path through a file, as if it were a folder
        entry.write_bytes(b"x")
        entry = entry / "x.md"
    elif kind == "through a linked folder":
        (posts / "linked").symlink_to("../drafts")
        entry = posts / "linked" / "inside.md"
    return entry  # "missing": nothing made


ENTRY_KINDS = [
    "regular",
    "link inside",
    "link to a link inside",
    "link outside",
    "link to a device",
    "dangling link",
    "link to itself",
    "link to a folder",
    "FIFO",
    "link to a FIFO",
    "folder",
    "under a file",
    "through a linked folder",
    "missing",
]


@hypothesis_settings(max_examples=examples(120))
@given(
    kind=st.sampled_from(ENTRY_KINDS),
    size=st.integers(0, 300),
    max_bytes=st.integers(0, 300),
    in_site=st.booleans(),
)
@example(kind="regular", size=10, max_bytes=9, in_site=True)
@example(kind="link outside", size=1, max_bytes=9, in_site=False)
def test_reading_a_post_file_equals_asking_whether_it_is_a_link_first(
    kind, size, max_bytes, in_site
):
    with tempfile.TemporaryDirectory() as folder:
        site = Path(folder) / "site"
        entry = make_entry(site, kind, size)
        site_dir = site if in_site else None  # None: read_body's way, any link followed
        assert outcome(read_bytes, entry, site_dir, max_bytes) == outcome(
            read_bytes_asking_first, entry, site_dir, max_bytes
        )
