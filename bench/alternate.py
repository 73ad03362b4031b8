"""Cold builds of feeds and of Hugo in turns, for the ratio of their times on a shared machine.

``bench/run.py`` times all of one tool's runs, then all of the other's; on a
VM whose neighbours come and go, one block can meet a busy minute the other
does not, which moved the ratio between 0.6 and 1.2 in one evening. Taken in
turns (feeds then Hugo, Hugo then feeds, ...), both meet the same neighbours;
each pair gives a ratio, and the median of the ratios is the figure.

    python bench/alternate.py --size 100000 --pairs 7
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100000)
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--work", type=Path, default=Path("/tmp/feeds-bench"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    run.compile_package()
    site = run.make_corpus(args.work, args.size)
    found = run.hugo_site(args.work, site, args.size)
    if found is None:
        sys.exit("hugo is not installed (Debian: apt-get install hugo)")
    hugo, empty_hugo = found
    out, state = args.work / f"feeds-out-{args.size}", args.work / f"feeds-state-{args.size}"
    feeds = run.feeds_command(site, out, state)

    def empty_feeds() -> None:
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(state, ignore_errors=True)

    tools = {"feeds": (feeds, empty_feeds), "hugo": (hugo, empty_hugo)}
    print(f"Machine: {run.versions()}.\n")
    print("| pair | feeds cold | Hugo | feeds ÷ Hugo |\n|---|---|---|---|", flush=True)
    ratios, times = [], {"feeds": [], "hugo": []}
    for pair in range(1, args.pairs + 1):
        order = ["feeds", "hugo"] if pair % 2 else ["hugo", "feeds"]
        seconds = {}
        for name in order:
            command, empty = tools[name]
            empty()
            os.sync()
            seconds[name] = run.measure(command, memory=False).seconds
            times[name].append(seconds[name])
        ratios.append(seconds["feeds"] / seconds["hugo"])
        print(
            f"| {pair} | {seconds['feeds']:.2f} s | {seconds['hugo']:.2f} s | {ratios[-1]:.2f}× |",
            flush=True,
        )
    feeds_median, hugo_median = (statistics.median(times[name]) for name in ("feeds", "hugo"))
    print(
        f"| median | {feeds_median:.2f} s | {hugo_median:.2f} s | "
        f"{statistics.median(ratios):.2f}× (of the pairs' ratios) |"
    )


if __name__ == "__main__":
    main()
