"""``feeds serve``: the app on uvicorn, one process, stopped gracefully by SIGTERM.

uvicorn finishes the requests in flight on SIGTERM and then raises the signal
again so the process ends as it would have without uvicorn. The handler in
place at that moment is ours, and it ends the process with status 0: a
service manager should see a clean stop, not a death by signal.
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
from collections.abc import Callable

from feeds.config import Settings
from feeds.errors import FeedsError

log = logging.getLogger(__name__)

GRACEFUL_SECONDS = 30


def _stopped(signum: int, frame) -> None:
    raise SystemExit(0)


def serve(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    announce: Callable[[str], None] = print,
) -> None:
    """Serve until SIGTERM or Ctrl-C; ConfigError (before listening) if the setup is unusable."""
    import uvicorn

    from feeds.web.app import create_app

    previous = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        app = create_app(settings)
        web = settings.web
        assert web is not None  # create_app checked it
        config = uvicorn.Config(
            app,
            host=host or web.host,
            port=port or web.port,
            access_log=False,  # ours leaves tokens and addresses out
            proxy_headers=False,  # client addresses come from web.trusted_proxies only
            server_header=False,
            date_header=True,
            log_config=None,
            timeout_graceful_shutdown=GRACEFUL_SECONDS,
            lifespan="off",
        )
        sock = listen(config.host, config.port)
        setup_logging()
        announce(f"serving {web.url} on http://{config.host}:{config.port} (SIGTERM stops)")
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def listen(host: str, port: int) -> socket.socket:
    """The bound socket, before anything says the service is up; FeedsError if the
    address is taken (uvicorn would log it only after our "serving" line)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise FeedsError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def setup_logging() -> None:
    """The access log and errors, one line each, on stderr (the service manager's journal)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    for name in ("feeds", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
