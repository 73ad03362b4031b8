"""Benchmark `feeds digest`: planning for many readers, and delivery over parallel connections.

Two shapes. ``--size issue`` (issue 12): 5,000 new posts in 2,000 categories,
100,000 subscribers each choosing 1 to 20 categories (popular ones more
often, Zipf), so nearly every reader's digest differs. ``--size small`` (the
first benchmark): 3,000 posts, 50 categories, 1,000 subscribers choosing 1 to
3 categories or all. Subscribers are seeded into the subscriber store in one
transaction (``SubscriberStore.add_many``), as a bulk import would.

Planning (read the store and the posts, group, render, inline) runs in its
own process, then records the plan in a copy of the store: wall times and
peak memory of its process tree, sampled from /proc as bench/run.py does.
Delivery sends a planned digest for ``--delivery-readers`` of them to an
aiosmtpd sink in its own process that waits ``--delay`` seconds before
answering each message (a relay's round trip), once per ``--connections``
value; beside it, the sink's ceiling: the same messages, built beforehand,
sent over as many plain smtplib connections. Several runs; medians.

    python bench/digest.py --size issue --runs 3 --connections 1,4,16
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
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
from run import measure  # noqa: E402

from feeds.config import load_settings  # noqa: E402
from feeds.newsletter import dispatch  # noqa: E402
from feeds.newsletter import parts as parts_module  # noqa: E402
from feeds.newsletter.subscribers import Origin, SubscriberStore  # noqa: E402
from feeds.newsletter.wire import Wire  # noqa: E402

NOW = datetime(2022, 3, 3, 0, 0, tzinfo=UTC)  # the corpus below spans 2022-03-02
SIZES = {  # posts, categories, subscribers, fewest and most categories a reader picks
    "small": (3000, 50, 1000, 1, 3),
    "issue": (5000, 2000, 100_000, 1, 20),
}


def make_site(work: Path, posts: int, categories: int) -> Path:
    site = work / "site"
    corpus.generate(site, posts, categories, 1, seed=7)
    # corpus dates start on 2022-01-01; move this one-day corpus to the day before NOW
    for path in (site / "_posts").iterdir():
        text = path.read_text(encoding="utf-8").replace("date: 2022-01-01", "date: 2022-03-02")
        path.write_text(text, encoding="utf-8")
    return site


def readers(names: list[str], count: int, fewest: int, most: int, everything: float):
    """(email, name, categories) for ``count`` readers; ``everything`` of them take all."""
    rng = random.Random(11)
    weights = [1 / rank for rank in range(1, len(names) + 1)]
    for number in range(count):
        chosen = None
        if rng.random() >= everything:
            chosen = sorted(set(rng.choices(names, weights, k=rng.randint(fewest, most))))
        yield f"reader{number}@example.com", None, chosen


def config_text(state: Path, port: int, connections: int) -> str:
    return (
        f"state_dir: {state}\n"
        "digest:\n"
        f"  templates_dir: {ROOT / 'templates'}\n"
        "  transport: smtp\n"
        f"  smtp: {{host: 127.0.0.1, port: {port}, security: none, connections: {connections}}}\n"
    )


def seed_store(state: Path, people) -> float:
    started = time.perf_counter()
    store = SubscriberStore(state)
    store.add_many(people, Origin("import"), NOW)
    store.close()
    return time.perf_counter() - started


def record(state: dispatch.State, plan: dispatch.Plan) -> None:
    """What send_digest records before the first message."""
    state.plan(
        key=plan.key,
        created_at=NOW,
        window=plan.window,
        posts=plan.posts,
        variants=list(plan.variants.values()),
        recipients=plan.recipients,
        parts=plan.parts,
    )


def plan_only(config: Path, site: Path, out: Path) -> None:
    """The child process: plan, then record the plan (a copy of the store), and say what it made."""
    runs = []
    original = parts_module.inline_css
    parts_module.inline_css = lambda html: runs.append(1) or original(html)
    settings = load_settings(config, site_dir=site)
    state = dispatch.State(settings.state_dir)
    started = time.perf_counter()
    plan = dispatch.make_plan(settings, state, now=NOW)
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    record(state, plan)
    recording = time.perf_counter() - started
    report = {
        "seconds": seconds,
        "recording": recording,
        "recipients": len(plan.recipients),
        "variants": len(plan.variants),
        "parts": len(plan.parts),
        "premailer runs": len(runs),
    }
    out.write_text(json.dumps(report), encoding="utf-8")


def sink(port: int, delay: float) -> None:
    """The child process: an SMTP server that accepts everything after ``delay`` seconds."""
    import asyncio

    from aiosmtpd.controller import Controller

    class Slow:
        async def handle_DATA(self, server, session, envelope):
            await asyncio.sleep(delay)
            return "250 OK"

    controller = Controller(Slow(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


def deliver_once(work: Path, site: Path, people: list, port: int, connections: int) -> float:
    """Messages per second sending one planned digest to ``people``."""
    state = work / f"state-{connections}"
    shutil.rmtree(state, ignore_errors=True)
    seed_store(state, people)
    config = work / f"config-{connections}.yaml"
    config.write_text(config_text(state, port, connections), encoding="utf-8")
    settings = load_settings(config, site_dir=site)
    store = dispatch.State(settings.state_dir)
    plan = dispatch.make_plan(settings, store, now=NOW)
    record(store, plan)
    store.close()
    started = time.perf_counter()
    report = dispatch.send_digest(settings, now=NOW)  # resumes the planned digest: delivery only
    seconds = time.perf_counter() - started
    assert report.sent == len(plan.recipients) and report.pending == 0, report.summary
    return report.sent / seconds


def sink_ceiling(
    work: Path, site: Path, people: list, port: int, connections: int
) -> tuple[float, int]:
    """Messages/s the sink takes when nothing is built, and the messages' median size.

    The very messages ``deliver_once`` sends (built beforehand), over as many
    plain smtplib connections: what the sink and the sockets allow on this
    machine, the ceiling for ``deliver_once``.
    """
    import smtplib
    import threading

    state = work / "state-ceiling"
    shutil.rmtree(state, ignore_errors=True)
    seed_store(state, people)
    config = work / "config-ceiling.yaml"
    config.write_text(config_text(state, port, 1), encoding="utf-8")
    settings = load_settings(config, site_dir=site)
    store = dispatch.State(settings.state_dir)
    plan = dispatch.make_plan(settings, store, now=NOW)
    store.close()
    wire = Wire(settings, NOW)
    messages = [
        (
            recipient.email,
            wire.message(
                parts_module.whole(plan.variants[recipient.variant], plan.parts),
                email=recipient.email,
                name=recipient.name,
                message_id=recipient.message_id,
                date=NOW,
            ),
        )
        for recipient in plan.recipients
    ]
    left = iter(messages)
    lock = threading.Lock()

    def send_all() -> None:
        client = smtplib.SMTP("127.0.0.1", port)
        while True:
            with lock:
                message = next(left, None)
            if message is None:
                break
            client.sendmail("digest@example.com", [message[0]], message[1])
        client.quit()

    started = time.perf_counter()
    threads = [threading.Thread(target=send_all) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rate = len(messages) / (time.perf_counter() - started)
    return rate, int(statistics.median(len(data) for _, data in messages))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="issue")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--connections", default="1,4,16", help="values to compare, e.g. 1,4")
    parser.add_argument("--delay", type=float, default=0.02, help="the sink's wait per message")
    parser.add_argument("--delivery-readers", type=int, default=3000)
    parser.add_argument("--plan-only", nargs=3, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--sink", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plan_only:
        return plan_only(*args.plan_only)
    if args.sink:
        return sink(int(args.sink[0]), float(args.sink[1]))
    posts, categories, subscribers, fewest, most = SIZES[args.size]
    everything = 0.3 if args.size == "small" else 0.0
    work = Path(tempfile.mkdtemp(prefix="feeds-digest-bench-"))
    port = corpus_free_port()
    server = subprocess.Popen([sys.executable, __file__, "--sink", str(port), str(args.delay)])
    try:
        site = make_site(work, posts, categories)
        names = category_names(site)
        everyone = list(readers(names, subscribers, fewest, most, everything))
        seeded = work / "seeded"
        seconds = seed_store(seeded, everyone)
        print(f"{posts:,} posts, {categories:,} categories, {subscribers:,} subscribers")
        print(f"load average at the start (1, 5, 15 min): {os.getloadavg()}")
        print(f"| seeding the store (add_many, one transaction) | {seconds:.1f} s |")
        plans = []
        for run in range(args.runs):
            state = work / f"plan-{run}"
            shutil.copytree(seeded, state)
            config = work / "config-plan.yaml"
            config.write_text(config_text(state, port, 1), encoding="utf-8")
            out = work / "plan.json"
            command = [sys.executable, __file__, "--plan-only", str(config), str(site), str(out)]
            result = measure(command)
            plans.append((result, json.loads(out.read_text(encoding="utf-8"))))
            shutil.rmtree(state)
        made = plans[0][1]
        print(f"| recipients / distinct digests | {made['recipients']:,} / {made['variants']:,} |")
        print(f"| stored parts / premailer runs | {made['parts']:,} / {made['premailer runs']} |")
        inside = statistics.median(p[1]["seconds"] for p in plans)
        process = statistics.median(p[0].seconds for p in plans)
        peak = max(p[0].peak_mb for p in plans)
        print(f"| planning (make_plan), median of {args.runs} | {inside:.1f} s |")
        recording = statistics.median(p[1]["recording"] for p in plans)
        print(f"| recording the plan (State.plan, one transaction), median | {recording:.1f} s |")
        print(f"| planning process start to end (with recording), median | {process:.1f} s |")
        print(f"| planning peak memory (process tree) | {peak:.0f} MB |")
        wait_for_port(port)
        sample = everyone[: args.delivery_readers]
        for connections in [int(c) for c in args.connections.split(",")]:
            rates = [deliver_once(work, site, sample, port, connections) for _ in range(args.runs)]
            print(
                f"| messages/s, {connections} connection(s), {args.delay * 1000:.0f} ms sink, "
                f"{len(sample):,} messages | {statistics.median(rates):.0f} |"
            )
            ceilings = [
                sink_ceiling(work, site, sample, port, connections) for _ in range(args.runs)
            ]
            print(
                f"| the sink's ceiling, {connections} connection(s): the same messages "
                f"prebuilt (median {ceilings[0][1]:,} bytes) | "
                f"{statistics.median(c[0] for c in ceilings):.0f} |"
            )
        print(f"| load average at the end (1, 5, 15 min) | {os.getloadavg()} |")
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)


def corpus_free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int) -> None:
    import socket

    for _ in range(200):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("the SMTP sink did not start")


def category_names(site: Path) -> list[str]:
    counts: dict[str, int] = {}
    for path in sorted((site / "_posts").iterdir()):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("categories: "):
                name = line.split(": ", 1)[1]
                counts[name] = counts.get(name, 0) + 1
    return sorted(counts, key=lambda name: -counts[name])


if __name__ == "__main__":
    main()
