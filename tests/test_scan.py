"""The scan of ``_posts/``: what a warm build compares to know what changed since the last one."""

from __future__ import annotations

import os
import signal
from array import array
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feeds.site import scan as scan_module
from feeds.site.scan import Listed, Scan, decode_scan, encode_scan, scan
from tests.conftest import child_processes


@pytest.fixture
def posts(tmp_path: Path) -> Path:
    folder = tmp_path / "_posts"
    for name in ("2022-05-01-a.md", "2022-05-02-b.md", "2022-05-03-c.md", "sub/2022-05-04-d.md"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(f"---\ntitle: {name}\n---\n", encoding="utf-8")
    (folder / ".hidden.md").write_text("x", encoding="utf-8")
    return folder


def relative(posts: Path, paths: list[str]) -> list[str]:
    return [str(Path(path).relative_to(posts)) for path in paths]


def test_the_stable_order_is_each_folders_files_by_name_then_its_subfolders(posts):
    (posts / "2022-06-01-z.md").write_text("z", encoding="utf-8")
    assert scan(posts).names == [
        "2022-05-01-a.md",
        "2022-05-02-b.md",
        "2022-05-03-c.md",
        "2022-06-01-z.md",
        "sub/2022-05-04-d.md",
    ]


def test_an_unchanged_folder_has_the_same_fingerprint_and_no_changes(posts):
    before, now = scan(posts), scan(posts)
    assert now.fingerprint == before.fingerprint
    assert now.changed_since(before) == ([], [])


def test_added_touched_and_removed_files_are_told_apart(posts):
    before = scan(posts)
    (posts / "2022-05-05-new.md").write_text("new", encoding="utf-8")
    (posts / "sub" / "2022-05-06-new.md").write_text("new", encoding="utf-8")
    (posts / "2022-05-02-b.md").write_text("edited", encoding="utf-8")
    (posts / "2022-05-03-c.md").unlink()
    now = scan(posts)
    assert now.fingerprint != before.fingerprint
    fresh, gone = now.changed_since(before)
    assert relative(posts, fresh) == [
        "2022-05-02-b.md",
        "2022-05-05-new.md",
        "sub/2022-05-06-new.md",
    ]
    assert sorted(relative(posts, gone)) == ["2022-05-02-b.md", "2022-05-03-c.md"]


def test_a_same_size_edit_with_its_mtime_put_back_is_seen(posts):
    path = posts / "2022-05-01-a.md"
    status = path.stat()
    before = scan(posts)
    path.write_text(path.read_text(encoding="utf-8").upper(), encoding="utf-8")
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert path.stat().st_size == status.st_size
    now = scan(posts)
    assert now.fingerprint != before.fingerprint
    assert relative(posts, now.changed_since(before)[0]) == ["2022-05-01-a.md"]


def test_a_removed_subfolder_takes_its_files_with_it(posts):
    before = scan(posts)
    (posts / "sub" / "2022-05-04-d.md").unlink()
    (posts / "sub").rmdir()
    assert relative(posts, scan(posts).changed_since(before)[1]) == ["sub/2022-05-04-d.md"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may read anything")
def test_an_unreadable_subfolder_is_listed_as_one_entry(posts):
    (posts / "sub").chmod(0)
    try:
        scanned = scan(posts)
        assert "sub" in scanned.names
        assert scanned.get(f"{posts}/sub") == (0, 0, 0)
    finally:
        (posts / "sub").chmod(0o755)


def test_one_paths_stamp_is_what_all_stamps_say(posts):
    (posts / "sub" / "deeper").mkdir()
    (posts / "sub" / "deeper" / "2022-05-07-e.md").write_text("e", encoding="utf-8")
    scanned = scan(posts)
    stamps = scanned.stamps()
    assert len(stamps) == 5
    for path, stamp in stamps.items():
        assert scanned.get(path) == stamp
    assert scanned.get(f"{posts}/missing.md") is None
    assert scanned.get("/elsewhere/2022-05-01-a.md") is None


def test_a_saved_scan_reads_back_the_same(posts):
    scanned = scan(posts)
    again = decode_scan(encode_scan(scanned))
    assert again == scanned
    assert again.fingerprint == scanned.fingerprint
    assert again.stamps() == scanned.stamps()


# --- two processes: the same scan, whatever the folder holds --------------------------------


@pytest.fixture
def split_small(monkeypatch):
    """Folders of a few names statted in two, as folders of thousands are."""
    monkeypatch.setattr(scan_module, "SPLIT_AT", 2)


def test_a_scan_in_two_processes_is_the_scan_in_one(posts, split_small):
    for number in range(40):
        (posts / f"2022-07-{number:02d}-n.md").write_text("n" * number, encoding="utf-8")
    (posts / "2022-07-50-link.md").symlink_to(posts / "2022-05-01-a.md")
    (posts / "2022-07-51-dangling.md").symlink_to(posts / "missing.md")
    (posts / "2022-07-52-folder-link").symlink_to(posts / "sub")
    (posts / "zz-folder").mkdir()
    (posts / "zz-folder" / "2022-07-53-deep.md").write_text("deep", encoding="utf-8")
    os.mkfifo(posts / "2022-07-54-fifo.md")
    alone, shared = scan(posts), scan(posts, processes=2)
    assert shared == alone
    assert shared.fingerprint == alone.fingerprint
    assert [folder.names for folder in shared.folders] == [f.names for f in alone.folders]


def test_a_half_that_does_not_come_back_is_statted_here(posts, split_small, monkeypatch):
    def child_fails(writer: int, value: object) -> None:
        raise OSError("the child could not write")

    monkeypatch.setattr(scan_module, "send", child_fails)
    assert scan(posts, processes=2) == scan(posts)


def test_a_fork_refused_means_statting_here(posts, split_small, monkeypatch):
    def refused() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    before = sorted(os.listdir("/proc/self/fd")), signal.pthread_sigmask(signal.SIG_BLOCK, [])
    monkeypatch.setattr(os, "fork", refused)
    assert scan(posts, processes=2) == scan(posts)
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    assert (sorted(os.listdir("/proc/self/fd")), mask) == before  # the pipe is closed again
    assert not {signal.SIGINT, signal.SIGTERM} & mask  # and no signal is left held


def test_no_child_is_left_behind(posts, split_small):
    before = child_processes()
    scan(posts, processes=2)
    assert child_processes() == before


# --- changed_since against the definition, for any edit of a large folder ---------------------


def listing(names: list[str], stamps: dict[str, int]) -> Scan:
    columns = [array("q", [stamps[name] for name in names]) for _ in range(3)]
    return Scan("/posts", [Listed("", "", names, *columns)])


@given(
    st.lists(st.integers(0, 400), min_size=0, max_size=300, unique=True),
    st.lists(
        st.tuples(st.sampled_from(["add", "remove", "touch", "move"]), st.integers(0, 10**6)),
        max_size=150,
    ),
)
def test_changes_are_found_however_a_folder_was_edited(numbers, edits):
    before = [f"{n:04d}.md" for n in numbers]
    stamps = dict.fromkeys(before, 1)
    now = list(before)
    new_stamps = dict(stamps)
    for kind, seed in edits:
        if kind == "add":
            name = f"new{seed}.md"
            if name not in new_stamps:
                now.insert(seed % (len(now) + 1), name)
                new_stamps[name] = 1
        elif now:
            name = now[seed % len(now)]
            if kind == "remove":
                now.remove(name)
                del new_stamps[name]
            elif kind == "touch":
                new_stamps[name] += 1
            else:
                now.remove(name)
                now.insert(seed // 7 % (len(now) + 1), name)
    fresh, gone = listing(now, new_stamps).changed_since(listing(before, stamps))
    fresh = {path.removeprefix("/posts/") for path in fresh}
    gone = {path.removeprefix("/posts/") for path in gone}
    added = set(now) - set(before)
    removed = set(before) - set(now)
    touched = {name for name in set(now) & set(before) if new_stamps[name] != stamps[name]}
    assert added | touched <= fresh <= set(now)
    assert touched | removed <= gone <= set(before)
    assert fresh & set(before) == gone & set(now)  # what is read again is what is taken back
    if all(kind != "move" for kind, _ in edits):  # a name listed elsewhere may count as changed
        assert (fresh, gone) == (added | touched, touched | removed)
