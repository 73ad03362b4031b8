"""WebSub publishing: tell each hub which feed URLs changed, so readers get new posts at once.

One form POST per hub (``hub.mode=publish`` with one ``hub.url`` per changed
feed URL, in batches). A hub is someone else's server: one that is down,
slow or refuses never fails or stalls the build. Its URLs not yet announced
are kept in ``<state_dir>/websub-pending.json`` and sent by the next build,
first of all, so a reader's hub never misses a change.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

PENDING = "websub-pending.json"
BATCH = 100  # hub.url values per request: hubs cap the size of a form
TIMEOUT = 10.0  # seconds to connect, send or wait for an answer


class Problem(Exception):
    """Why a hub did not take a notification, in a few words."""


def announce(
    hubs: Sequence[str], changed: Sequence[str], state_dir: Path, *, timeout: float = TIMEOUT
) -> list[tuple[str, str]]:
    """Publish ``changed`` (and what earlier builds could not) to every hub.

    Returns one ``(hub, problem)`` per hub that failed; its URLs are kept for
    the next build. Stops at a hub's first failure, so a hung hub costs one
    timeout per build, not one per batch.
    """
    import httpx  # here, not above: every build asks this module whether anything is pending

    path = state_dir / PENDING
    pending = load_pending(path)
    kept: dict[str, list[str]] = {}
    problems: list[tuple[str, str]] = []
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        for hub in hubs:
            urls = list(dict.fromkeys([*pending.get(hub, ()), *changed]))
            for start in range(0, len(urls), BATCH):
                try:
                    publish(client, hub, urls[start : start + BATCH])
                except Problem as exc:
                    kept[hub] = urls[start:]
                    left = plural(len(kept[hub]), "feed URL")
                    problems.append(
                        (hub, f"publish failed ({exc}); {left} kept for the next build")
                    )
                    break
    if kept != pending:
        save_pending(path, kept)
    return problems


def publish(client: httpx.Client, hub: str, urls: Sequence[str]) -> None:
    """One publish notification; raises Problem unless the hub answers 2xx."""
    import httpx

    form = {"hub.mode": "publish", "hub.url": list(urls)}
    try:
        response = client.post(hub, data=form)
    except httpx.TimeoutException:
        raise Problem("no answer in time") from None
    except httpx.HTTPError as exc:
        raise Problem(str(exc) or type(exc).__name__) from None
    if not response.is_success:
        raise Problem(f"HTTP {response.status_code}")
    log.debug("%s: published %d URLs", hub, len(urls))


def load_pending(path: Path) -> dict[str, list[str]]:
    """URLs each hub has not taken yet; a missing or damaged file means none."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        hub: [url for url in urls if isinstance(url, str)]
        for hub, urls in data.items()
        if isinstance(urls, list)
    }


def save_pending(path: Path, pending: dict[str, list[str]]) -> None:
    if not pending:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(pending, stream, ensure_ascii=False, indent=1, sort_keys=True)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
