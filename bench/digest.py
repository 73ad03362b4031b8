"""Benchmark `feeds digest`: 3,000 posts in 50 categories to 1,000 subscribers over local SMTP.

Subscribers choose like readers do: some take every category, the rest one
to three categories, popular ones more often (Zipf). Messages go to an
aiosmtpd sink on 127.0.0.1, in its own process. Several runs from an empty state; medians.
Reports messages per second, and the time spent planning (reading and
rendering posts), in Jinja rendering, in premailer and in delivery.

    python bench/digest.py --runs 3
"""

from __future__ import annotations

import argparse
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import corpus  # noqa: E402

from feeds.config import load_settings  # noqa: E402
from feeds.newsletter import digest as digest_module  # noqa: E402
from feeds.newsletter import dispatch  # noqa: E402

NOW = datetime(2022, 3, 3, 0, 0, tzinfo=UTC)  # the corpus below spans 2022-03-02
POSTS, CATEGORIES, SUBSCRIBERS = 3000, 50, 1000


def wait_for_port(port: int) -> None:
    for _ in range(200):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("the SMTP sink did not start")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_site(work: Path) -> Path:
    site = work / "site"
    corpus.generate(site, POSTS, CATEGORIES, 1, seed=7)
    # corpus dates start on 2022-01-01; move this one-day corpus to the day before NOW
    for path in (site / "_posts").iterdir():
        text = path.read_text(encoding="utf-8").replace("date: 2022-01-01", "date: 2022-03-02")
        path.write_text(text, encoding="utf-8")
    return site


def subscribers(categories: list[str]) -> str:
    rng = random.Random(11)
    weights = [1 / rank for rank in range(1, len(categories) + 1)]
    lines = []
    for number in range(SUBSCRIBERS):
        if rng.random() < 0.3:
            chosen = "all"
        else:
            picks = rng.choices(categories, weights, k=rng.randint(1, 3))
            chosen = "[" + ", ".join(sorted(set(picks))) + "]"
        lines.append(f"    - {{email: reader{number}@example.com, categories: {chosen}}}\n")
    return "".join(lines)


def category_names(site: Path) -> list[str]:
    names = {}
    for path in sorted((site / "_posts").iterdir()):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("categories: "):
                name = line.split(": ", 1)[1]
                names[name] = names.get(name, 0) + 1
    return sorted(names, key=lambda name: -names[name])


class Timer:
    """Adds up the time spent in one function of the digest module."""

    def __init__(self, name: str):
        self.name = name
        self.original = getattr(digest_module, name) if hasattr(digest_module, name) else None
        self.seconds = 0.0
        self.calls = 0

    def __enter__(self):
        original = self.original

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started
                self.calls += 1

        setattr(digest_module, self.name, timed)
        return self

    def __exit__(self, *exc):
        setattr(digest_module, self.name, self.original)


def one_run(work: Path, site: Path, port: int, people: str) -> dict[str, float]:
    state = work / "state"
    shutil.rmtree(state, ignore_errors=True)
    config = work / "config.yaml"
    config.write_text(
        f"state_dir: {state}\n"
        "digest:\n"
        f"  templates_dir: {ROOT / 'templates'}\n"
        "  transport: smtp\n"
        f"  smtp: {{host: 127.0.0.1, port: {port}, security: none}}\n"
        f"  subscribers:\n{people}",
        encoding="utf-8",
    )
    settings = load_settings(config, site_dir=site)
    with Timer("inline_css") as premailer:
        started = time.perf_counter()
        report = dispatch.send_digest(settings, now=NOW)
        total = time.perf_counter() - started
    return {
        "total": total,
        "premailer": premailer.seconds,
        "premailer runs": premailer.calls,
        "sent": report.sent,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="feeds-digest-bench-"))
    site = make_site(work)
    people = subscribers(category_names(site))
    port = free_port()
    sink = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{port}",
            "-c",
            "aiosmtpd.handlers.Sink",
        ],
    )
    wait_for_port(port)
    try:
        plan_times = []
        runs = [one_run(work, site, port, people) for _ in range(args.runs)]
        settings = load_settings(work / "config.yaml", site_dir=site)
        for _ in range(args.runs):
            shutil.rmtree(settings.state_dir, ignore_errors=True)
            state = dispatch.State(settings.state_dir)
            started = time.perf_counter()
            dispatch.make_plan(settings, state, now=NOW)
            plan_times.append(time.perf_counter() - started)
            state.close()
    finally:
        sink.terminate()
        sink.wait()
        shutil.rmtree(work, ignore_errors=True)
    total = statistics.median(r["total"] for r in runs)
    premailer = statistics.median(r["premailer"] for r in runs)
    planning = statistics.median(plan_times)
    sent = runs[0]["sent"]
    print(
        f"{POSTS:,} posts, {CATEGORIES} categories, {SUBSCRIBERS:,} subscribers, {args.runs} runs"
    )
    print(f"| messages sent | {sent} |")
    print(f"| distinct digests (premailer runs) | {runs[0]['premailer runs']} |")
    print(f"| whole run, median | {total:.2f} s |")
    print(f"| messages per second (whole run) | {sent / total:.0f} |")
    print(f"| planning: read, render, Jinja, premailer | {planning:.2f} s |")
    print(f"| of which premailer | {premailer:.2f} s |")
    delivery = total - planning
    print(f"| delivery over SMTP | {delivery:.2f} s ({sent / delivery:.0f} messages/s) |")


if __name__ == "__main__":
    main()
