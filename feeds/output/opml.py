"""``feeds.opml``: every feed of the site in one OPML 2.0 list, for importing into a reader.

A reader imports about 2,000 category feeds from it in one step. It carries
no date, so a build that changes no feed leaves it byte for byte the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from feeds.site.render import xml_safe

FILE_NAME = "feeds.opml"


class Outline(NamedTuple):
    """One feed as an OPML outline: a display name, the feed's URL and the page it mirrors."""

    text: str
    xml_url: str
    html_url: str


def opml_document(title: str, site_feed: Outline | None, feeds: Sequence[Outline]) -> bytes:
    """The site-wide feed first, then the others sorted by display name (then URL)."""
    from lxml import etree  # here, as a build with nothing new makes no list

    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = xml_safe(title)
    body = etree.SubElement(root, "body")
    ordered = sorted(feeds, key=lambda outline: (outline.text.casefold(), outline.xml_url))
    for outline in ([site_feed] if site_feed else []) + ordered:
        text = xml_safe(outline.text)
        etree.SubElement(
            body,
            "outline",
            type="rss",
            text=text,
            title=text,
            xmlUrl=outline.xml_url,
            htmlUrl=outline.html_url,
        )
    return etree.tostring(root, pretty_print=True, encoding="UTF-8", xml_declaration=True)
