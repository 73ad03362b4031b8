"""A stopped or killed ``feeds build`` takes its worker processes with it.

The pool's processes (the forkserver, its workers and multiprocessing's
resource tracker) must not outlive the build, whether it is stopped with
SIGTERM (``timeout``, systemd) or killed with SIGKILL. The tests run the real
command on a site big enough to start the pool and watch the process tree
through /proc.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest

from feeds.output.parallel import worker_count
from tests.conftest import SiteMaker, feeds_args, post_text

pytestmark = [
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the tree from /proc"),
    pytest.mark.skipif(worker_count() < 2, reason="one core: a build starts no workers"),
]

# One category per post: more feeds than publish.py's min_items, so rendering uses the pool.
FEEDS = 300
WAIT = 10.0  # seconds a test waits for something to happen before it gives up


def stat(pid: int) -> tuple[int, str, str] | None:
    """(parent pid, state, start time) of a process, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), fields[0], fields[19]


def processes() -> dict[int, tuple[int, str, str]]:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (info := stat(int(entry))) is not None:
            found[int(entry)] = info
    return found


def tree(root: int) -> set[tuple[int, str]]:
    """Every descendant of ``root`` as (pid, start time), so a reused pid is not mistaken."""
    table = processes()
    found: set[int] = set()
    parents = {root}
    while parents:
        parents = {pid for pid, (ppid, _, _) in table.items() if ppid in parents} - found
        found |= parents
    return {(pid, table[pid][2]) for pid in found}


def alive(process: tuple[int, str]) -> bool:
    pid, started = process
    info = stat(pid)
    return info is not None and info[2] == started and info[1] != "Z"


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {WAIT:.0f}s for {what}")
        time.sleep(0.02)


@pytest.fixture
def big_site(tmp_path: Path) -> Path:
    site = SiteMaker(tmp_path / "site")
    for number in range(FEEDS):
        text = post_text(title=f"第{number}篇", categories=f"c{number}", body="正文。" * 100)
        site.post(f"2022-05-{1 + number % 28:02d}-p{number}.md", text)
    return site.root


@pytest.fixture
def with_workers(tmp_path: Path) -> Iterator:
    """Start a ``feeds`` command and return once its workers run: the process and its tree.

    Nothing any of them started survives the test, even a failing one.
    """
    started: list[tuple[subprocess.Popen, set[tuple[int, str]]]] = []

    def start(*args: object, session: bool = False) -> tuple[subprocess.Popen, set]:
        # stderr goes to a file: a pipe stays open as long as an orphaned worker holds it
        with (tmp_path / "stderr").open("w") as stderr:
            command = subprocess.Popen(feeds_args(*args), stderr=stderr, start_new_session=session)
        seen: set[tuple[int, str]] = set()
        started.append((command, seen))
        # the resource tracker, the forkserver and its two workers
        wait_for(lambda: len(seen.update(tree(command.pid)) or seen) >= 4, "the workers")
        return command, seen

    yield start
    for command, seen in started:
        command.kill()  # nothing happens if it has ended
        command.wait()
        for pid, _ in filter(alive, seen):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_sigterm_stops_the_build_and_its_workers(with_workers, big_site, tmp_path):
    build, workers = with_workers("build", "-q", "--site", big_site, "--output", tmp_path / "out")
    build.send_signal(signal.SIGTERM)
    assert build.wait(WAIT) == -signal.SIGTERM
    wait_for(lambda: not any(map(alive, workers)), "the workers to exit")
    assert (tmp_path / "stderr").read_text() == "error: stopped by SIGTERM\n"


def test_workers_exit_when_the_build_is_killed(with_workers, big_site, tmp_path):
    build, workers = with_workers("build", "-q", "--site", big_site, "--output", tmp_path / "out")
    build.kill()
    build.wait(WAIT)
    wait_for(lambda: not any(map(alive, workers)), "the workers to exit")


def test_a_scheduled_build_finishes_when_sigterm_reaches_the_whole_group(
    with_workers, big_site, tmp_path
):
    """systemd's stop signals every process of the service; the build still finishes."""
    config = tmp_path / "config.yaml"
    config.write_text(
        f"site_dir: {big_site}\noutput: {tmp_path / 'out'}\n"
        "schedule: {build_every: 3s, digest: false, watch: false}\n",
        encoding="utf-8",
    )
    schedule, workers = with_workers("schedule", "--config", config, session=True)
    os.killpg(schedule.pid, signal.SIGTERM)
    assert schedule.wait(WAIT) == 0
    log = (tmp_path / "stderr").read_text()
    lines = [
        line.split(" ", 3)[-1]
        for line in re.sub(r"started \S+, [0-9.]+s", "started <when>, <took>", log).splitlines()
    ]
    assert lines[-3:] == [
        "received SIGTERM; finishing the running job",
        "build: started <when>, <took>, 300 posts read, 0 skipped, 1205 files written, 0 unchanged",
        "stopped",
    ]
    wait_for(lambda: not any(map(alive, workers)), "the workers to exit")
