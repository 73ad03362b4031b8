"""The posts scanned while the settings load: taken only when it is the scan the build would take."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from feeds.cli import main
from feeds.config import load_settings
from feeds.output.build import build
from feeds.output.cache import FeedIndex
from feeds.site import scan as scan_module
from feeds.site.prescan import Prescan, guess_folders
from feeds.site.scan import scan
from tests.conftest import NOW, child_processes, feeds_args, wait_until_ended


def started(config_path: Path | None, site_dir: Path | None) -> Prescan:
    prescan = Prescan.start(config_path, site_dir)
    assert prescan is not None, f"only a process without threads forks: {threading.enumerate()}"
    return prescan


@pytest.mark.parametrize(
    ("config_at", "config", "site_option"),
    [
        (None, None, "site"),
        ("config.yaml", "site_dir: site\nstate_dir: state\n", None),
        ("conf/feeds.yaml", "site_dir: ../site\n", None),
        ("conf/feeds.yaml", "site_dir: {root}/site\nstate_dir: {root}/state\n", None),
        ("config.yaml", "site_dir: nowhere\nstate_dir: ./s\n", "site"),
        ("site/config.yaml", "feeds:\n  limit: 5\n", None),
        ("config.yaml", "output: out\n", "site"),
    ],
)
def test_the_folders_guessed_are_those_the_settings_name(
    tmp_path, site, config_at, config, site_option
):
    config_path = None
    if config_at is not None:
        config_path = tmp_path / config_at
        config_path.parent.mkdir(parents=True, exist_ok=True)
        config_path.write_text(config.format(root=tmp_path), encoding="utf-8")
    explicit = config_path if config_at != "config.yaml" else None  # ./config.yaml is found
    site_dir = Path(site_option) if site_option else None
    settings = load_settings(explicit, site_dir=site_dir)
    assert guess_folders(explicit, site_dir) == (settings.site_dir, settings.state_dir)


@pytest.mark.parametrize(
    "config", ["site_dir: [a, b]\n", "- a list\n", "site_dir: 'unclosed\n", "site_dir: 5\n"]
)
def test_a_config_it_cannot_read_gives_no_guess(tmp_path, config):
    (tmp_path / "config.yaml").write_text(config, encoding="utf-8")
    assert guess_folders(None, None) is None


def test_a_missing_config_named_on_the_command_line_gives_no_guess(tmp_path):
    assert guess_folders(tmp_path / "missing.yaml", Path("site")) is None


def test_the_scan_taken_is_the_scan_of_the_posts(site, make_settings):
    for day in range(1, 20):
        site.post(f"2022-05-{day:02d}-post.md", title=f"第{day}篇")
    settings = make_settings(site.root)
    prescan = started(None, site.root)
    assert prescan.take(settings.posts_dir, settings.state_dir) == scan(settings.posts_dir)


def test_a_scan_of_another_folder_is_not_taken(site, make_settings, tmp_path):
    site.post("2022-05-24-a.md")
    settings = make_settings(site.root)
    before = child_processes()
    prescan = started(None, tmp_path / "elsewhere")
    assert prescan.take(settings.posts_dir, settings.state_dir) is None
    assert child_processes() == before


def scanned_before_post_b(site, make_settings):
    """A site built once, an early scan of it that has ended, then post b (乙) added."""
    site.post("2022-05-24-a.md", title="甲")
    settings = make_settings(site.root)
    build(settings, now=NOW)
    prescan = started(None, site.root)
    wait_until_ended(prescan.pid, within=30)  # a zombie: it sent all it had
    site.post("2022-05-25-b.md", title="乙")
    return settings, prescan


def test_a_build_saved_since_the_scan_means_scanning_again(site, make_settings, tmp_path):
    settings, prescan = scanned_before_post_b(site, make_settings)
    build(settings, now=NOW)  # as the scheduler's build would: it publishes b and saves
    build(settings, now=NOW, prescan=prescan)
    atom = (tmp_path / "out" / "category" / "kejiribao" / "atom.xml").read_text(encoding="utf-8")
    assert "乙" in atom


def test_a_build_stopped_after_it_published_means_scanning_again(
    site, make_settings, tmp_path, monkeypatch
):
    settings, prescan = scanned_before_post_b(site, make_settings)
    atom = tmp_path / "out" / "category" / "kejiribao" / "atom.xml"

    def killed(index: FeedIndex, cache_dir: Path) -> None:
        raise KeyboardInterrupt("killed before it saved the feed index")

    with monkeypatch.context() as patch:  # the scheduler's build publishes b, then is stopped
        patch.setattr(FeedIndex, "save", killed)
        with pytest.raises(KeyboardInterrupt):
            build(settings, now=NOW)
    assert "乙" in atom.read_text(encoding="utf-8")
    build(settings, now=NOW, prescan=prescan)
    assert "乙" in atom.read_text(encoding="utf-8")


def test_a_post_added_after_the_scan_is_published_by_the_next_build(site, make_settings):
    settings, prescan = scanned_before_post_b(site, make_settings)
    assert build(settings, now=NOW, prescan=prescan).mode == "unchanged"
    report = build(settings, now=NOW)
    assert (report.mode, report.posts) == ("incremental", 2)


def test_the_build_keeps_its_signal_mask(site, make_settings):
    """SIGINT and SIGTERM are held only over the fork itself, or Ctrl-C would be lost."""
    site.post("2022-05-24-a.md")
    settings = make_settings(site.root)
    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    prescan = started(None, site.root)
    after = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    assert (after, {signal.SIGINT, signal.SIGTERM} & after) == (before, set())
    prescan.take(settings.posts_dir, settings.state_dir)


def test_a_process_with_threads_does_not_fork(site):
    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    thread.start()
    try:
        assert Prescan.start(None, site.root) is None
    finally:
        release.set()
        thread.join()


def test_a_fork_refused_means_the_build_scans_for_itself(site, monkeypatch):
    def refused() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", refused)
    assert Prescan.start(None, site.root) is None
    result = CliRunner().invoke(main, ["build", "--site", str(site.root)])
    assert result.exit_code == 0, result.output


def test_a_config_error_leaves_no_child_behind(site, tmp_path):
    (tmp_path / "config.yaml").write_text("feeds:\n  limit: 0\n", encoding="utf-8")
    before = child_processes()
    result = CliRunner().invoke(main, ["build", "--site", str(site.root)])
    assert result.exit_code == 2
    assert child_processes() == before


def test_feeds_build_takes_the_scan_made_while_its_settings_loaded(site, tmp_path):
    site.post("2022-05-24-a.md", title="甲")
    command = feeds_args("--debug", "build", "--site", site.root, "--output", tmp_path / "out")
    took = f"took the scan of {site.posts} made while the settings loaded"
    first = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    assert took not in first.stderr  # it made the state folder the child found missing
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    assert took in done.stderr
    assert "0 files written" in done.stdout


def test_closing_stops_the_process_scanning_half_a_large_folder_too(site, tmp_path, monkeypatch):
    for day in range(1, 9):
        site.post(f"2022-05-{day:02d}-post.md")
    monkeypatch.setattr(scan_module, "SPLIT_AT", 2)
    pid_file = tmp_path / "half.pid"

    def never_hands_over(writer: int, value: object) -> None:  # in the grandchild
        pid_file.write_text(str(os.getpid()), encoding="ascii")
        time.sleep(60)

    monkeypatch.setattr(scan_module, "send", never_hands_over)
    prescan = started(None, site.root)
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text(encoding="ascii"):
        assert time.monotonic() < deadline, "no half was statted elsewhere"
        time.sleep(0.01)
    prescan.close()
    wait_until_ended(int(pid_file.read_text(encoding="ascii")))


def test_a_build_killed_outright_leaves_no_scan_running(site):
    started_by_build = f"""
import time
from pathlib import Path

from feeds.site import prescan
from feeds.site.handoff import receive

def slow_scan(posts_dir, processes):
    time.sleep(60)

prescan.scan = slow_scan
child = prescan.Prescan.start(None, Path({str(site.root)!r}))
receive(child.reader)  # the folders: it is scanning now
print(child.pid, flush=True)
time.sleep(60)
"""
    build = subprocess.Popen(
        [sys.executable, "-c", started_by_build], stdout=subprocess.PIPE, text=True
    )
    try:
        child = int(build.stdout.readline())
    finally:
        build.send_signal(signal.SIGKILL)
        build.wait()
        build.stdout.close()
    wait_until_ended(child)
