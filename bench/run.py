"""Time `feeds build` against Hugo and Jekyll + jekyll-feed on the same generated corpus.

Stdlib only. For each size: a corpus from bench/corpus.py, then, in one run,
side by side, several runs each (medians) and peak memory (the whole process
tree, workers included, sampled from /proc):

- floor: only reading every post file (what any tool must at least do);
- feeds cold (no cache, no output), warm with nothing new, warm after one new
  post, warm after 1,000 new posts (Atom, RSS and JSON Feed for every category,
  and the pages);
- the busy day: 3,000 posts in a day (40% in one rolling-news category, a
  daytime peak) arriving hour by hour, a warm build after each hour: the
  median of those 24 builds (``--busy-day 0`` leaves it out);
- Hugo (RSS for every category term) and Jekyll 4 + jekyll-feed (Atom for
  every category), when installed (Debian: hugo, jekyll, ruby-jekyll-feed).

    python bench/run.py --sizes 1000 10000 100000 --runs 3

Writes the table to stdout and, for a run of all three tools, to bench/results.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import corpus  # noqa: E402

CATEGORIES = {1000: 100, 10000: 500, 100000: 1000}
DAYS = 60
SEED = 1


@dataclass
class Result:
    seconds: float
    peak_mb: float


def tree_rss_kb(root: int) -> int:
    """Resident memory of a process and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stream:
                fields = stream.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/statm") as stream:
                pages = int(stream.read().split()[1])
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        rss[int(entry)] = pages * os.sysconf("SC_PAGE_SIZE") // 1024
    total, pending = 0, [root]
    while pending:
        pid = pending.pop()
        total += rss.get(pid, 0)
        pending.extend(children.get(pid, []))
    return total


def measure(
    command: list[str],
    cwd: Path | None = None,
    timeout: float | None = None,
    memory: bool = True,
) -> Result:
    """Wall time and peak memory (whole process tree) of one command.

    Sampling /proc costs CPU beside the measured command, so runs that only
    count time pass ``memory=False``; their peak is then 0.
    """
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_kb(process.pid))
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    if memory:
        sampler.start()
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    finally:
        done.set()
        if memory:
            sampler.join()
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({process.returncode}): {stderr.decode()[-2000:]}")
    return Result(seconds, peak / 1024)


def median(results: list[Result]) -> Result:
    return Result(statistics.median(r.seconds for r in results), max(r.peak_mb for r in results))


def make_corpus(work: Path, size: int) -> Path:
    site = work / f"site-{size}"
    marker = site / ".complete"
    if not marker.exists():
        shutil.rmtree(site, ignore_errors=True)
        corpus.generate(site, size, CATEGORIES.get(size, size // 100), DAYS, SEED)
        marker.write_text("ok")
    return site


def category_names(site: Path) -> list[str]:
    names = set()
    for path in (site / "_posts").iterdir():
        with open(path, encoding="utf-8") as stream:
            for line in stream:
                if line.startswith("categories: "):
                    names.add(line.split(": ", 1)[1].strip())
                    break
    return sorted(names)


def feeds_command(site: Path, out: Path, state: Path) -> list[str]:
    config = out.parent / f"{out.name}.yaml"
    config.write_text(f"state_dir: {state}\n", encoding="utf-8")
    feeds = shutil.which("feeds") or str(Path(sys.executable).parent / "feeds")
    return [
        feeds,
        "build",
        "-q",
        "--site",
        str(site),
        "--output",
        str(out),
        "--config",
        str(config),
    ]


def add_posts(site: Path, size: int, start: int, count: int) -> None:
    corpus.generate(
        site, count, CATEGORIES.get(size, size // 100), DAYS, SEED, start=start, latest=True
    )


def remove_posts(site: Path, first: int) -> None:
    """Take the posts added by warm runs out again, so every tool sees the same corpus."""
    for path in (site / "_posts").iterdir():
        number = int(path.stem.split("-")[-1][8:])
        if number >= first:
            path.unlink()


def series(command: list[str], runs: int, before=None, timeout: float | None = None) -> Result:
    """``runs`` timed runs (median time), then one more sampled for peak memory.

    ``before`` runs before each of them (to reset or change the input). Each run
    starts after ``sync``, as hyperfine's ``--prepare sync`` would: the kernel
    writes back what the previous run wrote (a cold build leaves 4,000 files and
    its caches dirty) while the next one runs, which measured a build with
    nothing new at up to 0.9 s instead of 0.6 s.
    """
    times, peak = [], 0.0
    for number in range(runs + 1):
        if before is not None:
            before()
        os.sync()
        sampled = number == runs
        result = measure(command, timeout=timeout, memory=sampled)
        if sampled:
            peak = result.peak_mb
        else:
            times.append(result.seconds)
    return Result(statistics.median(times), peak)


def bench_feeds(work: Path, site: Path, size: int, runs: int, busy_posts: int) -> dict[str, Result]:
    out, state = work / f"feeds-out-{size}", work / f"feeds-state-{size}"
    command = feeds_command(site, out, state)
    counter = [size]

    def empty() -> None:
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(state, ignore_errors=True)

    def add(count: int):
        def more() -> None:
            add_posts(site, size, counter[0], count)
            counter[0] += count

        return more

    rows = {
        "feeds cold": series(command, runs, empty),
        "feeds warm, nothing new": series(command, runs),
        "feeds warm, +1 post": series(command, runs, add(1)),
        "feeds warm, +1,000 posts": series(command, runs, add(1000)),
    }
    if busy_posts:
        label = f"feeds warm, busy day: hourly build (median of 24, {busy_posts:,} posts/day)"
        rows[label] = busy_day(command, site, size, counter, busy_posts)
    remove_posts(site, size)
    return rows


def busy_day(command: list[str], site: Path, size: int, counter: list[int], total: int) -> Result:
    """Posts arrive hour by hour and a warm build follows each hour; the median build."""
    results = []
    for hour, count in enumerate(corpus.busy_hour_counts(total)):
        categories = CATEGORIES.get(size, size // 100)
        corpus.busy_hour(site, categories, DAYS, SEED, counter[0], hour, count)
        counter[0] += count
        os.sync()  # as in ``series``
        results.append(measure(command, memory=hour == 12))
    return median(results)


def bench_floor(site: Path, runs: int) -> Result:
    code = (
        "import os,sys\nd=sys.argv[1]\n"
        "for n in os.listdir(d):\n    open(os.path.join(d,n),'rb').read()\n"
    )
    return median(
        [measure([sys.executable, "-c", code, str(site / "_posts")]) for _ in range(runs)]
    )


HUGO_CONFIG = """\
baseURL: https://finews.withounder.com/
title: 金融消息
languageCode: zh-CN
timeZone: Asia/Shanghai
disableKinds: [sitemap, robotsTXT, "404", taxonomy]
ignoreErrors: [error-disable-taxonomy]
taxonomies:
  category: categories
outputs:
  home: [RSS]
  page: []
  section: []
  term: [RSS]
services:
  rss:
    limit: 20
"""


def hugo_site(work: Path, site: Path, size: int):
    """Hugo's copy of the corpus (hard links), its build command, and what empties its output
    for a cold build; None without Hugo."""
    hugo = shutil.which("hugo")
    if not hugo:
        return None
    root = work / f"hugo-{size}"
    shutil.rmtree(root, ignore_errors=True)
    (root / "content").mkdir(parents=True)
    shutil.copytree(site / "_posts", root / "content" / "posts", copy_function=os.link)
    (root / "config.yaml").write_text(HUGO_CONFIG, encoding="utf-8")

    def empty() -> None:
        shutil.rmtree(root / "public", ignore_errors=True)
        shutil.rmtree(root / "resources", ignore_errors=True)

    return [hugo, "--quiet", "-s", str(root), "-d", str(root / "public")], empty


def bench_hugo(work: Path, site: Path, size: int, runs: int) -> Result | None:
    found = hugo_site(work, site, size)
    if found is None:
        return None
    command, empty = found
    return series(command, runs, empty)


def bench_jekyll(
    work: Path, site: Path, size: int, runs: int, timeout: float
) -> Result | str | None:
    jekyll = shutil.which("jekyll")
    if not jekyll:
        return None
    root = work / f"jekyll-{size}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    shutil.copytree(site / "_posts", root / "_posts", copy_function=os.link)
    names = category_names(site)
    config = (site / "_config.yml").read_text(encoding="utf-8")
    config += "plugins: [jekyll-feed]\nfeed:\n  posts_limit: 20\n  categories:\n"
    config += "".join(f"    - {name}\n" for name in names)
    (root / "_config.yml").write_text(config, encoding="utf-8")
    results = []
    for _ in range(runs):
        shutil.rmtree(root / "_site", ignore_errors=True)
        shutil.rmtree(root / ".jekyll-cache", ignore_errors=True)
        try:
            results.append(
                measure(
                    [jekyll, "build", "--quiet", "-s", str(root), "-d", str(root / "_site")],
                    timeout=timeout,
                )
            )
        except subprocess.TimeoutExpired:
            return f"> {timeout:.0f} s (stopped)"
    return median(results)


def versions() -> str:
    def first_line(command: list[str]) -> str:
        try:
            return subprocess.run(command, capture_output=True, text=True).stdout.splitlines()[0]
        except (OSError, IndexError):
            return "not installed"

    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"{first_line(['hugo', 'version'])}; {first_line(['jekyll', '--version'])}"
    )


def fmt(value: Result | str | None) -> tuple[str, str]:
    if value is None:
        return "not installed", ""
    if isinstance(value, str):
        return value, ""
    return f"{value.seconds:.2f} s", f"{value.peak_mb:.0f} MB"


def compile_package() -> None:
    """Byte-compile feeds' modules, as pip does when it installs the package.

    A checkout installed with ``pip install -e`` and run with
    PYTHONDONTWRITEBYTECODE set (as on CI machines) compiles every module
    again at each start, about 50 ms that no operator's install pays and that
    would count against the build with nothing new.
    """
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(ROOT / "feeds")],
        check=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": ""},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jekyll-runs", type=int, default=1)
    parser.add_argument("--jekyll-timeout", type=float, default=1200)
    parser.add_argument("--work", type=Path, default=Path("/tmp/feeds-bench"))
    parser.add_argument(
        "--busy-day", type=int, default=3000, help="posts in the busy day; 0 leaves it out"
    )
    parser.add_argument(
        "--tools", nargs="+", default=["feeds", "hugo", "jekyll"], help="which to run"
    )
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    compile_package()
    lines = [
        f"Machine: {versions()}.",
        "",
        "| posts | what | median time | peak memory | time ÷ Hugo's | vs Jekyll |",
        "|---|---|---|---|---|---|",
    ]
    print("\n".join(lines), flush=True)
    for size in args.sizes:
        site = make_corpus(args.work, size)
        rows: dict[str, Result | str | None] = {}
        if "feeds" in args.tools:
            rows["floor: read every post file"] = bench_floor(site, args.runs)
            rows.update(bench_feeds(args.work, site, size, args.runs, args.busy_day))
        if "hugo" in args.tools:
            rows["Hugo (RSS per category)"] = bench_hugo(args.work, site, size, args.runs)
        if "jekyll" in args.tools:
            rows["Jekyll + jekyll-feed (Atom per category)"] = bench_jekyll(
                args.work, site, size, args.jekyll_runs, args.jekyll_timeout
            )
        hugo = rows.get("Hugo (RSS per category)")
        jekyll = rows.get("Jekyll + jekyll-feed (Atom per category)")
        for what, value in rows.items():
            time_text, memory = fmt(value)
            vs_hugo = vs_jekyll = ""
            if isinstance(value, Result) and what.startswith("feeds cold"):
                if isinstance(hugo, Result):
                    vs_hugo = f"{value.seconds / hugo.seconds:.2f}×"
                if isinstance(jekyll, Result):
                    vs_jekyll = f"{jekyll.seconds / value.seconds:.1f}× faster"
                elif isinstance(jekyll, str):
                    limit = float(jekyll.split()[1])
                    vs_jekyll = f"> {limit / value.seconds:.0f}× faster"
            line = f"| {size:,} | {what} | {time_text} | {memory} | {vs_hugo} | {vs_jekyll} |"
            lines.append(line)
            print(line, flush=True)
    (args.work / "results.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    if set(args.tools) == {"feeds", "hugo", "jekyll"}:
        (HERE / "results.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
