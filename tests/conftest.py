"""Shared fixtures: sites in tmp_path, settings, and the checks every built feed must pass."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from lxml import etree

from feeds.config import load_settings

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_SITE = ROOT / "examples" / "site"
# ../shared beside a clone; ../../shared from a worktree under wt/.
SHARED = next(
    (path for path in (ROOT.parent / "shared", ROOT.parent.parent / "shared") if path.is_dir()),
    ROOT.parent / "shared",
)
CORPUS = SHARED / "corpus" / "finews"
ATOM_RNG = SHARED / "schemas" / "atom.rng"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

SITE_CONFIG = """\
title: 测试站
lang: zh-CN
url: https://example.org
timezone: Asia/Shanghai
author: Tester
"""


def outcome(function, *args, catch: type[Exception] = Exception) -> object:
    """What a call gives, or the exception it raises (kind and message), as a value that two
    calls, a fast rule and the plain one it replaced, can be compared by."""
    try:
        return function(*args)
    except catch as exc:
        return f"{type(exc).__name__}: {exc}"


def feeds_args(*args: object) -> list[str]:
    """The command line of the real ``feeds`` entry point, run as a child process."""
    return [sys.executable, "-m", "feeds", *map(str, args)]


def child_processes() -> set[str]:
    """This process's child processes, running or not yet reaped."""
    return {
        child
        for task in Path("/proc/self/task").iterdir()
        for child in (task / "children").read_text(encoding="ascii").split()
    }


def wait_until_ended(pid: int, within: float = 10.0) -> None:
    """Until a process has ended: gone, or a zombie (as a child not yet reaped stays)."""
    deadline = time.monotonic() + within
    while True:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
        except FileNotFoundError:
            return
        if stat.split(")")[-1].split()[0] in "ZX":
            return
        assert time.monotonic() < deadline, f"process {pid} is still running"
        time.sleep(0.01)


def post_text(
    title: str | None = "标题",
    date: str | None = "2022-05-24 20:51:19 +0800",
    categories: str | None = "kejiribao",
    body: str = "正文。",
    extra: str = "",
) -> str:
    """A post in the shape of the real site's posts."""
    lines = ["---", "layout: post"]
    if title is not None:
        lines.append(f'title: "{title}"')
    if date is not None:
        lines.append(f"date: {date}")
    if categories is not None:
        lines.append(f"categories: {categories}")
    lines += [line for line in extra.splitlines() if line] + ["---", "", body, ""]
    return "\n".join(lines)


class SiteMaker:
    """Writes a small Jekyll site into a temporary folder."""

    def __init__(self, root: Path):
        self.root = root
        self.posts = root / "_posts"
        self.posts.mkdir(parents=True, exist_ok=True)
        (root / "_config.yml").write_text(SITE_CONFIG, encoding="utf-8")

    def config(self, text: str) -> None:
        (self.root / "_config.yml").write_text(text, encoding="utf-8")

    def post(self, name: str, text: str | bytes | None = None, **fields) -> Path:
        path = self.posts / name
        path.parent.mkdir(parents=True, exist_ok=True)
        content = text if text is not None else post_text(**fields)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path


@pytest.fixture(autouse=True)
def _work_in_tmp_path(tmp_path: Path, monkeypatch) -> None:
    """No test may pick up the repository's own config.yaml or write into the checkout."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def site(tmp_path: Path) -> SiteMaker:
    return SiteMaker(tmp_path / "site")


@pytest.fixture
def example_site(tmp_path: Path) -> Path:
    target = tmp_path / "example"
    shutil.copytree(EXAMPLE_SITE, target)
    return target


@pytest.fixture
def make_settings(tmp_path: Path):
    """Settings for a site, with config.yaml written from keyword sections."""

    def make(site_dir: Path, config: str | None = None, output: Path | None = None):
        config_path = None
        if config is not None:
            config_path = tmp_path / "config.yaml"
            config_path.write_text(config, encoding="utf-8")
        return load_settings(config_path, site_dir=site_dir, output=output or tmp_path / "out")

    return make


@pytest.fixture(scope="session")
def atom_schema():
    if not ATOM_RNG.is_file():
        return None
    return etree.RelaxNG(etree.parse(str(ATOM_RNG)))


@pytest.fixture
def check_feed(atom_schema):
    """Parse a feed as readers do; Atom feeds must also satisfy RFC 4287's schema."""

    def check(path: Path):
        parsed = feedparser.parse(path.read_bytes())
        assert not parsed.bozo, f"{path}: {parsed.get('bozo_exception')}"
        ids = [entry.id for entry in parsed.entries]
        assert len(ids) == len(set(ids)), f"{path}: duplicate ids"
        if path.name == "atom.xml" and atom_schema is not None:
            document = etree.parse(str(path))
            assert atom_schema.validate(document), f"{path}: {atom_schema.error_log.last_error}"
        return parsed

    return check


JSON_FEED_SCHEMA = Path(__file__).resolve().parent / "schemas" / "jsonfeed-1.1.json"


@pytest.fixture(scope="session")
def check_json_feed():
    """A feed.json as a reader gets it: UTF-8 JSON that satisfies JSON Feed 1.1."""
    import json

    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(json.loads(JSON_FEED_SCHEMA.read_text(encoding="utf-8")))

    def check(path: Path) -> dict:
        document = json.loads(path.read_bytes().decode("utf-8"))
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]
        assert errors == [], f"{path}: {errors}"
        ids = [item["id"] for item in document["items"]]
        assert len(ids) == len(set(ids)), f"{path}: duplicate ids"
        return document

    return check


# --- a real SMTP server on 127.0.0.1 -------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RecordingHandler:
    """An aiosmtpd handler that keeps every accepted message and can be told to misbehave."""

    def __init__(self):
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.refuse: set[str] = set()  # recipients answered with 550
        self.answers: dict[str, str] = {}  # recipient -> RCPT answer, e.g. "452 4.2.2 full"
        self.rcpts: list[str] = []  # every RCPT TO address asked, accepted or not
        self.fail_after: int | None = None  # accept this many messages, then answer 451
        self.busy_answer = "451 4.3.0 try again later"  # what fail_after answers
        self.delay = 0.0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.rcpts.append(address)
        if address in self.refuse:
            return "550 5.1.1 no such user here"
        if address in self.answers:
            return self.answers[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        import asyncio

        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_after is not None and len(self.messages) >= self.fail_after:
            return self.busy_answer
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted"

    def parsed(self):
        import email
        from email.policy import default

        return [email.message_from_bytes(raw, policy=default) for _, _, raw in self.messages]

    def by_recipient(self) -> dict[str, list]:
        result: dict[str, list] = {}
        for (_, rcpts, _), message in zip(self.messages, self.parsed(), strict=True):
            for rcpt in rcpts:
                result.setdefault(rcpt, []).append(message)
        return result


@pytest.fixture
def smtp_server():
    """A plain SMTP server on 127.0.0.1, as a local relay would be."""
    yield from _recording_server(enable_SMTPUTF8=True)


@pytest.fixture
def ascii_smtp_server():
    """An SMTP server that does not offer SMTPUTF8, as many still do not."""
    yield from _recording_server(enable_SMTPUTF8=False)


def _recording_server(**options):
    from aiosmtpd.controller import Controller

    handler = RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **options)
    controller.start()
    handler.port = controller.port
    yield handler
    controller.stop()


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 and localhost."""
    import ipaddress
    from datetime import timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_smtp_server(tmp_path):
    """An SMTP server that requires STARTTLS and then AUTH (user 'digest', password 's3cret')."""
    import ssl

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    cert, key = self_signed_certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def authenticate(server, session, envelope, mechanism, data):
        ok = data.login == b"digest" and data.password == b"s3cret"
        return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535

    handler = RecordingHandler()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=context,
        require_starttls=True,
        auth_required=True,
        authenticator=authenticate,
    )
    controller.start()
    handler.port = controller.port
    handler.ca_file = cert
    yield handler
    controller.stop()


class MisbehavingSmtp:
    """A raw SMTP server on 127.0.0.1 that gets one step wrong, as broken or hostile servers do.

    Modes: ``greeting-554``, ``ehlo-550`` (HELO too), ``huge-ehlo`` (a 10 MB EHLO
    line), ``rcpt-garbage`` (an answer that is no SMTP reply) and ``rcpt-999``.
    It never accepts a message; ``rcpts`` counts the RCPT TO commands it saw.
    """

    def __init__(self, mode: str):
        import socket
        import threading

        self.mode = mode
        self.rcpts = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepting = threading.Thread(target=self.accept, daemon=True)
        self.accepting.start()

    def accept(self) -> None:
        import threading

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(client,), daemon=True).start()

    def serve(self, client) -> None:
        import contextlib

        with client, client.makefile("rb") as lines, contextlib.suppress(OSError):
            self.converse(client, lines)

    def converse(self, client, lines) -> None:
        if self.mode == "greeting-554":
            client.sendall(b"554 no service here\r\n")
            lines.readline()
            return
        client.sendall(b"220 mx.example.org ESMTP\r\n")
        while line := lines.readline():
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO") and self.mode == "ehlo-550":
                client.sendall(b"550 5.7.1 go away\r\n")
            elif verb == b"EHLO" and self.mode == "huge-ehlo":
                client.sendall(b"250-" + b"A" * 10_000_000 + b"\r\n250 8BITMIME\r\n")
            elif verb in (b"EHLO", b"HELO"):
                client.sendall(b"250-mx.example.org\r\n250 8BITMIME\r\n")
            elif verb == b"RCPT":
                self.rcpts += 1
                answer = {"rcpt-garbage": b"\xff\xfe garbage", "rcpt-999": b"999 weird"}
                client.sendall(answer.get(self.mode, b"250 ok") + b"\r\n")
            elif verb == b"QUIT":
                client.sendall(b"221 bye\r\n")
                return
            else:
                client.sendall(b"250 ok\r\n")

    def close(self) -> None:
        """Stop accepting. Closing alone would not wake the thread blocked in accept()."""
        import contextlib
        import socket

        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self.accepting.join(timeout=5)


@pytest.fixture
def misbehaving_smtp():
    """``misbehaving_smtp(mode)`` starts a :class:`MisbehavingSmtp`; all stop after the test."""
    servers: list[MisbehavingSmtp] = []

    def start(mode: str) -> MisbehavingSmtp:
        servers.append(MisbehavingSmtp(mode))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


# --- a stand-in WebSub hub on 127.0.0.1 ----------------------------------------------------------


class Hub:
    """Records each publish notification as the hub sees it; can refuse (500) or hang."""

    def __init__(self):
        import threading

        self.requests: list[list[tuple[str, str]]] = []  # each request's form fields, in order
        self.content_types: list[str] = []
        self.mode = "ok"  # "ok", "refuse" or "hang"
        self.released = threading.Event()
        self.url = ""

    def urls(self) -> list[str]:
        """Every hub.url announced so far, in order."""
        return [value for form in self.requests for key, value in form if key == "hub.url"]


@pytest.fixture
def hub():
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qsl

    recorder = Hub()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if recorder.mode == "hang":
                recorder.released.wait(30)
                return
            recorder.content_types.append(self.headers.get("Content-Type", ""))
            recorder.requests.append(parse_qsl(body.decode("ascii"), keep_blank_values=True))
            self.send_response(500 if recorder.mode == "refuse" else 204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    recorder.url = f"http://127.0.0.1:{server.server_port}/hub"
    yield recorder
    recorder.released.set()
    server.shutdown()
    server.server_close()


# --- a real `feeds serve` process -----------------------------------------------------------------

WEB_SECRET = "test-signing-key-for-feeds-serve-tests"
WEB_CATEGORIES = {"kejiribao": "科技日报", "emnews": "东财滚动新闻", "宏观": None, "A&B": None}


class WebServer:
    """``feeds serve`` in a child process on 127.0.0.1, with a small site and its own state."""

    def __init__(self, root: Path, smtp_port: int, web_extra: str = ""):
        self.root = root
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.origin}/newsletter"
        self.state_dir = root / "state"
        self.log = root / "serve.log"
        site = SiteMaker(root / "site")
        for number, category in enumerate(WEB_CATEGORIES):
            site.post(
                f"2022-05-24-post-{number}.md", title=f"文章{number}", categories=f"'{category}'"
            )
        titles = "".join(
            f"    {name}: {{title: {title}}}\n" for name, title in WEB_CATEGORIES.items() if title
        )
        self.config = root / "config.yaml"
        self.config.write_text(
            "site_dir: site\nstate_dir: state\n"
            f"feeds:\n  categories:\n{titles}"
            'digest:\n  from: "金融消息 <digest@example.org>"\n  transport: smtp\n'
            f"  smtp: {{host: 127.0.0.1, port: {smtp_port}, security: none, retries: 0}}\n"
            f"web:\n  url: {self.url}\n{web_extra}",
            encoding="utf-8",
        )
        self.process = None

    def start(self, env: dict | None = None):
        import os

        environment = {**os.environ, "FEEDS_SECRET": WEB_SECRET, **(env or {})}
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                feeds_args("serve", "--config", self.config, "--port", self.port),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=environment,
            )
        self.wait_until_up()
        return self

    def wait_until_up(self) -> None:
        import httpx

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"feeds serve exited: {self.log.read_text()}")
            try:
                if httpx.get(f"{self.origin}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"feeds serve did not come up: {self.log.read_text()}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


@pytest.fixture(scope="module")
def module_smtp():
    """An SMTP server shared by the tests of one module (one web server per module)."""
    from aiosmtpd.controller import Controller

    handler = RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port
    yield handler
    controller.stop()


@pytest.fixture(scope="module")
def web_server(tmp_path_factory, module_smtp):
    """One ``feeds serve`` for a whole test module; tests use addresses of their own."""
    server = WebServer(
        tmp_path_factory.mktemp("web"), module_smtp.port, "  subscribe_limit: 10000\n"
    ).start()
    server.smtp = module_smtp
    yield server
    server.stop()


# A `feeds schedule` child process, for the scheduler's and the watcher's tests.


def wait_for(condition, timeout: float = 15.0, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("condition not met in time")


def recent(minutes_ago: int) -> str:
    """A post date in the last day of the real clock: the scheduler runs on real time."""
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%d %H:%M:%S +0000")


class Service:
    """A `feeds schedule` child process and its log file."""

    def __init__(self, tmp_path: Path, site_root: Path, config: str):
        self.config = tmp_path / "config.yaml"
        self.config.write_text(config, encoding="utf-8")
        self.log = tmp_path / "schedule.log"
        self.site = site_root
        self.process: subprocess.Popen | None = None

    def command(self, *extra: str) -> list[str]:
        return feeds_args(
            "schedule", "--config", str(self.config), "--site", str(self.site), *extra
        )

    def start(self) -> Service:
        self.process = subprocess.Popen(
            self.command("--log-file", str(self.log)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for(lambda: "next run" in self.text())
        return self

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8") if self.log.exists() else ""

    def lines(self, job: str) -> list[str]:
        return [line for line in self.text().splitlines() if f" {job}: started " in line]

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


@pytest.fixture
def service(tmp_path, site):
    services: list[Service] = []

    def make(config: str) -> Service:
        created = Service(tmp_path, site.root, config)
        services.append(created)
        return created

    yield make
    for created in services:
        if created.process and created.process.poll() is None:
            created.process.kill()
            created.process.wait()


# --- hypothesis profiles -------------------------------------------------------------------------
# CI runs a few hundred examples in all; HYPOTHESIS_PROFILE=long runs fifty times as many.
# Each property asks for ``examples(n)``: n in CI, scaled up by the long profile.

_SCALE = {"ci": 1, "long": 50}
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
for _name in _SCALE:
    hypothesis_settings.register_profile(
        _name,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        print_blob=True,
    )
hypothesis_settings.load_profile(PROFILE if PROFILE in _SCALE else "ci")


def examples(count: int) -> int:
    """How many examples a property runs under the current profile."""
    return count * _SCALE.get(PROFILE, 1)
