"""Generate a Jekyll site shaped like finews.withounder.com, deterministically for a seed.

Stdlib only. Front matter as the real posts have it (naive or "+0800" dates,
categories and tags as plain strings); about 70% short Markdown bodies with
an autolink and footer links, 30% long raw-HTML bodies of 2-8 KB; Chinese
text; categories drawn from a Zipf distribution; dates spread over D days.

    python bench/corpus.py OUT --posts 100000 --categories 1000 --days 60 --seed 1
"""

from __future__ import annotations

import argparse
import bisect
import random
from datetime import datetime, timedelta
from pathlib import Path

HANZI = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种"
    "面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本"
    "去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比"
    "或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总"
    "次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做"
    "必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极交受联什认六共权"
    "收证改清己美再采转更单风切打白教速花带安场身车例真务具万每目至达走积示议声报斗完类八离华名确才科张信"
    "马节话米整空元况今集温传土许步群广石记需段研界拉林律叫且究观越织装影算低持音众书布复容儿须际商非验连"
)
PUNCTUATION = "，，，、；。。！？"
SOURCES = [
    "东财滚动新闻",
    "科技日报新闻",
    "21世纪经济报道",
    "36氪",
    "第一财经",
    "证券时报",
    "财联社",
]


def pinyin_like(rng: random.Random, index: int) -> str:
    """Category slugs like the real ones: pinyin words, some digits, some upper case."""
    syllables = [
        "ke",
        "ji",
        "ri",
        "bao",
        "cai",
        "jing",
        "zheng",
        "quan",
        "shi",
        "xin",
        "wen",
        "hua",
    ]
    name = "".join(rng.choice(syllables) for _ in range(rng.randint(2, 5)))
    if index % 17 == 0:
        name = name.capitalize()
    if index % 23 == 0:
        name = f"{rng.randint(1, 99)}{name}"
    return f"{name}{index}"


def sentence(rng: random.Random, low: int = 12, high: int = 40) -> str:
    words = "".join(rng.choice(HANZI) for _ in range(rng.randint(low, high)))
    return words + rng.choice(PUNCTUATION[-4:])


def markdown_body(rng: random.Random, post_id: str, category: str, source: str) -> str:
    paragraph = "".join(sentence(rng) for _ in range(rng.randint(1, 4)))
    return (
        f"{paragraph}\n\n<http://finance.eastmoney.com/news/1345,{post_id}.html>\n\n"
        f"[返回{source}](../{category}/)\n[返回首页](../)"
    )


def html_body(rng: random.Random, post_id: str, category: str, source: str) -> str:
    size = rng.randint(2000, 8000)
    parts = []
    total = 0
    while total < size:
        text = "".join(sentence(rng) for _ in range(rng.randint(2, 6)))
        piece = (
            f'<p>{text}<span id="stock_1.600{rng.randint(100, 999)}">'
            '<a href="http://quote.eastmoney.com/unify/r/1.600160" class="keytip">'
            "股票</a></span></p>"
        )
        parts.append(piece)
        total += len(piece.encode("utf-8"))
    return (
        "".join(parts)
        + f"\n\n<http://finance.eastmoney.com/a/{post_id}.html>\n\n"
        + f"[返回{source}](//finews.withounder.com/{category}/)"
        + "｜[返回首页](//finews.withounder.com/)"
    )


def zipf_weights(count: int, exponent: float = 1.1) -> list[float]:
    weights = [1 / (rank**exponent) for rank in range(1, count + 1)]
    cumulative, running = [], 0.0
    for weight in weights:
        running += weight
        cumulative.append(running)
    return cumulative


def post_text(rng: random.Random, post_id: str, moment: datetime, category: str) -> str:
    source = rng.choice(SOURCES)
    title = sentence(rng, 8, 24).rstrip("。！？，、；")
    if rng.random() < 0.05:
        date = moment.strftime("%Y-%m-%d %H:%M:%S +0800")
    else:
        date = moment.strftime("%Y-%m-%d %H:%M:%S")
    body = (
        html_body(rng, post_id, category, source)
        if rng.random() < 0.3
        else markdown_body(rng, post_id, category, source)
    )
    return (
        f'---\nlayout: post\ntitle: "{title}"\ndate: {date}\ncategories: {category}\n'
        f"tags: {source}\n---\n\n{body}"
    )


CONFIG = """\
lang: zh-CN
title: 金融消息
url: https://finews.withounder.com
timezone: Asia/Shanghai
author: ZNing
"""


def generate(
    out: Path,
    posts: int,
    categories: int,
    days: int,
    seed: int,
    start: int = 0,
    latest: bool = False,
) -> None:
    """Write posts ``start`` .. ``start + posts - 1`` of the corpus for ``seed`` into ``out``.

    ``latest`` dates them after the corpus's last day, one second apart in
    the order of their numbers, as new posts arrive on the real site.
    """
    rng = random.Random(seed)
    names = [pinyin_like(rng, index) for index in range(categories)]
    cumulative = zipf_weights(categories)
    (out / "_posts").mkdir(parents=True, exist_ok=True)
    (out / "_config.yml").write_text(CONFIG, encoding="utf-8")
    first_day = datetime(2022, 1, 1)
    span = days * 86400
    for number in range(start, start + posts):
        post_rng = random.Random(f"{seed}-{number}")
        offset = span + number if latest else post_rng.randrange(span)
        moment = first_day + timedelta(seconds=offset)
        pick = post_rng.random() * cumulative[-1]
        category = names[min(bisect.bisect_left(cumulative, pick), categories - 1)]
        post_id = f"{moment:%Y%m%d}{number:010d}"
        path = out / "_posts" / f"{moment:%Y-%m-%d}-{post_id}.md"
        path.write_text(post_text(post_rng, post_id, moment, category), encoding="utf-8")


BUSY_DAY_SHAPE = [1] * 8 + [5] * 12 + [2] * 4  # posts per hour, relative: a daytime peak
ROLLING_SHARE = 0.4  # of a busy day's posts, in the one rolling-news category


def busy_hour_counts(total: int) -> list[int]:
    """How many of a busy day's ``total`` posts arrive in each hour."""
    weight = sum(BUSY_DAY_SHAPE)
    counts = [total * share // weight for share in BUSY_DAY_SHAPE]
    counts[12] += total - sum(counts)
    return counts


def busy_hour(
    out: Path, categories: int, days: int, seed: int, start: int, hour: int, count: int
) -> None:
    """Write posts ``start`` .. ``start + count - 1``: hour ``hour`` of a busy day after the corpus.

    40% go to the corpus's biggest category (rolling news), the rest as usual.
    """
    rng = random.Random(seed)
    names = [pinyin_like(rng, index) for index in range(categories)]
    cumulative = zipf_weights(categories)
    day = datetime(2022, 1, 1) + timedelta(days=days + 1, hours=hour)
    for offset, number in enumerate(range(start, start + count)):
        post_rng = random.Random(f"{seed}-busy-{number}")
        moment = day + timedelta(seconds=offset * 3600 // count)
        if post_rng.random() < ROLLING_SHARE:
            category = names[0]
        else:
            pick = post_rng.random() * cumulative[-1]
            category = names[min(bisect.bisect_left(cumulative, pick), categories - 1)]
        post_id = f"{moment:%Y%m%d}{number:010d}"
        path = out / "_posts" / f"{moment:%Y-%m-%d}-{post_id}.md"
        path.write_text(post_text(post_rng, post_id, moment, category), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--categories", type=int, default=100)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start", type=int, default=0, help="number of the first post to write")
    parser.add_argument("--latest", action="store_true", help="date the posts after the corpus")
    args = parser.parse_args()
    generate(args.out, args.posts, args.categories, args.days, args.seed, args.start, args.latest)


if __name__ == "__main__":
    main()
