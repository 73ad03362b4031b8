"""The app factory: one WebService holding what the routes share, wrapped in the middleware.

Everything a route needs (settings, the subscriber store, the token keys,
the rate limiter, the clock) is built here once and passed in, so tests can
build an app with their own clock and the server builds the real one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar
from urllib.parse import unquote, urlsplit

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp

from feeds.config import Settings, web_secrets
from feeds.errors import ConfigError
from feeds.newsletter.subscribers import SubscriberStore
from feeds.newsletter.tokens import Tokens
from feeds.web import routes
from feeds.web.csrf import Csrf
from feeds.web.middleware import AccessLog, BodyLimit, SecurityHeaders
from feeds.web.pages import Category, Pages
from feeds.web.ratelimit import RateLimiter

log = logging.getLogger(__name__)
T = TypeVar("T")

MAIL_THREADS = 2
CATEGORIES_REFRESH = 600.0  # seconds: new categories appear on the form within ten minutes


def site_categories(settings: Settings, now: datetime) -> tuple[Category, ...]:
    """Every category of the site's published posts, sorted by the name readers see."""
    from feeds.output.build import current_posts

    names = {name for post in current_posts(settings, now=now) for name in post.categories}
    categories = (Category(name, settings.display_name(name)) for name in names)
    return tuple(sorted(categories, key=lambda c: (c.label.casefold(), c.name)))


@dataclass
class CategoryList:
    """The site's categories, read at start and again in the background when they are old."""

    load: Callable[[], tuple[Category, ...]]
    monotonic: Callable[[], float] = time.monotonic
    current: tuple[Category, ...] = ()
    loaded_at: float = 0.0
    refreshing: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        self.current, self.loaded_at = self.load(), self.monotonic()

    def get(self) -> tuple[Category, ...]:
        if self.monotonic() - self.loaded_at > CATEGORIES_REFRESH and self.refreshing.acquire(
            blocking=False
        ):
            threading.Thread(target=self._refresh, daemon=True).start()
        return self.current

    def _refresh(self) -> None:
        try:
            self.start()
        except Exception:  # the old list is still good; say why and try again later
            log.exception("could not reread the site's categories")
            self.loaded_at = self.monotonic()
        finally:
            self.refreshing.release()


@dataclass
class WebService:
    settings: Settings
    store: SubscriberStore
    tokens: Tokens
    csrf: Csrf
    limiter: RateLimiter
    pages: Pages
    categories: CategoryList
    base: str  # web.url's path, without a trailing slash: every route starts with it
    clock: Callable[[], datetime]
    trusted_proxies: list = field(default_factory=list)
    writer: anyio.CapacityLimiter = field(default_factory=lambda: anyio.CapacityLimiter(1))
    # Confirmation mails wait for the relay on threads of their own: a relay that never
    # answers must not take the threads that /healthz and the token pages run on.
    mailer: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(MAIL_THREADS, thread_name_prefix="mail")
    )

    def now(self) -> datetime:
        return self.clock()

    async def read(self, function: Callable[..., T], *args) -> T:
        """Run a store read in a worker thread; reads run side by side (SQLite WAL)."""
        return await anyio.to_thread.run_sync(function, *args)

    async def write(self, function: Callable[..., T], *args) -> T:
        """Run a store change in the one writer thread slot.

        Writers queue here rather than in SQLite, whose busy handler sleeps
        in steps of milliseconds: under a burst of one-click unsubscribes
        that sleeping, not the work, would make the slowest answers.
        """
        return await anyio.to_thread.run_sync(function, *args, limiter=self.writer)


def create_app(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    monotonic: Callable[[], float] = time.monotonic,
) -> ASGIApp:
    """The whole service as one ASGI app; ConfigError without a web section or its secret."""
    web = settings.web
    if web is None:
        raise ConfigError("web: missing; feeds serve needs web.url and web.secret_env")
    secrets = web_secrets(settings)
    parts = urlsplit(web.url)
    base = parts.path.rstrip("/")  # percent-encoded, as in links; routes match it decoded
    https = parts.scheme == "https"
    pages = Pages(settings, base)
    categories = CategoryList(lambda: site_categories(settings, clock()), monotonic)
    categories.start()
    service = WebService(
        settings=settings,
        store=SubscriberStore(settings.state_dir),
        tokens=Tokens(secrets),
        csrf=Csrf(secrets, origin=f"{parts.scheme}://{parts.netloc}", https=https, path=base),
        limiter=RateLimiter(web.subscribe_limit, web.subscribe_window, clock=monotonic),
        pages=pages,
        categories=categories,
        base=base,
        clock=clock,
        trusted_proxies=list(web.trusted_proxies),
    )
    app = Starlette(
        routes=[Route(unquote(base) + path, endpoint, methods=m) for path, endpoint, m in ROUTES]
        + ([Route("/healthz", routes.healthz, methods=["GET"])] if base else []),
        exception_handlers={HTTPException: http_error},
    )
    app.router.redirect_slashes = False
    app.state.web = service
    too_large = pages.message("请求太大", "提交的内容超过了允许的大小。", status=413)
    app_with_cap = BodyLimit(app, max_bytes=web.max_body, too_large=too_large)
    return AccessLog(SecurityHeaders(app_with_cap, https=https))


ROUTES = [
    ("/subscribe", routes.subscribe_form, ["GET"]),
    ("/subscribe", routes.subscribe, ["POST"]),
    ("/confirm/{token}", routes.confirm_page, ["GET"]),
    ("/confirm/{token}", routes.confirm, ["POST"]),
    ("/unsubscribe/{token}", routes.unsubscribe_page, ["GET"]),
    ("/unsubscribe/{token}", routes.unsubscribe, ["POST"]),
    ("/preferences/{token}", routes.preferences_page, ["GET"]),
    ("/preferences/{token}", routes.preferences, ["POST"]),
    ("/static/{name}", routes.static, ["GET"]),
    ("/healthz", routes.healthz, ["GET"]),
]


async def http_error(request: Request, exc: Exception):
    """404, 405 and the like as a page in the site's look."""
    assert isinstance(exc, HTTPException)
    pages: Pages = request.app.state.web.pages
    titles = {404: "找不到这个页面", 405: "不支持这种请求"}
    title = titles.get(exc.status_code, "请求无法处理")
    response = pages.message(title, status=exc.status_code)
    if exc.headers:
        response.headers.update(exc.headers)
    return response
