"""JSON Feed 1.1 documents (https://jsonfeed.org/version/1.1), the same entries as the XML feeds.

Written with the standard library's ``json`` in a fixed key order and with
``ensure_ascii=False``, so the same posts give the same bytes and Chinese
text stays readable (and a third of the size of ``\\uXXXX`` escapes).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from feeds.site.post import Post

if TYPE_CHECKING:
    from feeds.config import Site
    from feeds.site.render import Rendered

VERSION = "https://jsonfeed.org/version/1.1"


def json_feed_document(
    *,
    title: str,
    home_page_url: str,
    feed_url: str,
    site: Site,
    hubs: Sequence[str],
    entries: Sequence[Post],
    rendered: Mapping[str, Rendered],
) -> bytes:
    """The bytes of one ``feed.json``. Same input, same bytes."""
    document: dict[str, Any] = {
        "version": VERSION,
        "title": title,
        "home_page_url": home_page_url,
        "feed_url": feed_url,
    }
    if site.description:
        document["description"] = site.description
    if site.language:
        document["language"] = site.language
    document["authors"] = [{"name": site.author or site.title}]
    if hubs:
        document["hubs"] = [{"type": "WebSub", "url": hub} for hub in hubs]
    document["items"] = [json_item(post, rendered[post.url]) for post in entries]
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def json_item(post: Post, rendered: Rendered) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": post.url,
        "url": post.url,
        "title": post.title,
        "content_html": rendered.html,
    }
    if rendered.summary:
        item["summary"] = rendered.summary
    item["date_published"] = post.date.isoformat()
    if post.author:
        item["authors"] = [{"name": post.author}]
    tags = list(dict.fromkeys(post.categories + post.tags))
    if tags:
        item["tags"] = tags
    return item
