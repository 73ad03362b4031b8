"""Benchmark `feeds serve`: one-click unsubscribes and subscribe page views per second, p99.

A real `feeds serve` child process on 127.0.0.1 (access log on, as in
production), a site of 6,000 posts in about 2,000 categories with Chinese
display names (so the subscribe page carries the real site's ~2,000
checkboxes), and a store of subscribers
created beforehand. The load comes from a lean asyncio HTTP/1.1 client with
keep-alive connections in this process (httpx would cost more CPU than the
server). Every one-click request unsubscribes a different, active subscriber,
as a burst from a mail provider right after a send does. Several runs; medians.

    python bench/serve.py --runs 3 --requests 3000 --connections 16
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import corpus  # noqa: E402

from feeds.newsletter.subscribers import Origin, SubscriberStore  # noqa: E402
from feeds.newsletter.tokens import Tokens  # noqa: E402

SECRET = "bench-secret-long-enough-for-feeds-serve"
CATEGORIES = 2000
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_setup(work: Path, port: int, subscribers: int) -> tuple[Path, list[str]]:
    """The site, config.yaml, and one unsubscribe token per active subscriber."""
    corpus.generate(work / "site", 4000, CATEGORIES, 30, seed=7)
    rng = random.Random(7)
    names = sorted({corpus.pinyin_like(rng, index) for index in range(CATEGORIES)})
    for number, name in enumerate(names):  # every category has at least one post
        (work / "site" / "_posts" / f"2022-01-01-c{number}.md").write_text(
            f'---\ntitle: "栏目 {number}"\ndate: 2022-01-01 08:00:00 +0800\n'
            f"categories: {name}\n---\n\n正文。\n",
            encoding="utf-8",
        )
    titles = "".join(f"    {name}: {{title: 栏目{number}}}\n" for number, name in enumerate(names))
    config = work / "config.yaml"
    config.write_text(
        f"site_dir: site\nstate_dir: state\nfeeds:\n  categories:\n{titles}"
        f"web:\n  url: http://127.0.0.1:{port}/newsletter\n  subscribe_limit: 1000000\n",
        encoding="utf-8",
    )
    store = SubscriberStore(work / "state")
    tokens = Tokens([SECRET])
    made = []
    for number in range(subscribers):
        subscriber, _ = store.add(f"reader{number}@example.org", None, None, Origin("cli"), NOW)
        made.append(tokens.make("unsubscribe", subscriber))
    store.close()
    return config, made


def start_server(config: Path, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "FEEDS_SECRET": SECRET}
    with open(log, "wb") as stream:
        process = subprocess.Popen(
            [sys.executable, "-m", "feeds", "serve", "--config", str(config), "--port", str(port)],
            stdout=stream,
            stderr=subprocess.STDOUT,
            env=env,
        )
    for _ in range(1200):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return process
        if process.poll() is not None:
            raise RuntimeError(log.read_text())
        time.sleep(0.05)
    raise RuntimeError("feeds serve did not start")


async def worker(port: int, requests: list[bytes], latencies: list[float], statuses: list[int]):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for request in requests:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            statuses.append(int(head.split(b" ", 2)[1]))
    finally:
        writer.close()


async def load(port: int, requests: list[bytes], connections: int) -> tuple[float, list[float]]:
    """Send the requests over ``connections`` keep-alive connections; seconds and latencies."""
    latencies: list[float] = []
    statuses: list[int] = []
    shares = [requests[i::connections] for i in range(connections)]
    started = time.perf_counter()
    await asyncio.gather(*(worker(port, share, latencies, statuses) for share in shares))
    elapsed = time.perf_counter() - started
    bad = [s for s in statuses if s != 200]
    if bad:
        raise RuntimeError(f"{len(bad)} answers were not 200: {sorted(set(bad))}")
    return elapsed, latencies


def one_click(token: str) -> bytes:
    body = b"List-Unsubscribe=One-Click"
    return (
        f"POST /newsletter/unsubscribe/{token} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


PAGE_VIEW = b"GET /newsletter/subscribe HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def p99(latencies: list[float]) -> float:
    return statistics.quantiles(latencies, n=100)[98] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=3000, help="requests per run and kind")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="feeds-bench-serve-"))
    port = free_port()
    try:
        print(f"preparing {args.runs * args.requests} subscribers ...", file=sys.stderr)
        config, tokens = make_setup(work, port, args.runs * args.requests)
        server = start_server(config, port, work / "serve.log")
        try:
            asyncio.run(load(port, [PAGE_VIEW] * 50, 2))  # warm up
            page = urllib.request.urlopen(f"http://127.0.0.1:{port}/newsletter/subscribe").read()
            boxes = page.count(b'type="checkbox"')
            results: dict[str, list[tuple[float, float]]] = {"one-click": [], "page": []}
            for run in range(args.runs):
                batch = tokens[run * args.requests : (run + 1) * args.requests]
                elapsed, latencies = asyncio.run(
                    load(port, [one_click(t) for t in batch], args.connections)
                )
                results["one-click"].append((len(batch) / elapsed, p99(latencies)))
                elapsed, latencies = asyncio.run(
                    load(port, [PAGE_VIEW] * args.requests, args.connections)
                )
                results["page"].append((args.requests / elapsed, p99(latencies)))
                print(
                    f"run {run + 1}: one-click {results['one-click'][-1][0]:.0f}/s "
                    f"p99 {results['one-click'][-1][1]:.1f} ms; subscribe page "
                    f"{results['page'][-1][0]:.0f}/s p99 {results['page'][-1][1]:.1f} ms",
                    file=sys.stderr,
                )
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
        print(
            f"{args.runs} runs of {args.requests} requests over {args.connections} connections "
            f"(medians); the subscribe page is {len(page) // 1024} KB with {boxes} categories:"
        )
        for kind, label in (
            ("one-click", "one-click unsubscribes"),
            ("page", "subscribe page views"),
        ):
            rates = [rate for rate, _ in results[kind]]
            tails = [tail for _, tail in results[kind]]
            print(
                f"  {label:<24} {statistics.median(rates):8.0f}/s   "
                f"p99 {statistics.median(tails):6.1f} ms"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
