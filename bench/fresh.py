"""Freshness: how long after a post file lands do its category feeds carry it?

Stdlib only. Starts a real `feeds schedule` (watcher on, interval sweep an
hour away, digest off) on the corpus of bench/corpus.py, waits for its
start-up build, then drops new posts one at a time into `_posts/` the way a
deploy does (written beside the folder, renamed into it) and times each until
its category's Atom and RSS files both contain it. Median of several posts.

    python bench/fresh.py --size 100000 --posts 7
"""

from __future__ import annotations

import argparse
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import corpus  # noqa: E402
import run  # noqa: E402

FIRST_NEW = 9_000_000


def category_of(post: Path) -> str:
    for line in post.read_text(encoding="utf-8").splitlines():
        if line.startswith("categories: "):
            return line.split(": ", 1)[1].strip()
    raise ValueError(f"{post}: no category")


def wait_for(condition, timeout: float, step: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return False


def contains(path: Path, text: str) -> bool:
    try:
        return text in path.read_text(encoding="utf-8")
    except OSError:
        return False


def start_service(work: Path, site: Path, settle: str) -> tuple[subprocess.Popen, Path, Path]:
    out, state, log = work / "fresh-out", work / "fresh-state", work / "fresh.log"
    for path in (out, state):
        shutil.rmtree(path, ignore_errors=True)
    log.unlink(missing_ok=True)
    config = work / "fresh.yaml"
    config.write_text(
        f"state_dir: {state}\noutput: {out}\n"
        f"schedule: {{build_every: 1h, digest: false, watch_settle: {settle}}}\n",
        encoding="utf-8",
    )
    feeds = shutil.which("feeds") or str(Path(sys.executable).parent / "feeds")
    command = [feeds, "schedule", "--config", str(config), "--site", str(site)]
    process = subprocess.Popen(
        [*command, "--log-file", str(log)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return process, out, log


def land(site: Path, size: int, number: int) -> tuple[Path, str]:
    """Write one new post beside `_posts/` and rename it in, as `git pull` or rsync do."""
    with tempfile.TemporaryDirectory(dir=site) as staging:
        corpus.generate(
            Path(staging), 1, run.CATEGORIES.get(size, size // 100), run.DAYS, run.SEED,
            start=number, latest=True,
        )  # fmt: skip
        (post,) = (Path(staging) / "_posts").iterdir()
        category = category_of(post)
        target = site / "_posts" / post.name
        post.rename(target)
    return target, category


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--posts", type=int, default=7, help="posts to time (the median is kept)")
    parser.add_argument("--settle", default="0.5s", help="schedule.watch_settle")
    parser.add_argument("--work", type=Path, default=Path("/tmp/feeds-bench"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    site = run.make_corpus(args.work, args.size)
    run.remove_posts(site, FIRST_NEW)
    process, out, log = start_service(args.work, site, args.settle)
    latencies = []
    try:
        if not wait_for(
            lambda: " build: started " in log.read_text() if log.exists() else False, 900
        ):
            raise SystemExit("the start-up build did not finish in 15 minutes")
        time.sleep(3)
        for n in range(args.posts):
            post, category = land(site, args.size, FIRST_NEW + n)
            landed = time.monotonic()
            post_id = post.stem.split("-")[-1]
            folder = out / "category" / category
            seen = wait_for(
                lambda folder=folder, post_id=post_id: (
                    contains(folder / "atom.xml", post_id) and contains(folder / "rss.xml", post_id)
                ),
                timeout=120,
            )
            latencies.append(time.monotonic() - landed if seen else float("inf"))
            print(f"post {n + 1}: {latencies[-1]:.2f} s to category/{category}/", flush=True)
            time.sleep(2.5)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=300)
        run.remove_posts(site, FIRST_NEW)
    print(
        f"{args.size:,} posts, watch_settle {args.settle}: from a post file landing to its "
        f"category's Atom and RSS: median {statistics.median(latencies):.2f} s, "
        f"min {min(latencies):.2f} s, max {max(latencies):.2f} s over {len(latencies)} posts"
    )


if __name__ == "__main__":
    main()
