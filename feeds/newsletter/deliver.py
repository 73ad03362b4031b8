"""Hand messages over: to a local Maildir outbox or to an SMTP server. The network edge.

A transport answers each message with success, a permanent refusal for that
recipient (logged, the others go on), or raises: ``RecipientDeferred`` when the
server kept saying "try later" about that one recipient (mailbox full) through
every retry, ``TransientFailure`` when the server stayed unreachable or said
"try later" to the whole message, ``DeliveryError`` when nothing can be sent at
all (bad credentials, sender refused). Secrets come from environment variables
and never reach a log.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from feeds.config import SmtpOptions
from feeds.errors import ConfigError, DeliveryError
from feeds.newsletter.mailpolicy import policy_for

log = logging.getLogger(__name__)


class TransientFailure(Exception):
    """The server could not take the message now; a later run may succeed."""


class RecipientDeferred(TransientFailure):
    """The server said "try later" about this recipient only; the others can go on."""


class PermanentFailure(Exception):
    """The server refused this recipient for good (5xx)."""


class Transport(Protocol):
    def send(self, message: EmailMessage | bytes, sender: str, recipient: str) -> None: ...

    def close(self) -> None: ...


def flattened(message: EmailMessage | bytes, sender: str, recipient: str) -> bytes:
    """The bytes that go out; a digest comes already flattened (feeds.newsletter.wire)."""
    if isinstance(message, bytes):
        return message
    return message.as_bytes(policy=policy_for(sender, recipient))


def message_id_of(message: EmailMessage | bytes) -> str:
    if not isinstance(message, bytes):
        return str(message["Message-ID"])
    head = message.split(b"\r\n\r\n", 1)[0]
    found = re.search(rb"^Message-ID:[ \t]*(.*(?:\r\n[ \t].*)*)", head, re.M | re.I)
    return " ".join(found.group(1).decode("ascii", "replace").split()) if found else ""


class Outbox:
    """A Maildir under the state directory, readable by any mail client.

    File names derive from the Message-ID, so handing the same message over
    twice (a crash between writing and recording) leaves one copy, not two.
    """

    def __init__(self, folder: Path):
        self.folder = folder
        for sub in ("tmp", "new", "cur"):
            (folder / sub).mkdir(parents=True, exist_ok=True)

    def send(self, message: EmailMessage | bytes, sender: str, recipient: str) -> None:
        name = hashlib.sha256(message_id_of(message).encode()).hexdigest()[:32] + ".feeds"
        if (self.folder / "new" / name).exists() or any((self.folder / "cur").glob(name + "*")):
            return
        temporary = self.folder / "tmp" / name
        with open(temporary, "wb") as stream:
            stream.write(flattened(message, sender, recipient))
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, self.folder / "new" / name)

    def close(self) -> None:
        pass


class _Deadline:
    """Makes the SMTP ``timeout`` a deadline for a whole exchange, not a limit per read.

    smtplib gives the socket timeout to every read, so a server trickling one
    byte every few seconds could hold a run for as long as it liked. Here a
    connection's greeting and handshake share one deadline, and so does each
    message from MAIL FROM to the server's final answer.
    """

    timeout: float
    sock: socket.socket | None
    file: io.BufferedReader | None

    def __init__(self, *args, **kwargs):
        self.deadline = time.monotonic() + kwargs["timeout"]
        super().__init__(*args, **kwargs)

    def restart_deadline(self) -> None:
        self.deadline = time.monotonic() + self.timeout

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no complete answer within {self.timeout:g}s")
        return left

    def send(self, s) -> None:
        if self.sock is not None:
            self.sock.settimeout(self.remaining())
        super().send(s)  # type: ignore[misc]

    def getreply(self):
        if self.file is None and self.sock is not None:
            self.file = io.BufferedReader(_DeadlineReader(self))
        return super().getreply()  # type: ignore[misc]


class _DeadlineReader(io.RawIOBase):
    """The socket's bytes, each read allowed only the time left until the deadline."""

    def __init__(self, connection: _Deadline):
        self.connection = connection

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        sock = self.connection.sock
        if sock is None:
            return 0
        sock.settimeout(self.connection.remaining())
        try:
            return sock.recv_into(buffer)
        except TimeoutError:
            raise TimeoutError(f"no complete answer within {self.connection.timeout:g}s") from None


class _SMTP(_Deadline, smtplib.SMTP):
    pass


class _SMTP_SSL(_Deadline, smtplib.SMTP_SSL):
    pass


def _credentials(options: SmtpOptions) -> tuple[str, str] | None:
    if not options.username_env:
        return None
    user = os.environ.get(options.username_env)
    password = os.environ.get(options.password_env or "")
    missing = [
        name
        for name, value in ((options.username_env, user), (options.password_env, password))
        if not value
    ]
    if missing:
        raise ConfigError(
            f"digest.smtp: environment variable {' and '.join(str(m) for m in missing)} "
            "not set (SMTP credentials are read from the environment)"
        )
    return user or "", password or ""


class Pace:
    """The ``rate_limit``, shared by every connection of a run: the server sees one sender.

    Each message takes the next free slot, ``1 / rate_limit`` seconds after the
    previous slot, and waits for it; a lock makes the slots unique across threads.
    """

    def __init__(
        self,
        rate: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.interval = 1 / rate if rate else 0.0
        self.sleep = sleep
        self.clock = clock
        self.next_slot: float | None = None
        self.lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = self.clock()
            slot = now if self.next_slot is None else max(now, self.next_slot)
            self.next_slot = slot + self.interval
        if slot > now:
            self.sleep(slot - now)


class Smtp:
    """One reused SMTP connection with TLS verification, retries with backoff and a rate limit."""

    def __init__(
        self,
        options: SmtpOptions,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        pace: Pace | None = None,
    ):
        self.options = options
        self.credentials = _credentials(options)
        self.context = self.tls_context() if options.security != "none" else None
        self.sleep = sleep
        self.pace = pace or Pace(options.rate_limit, sleep=sleep, clock=clock)
        self.connection: _SMTP | _SMTP_SSL | None = None

    def tls_context(self) -> ssl.SSLContext:
        """The system's CAs, plus ``ca_file``; a ca_file that is no CA is a config error."""
        cafile = str(self.options.ca_file) if self.options.ca_file else None
        try:
            return ssl.create_default_context(cafile=cafile)
        except OSError as exc:  # ssl.SSLError is one too
            reason = exc.reason if isinstance(exc, ssl.SSLError) else exc.strerror
            raise ConfigError(f"digest.smtp.ca_file: cannot load {cafile}: {reason}") from None

    def connect(self) -> _SMTP | _SMTP_SSL:
        """Open a session up to the first MAIL FROM, or say why the server cannot take mail.

        Whatever goes wrong here is about the server, never about a recipient:
        a refused greeting or EHLO, or an unreadable answer, is a
        ``TransientFailure`` (the recipients stay pending); a missing STARTTLS
        or an untrusted certificate is a ``DeliveryError`` (never a clear-text
        fallback).
        """
        where = f"{self.options.host}:{self.options.port}"
        connection = None
        try:
            connection = self.handshake()
            self.log_in(connection)
            return connection
        except smtplib.SMTPNotSupportedError as exc:  # no STARTTLS, or no AUTH
            failure: Exception = DeliveryError(str(exc), where=where)
        except ssl.SSLCertVerificationError as exc:
            failure = DeliveryError(
                f"TLS certificate not trusted: {exc.verify_message}", where=where
            )
        except smtplib.SMTPResponseException as exc:
            if _is_reply(exc.smtp_code, exc.smtp_error):
                reason = f"refused the session: {exc.smtp_code} {_text(exc.smtp_error)}"
            else:
                reason = f"gave no readable answer: {_text(exc.smtp_error)}"
            failure = TransientFailure(f"{where} {reason}")
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            failure = TransientFailure(f"cannot reach {where}: {exc}")
        if connection is not None:
            connection.close()
        raise failure from None

    def handshake(self) -> _SMTP | _SMTP_SSL:
        """Greeting, EHLO (or HELO) and STARTTLS, so that sendmail() starts at MAIL FROM."""
        options = self.options
        if options.security == "tls":
            connection: _SMTP | _SMTP_SSL = _SMTP_SSL(
                options.host, options.port, timeout=options.timeout, context=self.context
            )
        else:
            connection = _SMTP(options.host, options.port, timeout=options.timeout)
            if options.security == "starttls":
                connection.ehlo_or_helo_if_needed()
                if not connection.has_extn("starttls"):
                    raise smtplib.SMTPNotSupportedError(
                        "the server does not offer STARTTLS (security: starttls); "
                        "nothing is sent in clear text"
                    )
                connection.starttls(context=self.context)
        connection.ehlo_or_helo_if_needed()
        return connection

    def log_in(self, connection: _SMTP | _SMTP_SSL) -> None:
        """AUTH with the credentials, if any; refused credentials stop the whole run."""
        if not self.credentials:
            return
        try:
            connection.login(*self.credentials)
        except smtplib.SMTPAuthenticationError as exc:
            connection.close()
            raise DeliveryError(
                f"SMTP login refused: {exc.smtp_code} {_text(exc.smtp_error)}",
                where=f"{self.options.host}:{self.options.port}",
            ) from None

    def send(self, message: EmailMessage | bytes, sender: str, recipient: str) -> None:
        attempts = self.options.retries + 1
        for attempt in range(1, attempts + 1):
            self.pace.wait()
            try:
                self._send_once(message, sender, recipient)
                return
            except TransientFailure as exc:
                if not isinstance(exc, RecipientDeferred):
                    self.close()
                if attempt == attempts:
                    raise
                delay = self.options.backoff * 2 ** (attempt - 1)
                log.warning("%s: %s; retry %d in %.1fs", recipient, exc, attempt, delay)
                self.sleep(delay)

    def _send_once(self, message: EmailMessage | bytes, sender: str, recipient: str) -> None:
        where = f"{self.options.host}:{self.options.port}"
        try:
            if self.connection is None:
                self.connection = self.connect()
            data = flattened(message, sender, recipient)  # once, not again by smtplib
            options = [] if (sender + recipient).isascii() else ["SMTPUTF8"]
            self.connection.restart_deadline()
            self.connection.sendmail(sender, [recipient], data, mail_options=options)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = exc.recipients.get(recipient, (550, b"refused"))
            _classify(code, text, about_recipient=True)
        except smtplib.SMTPNotSupportedError as exc:  # SMTPUTF8, raised before anything is sent
            if not sender.isascii():
                raise DeliveryError(f"sender {sender}: {exc}", where=where) from None
            raise PermanentFailure(f"{exc}: cannot send to a non-ASCII address") from None
        except smtplib.SMTPSenderRefused as exc:
            if not _is_reply(exc.smtp_code, exc.smtp_error):
                raise TransientFailure(_unreadable(exc.smtp_code, exc.smtp_error)) from None
            if exc.smtp_code >= 500:
                raise DeliveryError(
                    f"sender {sender} refused: {exc.smtp_code} {_text(exc.smtp_error)}", where=where
                ) from None
            raise TransientFailure(f"{exc.smtp_code} {_text(exc.smtp_error)}") from None
        except smtplib.SMTPDataError as exc:  # the answer to this one message
            _classify(exc.smtp_code, exc.smtp_error, about_recipient=False)
        except smtplib.SMTPResponseException as exc:  # any other answer is about the session
            if not _is_reply(exc.smtp_code, exc.smtp_error):
                raise TransientFailure(_unreadable(exc.smtp_code, exc.smtp_error)) from None
            raise TransientFailure(f"{exc.smtp_code} {_text(exc.smtp_error)}") from None
        except (TimeoutError, smtplib.SMTPServerDisconnected, OSError) as exc:
            raise TransientFailure(f"cannot reach {where}: {exc}") from None

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.restart_deadline()
                self.connection.quit()
            except (smtplib.SMTPException, OSError):
                self.connection.close()
            self.connection = None


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


# RFC 3463 enhanced status codes X.1.* (address) and X.2.* (mailbox) are about one recipient.
_MAILBOX_STATUS = re.compile(r"^4\.[12]\.\d{1,3}\b")


def _is_reply(code: int, text: bytes | str) -> bool:
    """Whether an error carries a real 4xx/5xx answer of the server.

    smtplib makes some up: ``-1`` for a line without a code, ``500 "Line too
    long."`` (as a str; a server's text is bytes) for an oversized line. Those,
    and codes like 999, say the session is broken, not that a recipient is.
    """
    return isinstance(text, bytes) and 400 <= code < 600


def _unreadable(code: int, text: bytes | str) -> str:
    shown = _text(text) if code < 0 else f"{code} {_text(text)}"
    return f"unreadable answer from the server: {shown}"


def _classify(code: int, text: bytes | str, *, about_recipient: bool) -> None:
    """Raise the failure an SMTP answer to RCPT TO or to DATA means.

    A "try later" is about one recipient when it answers RCPT TO, or when its
    enhanced status code names the address or the mailbox (``452 4.2.2 mailbox
    full`` after DATA); any other "try later" is about the server, and so is an
    answer that is no SMTP reply.
    """
    if not _is_reply(code, text):
        raise TransientFailure(_unreadable(code, text))
    message = f"{code} {_text(text)}"
    if 400 <= code < 500:
        if about_recipient or _MAILBOX_STATUS.match(_text(text)):
            raise RecipientDeferred(message)
        raise TransientFailure(message)
    raise PermanentFailure(message)


def open_transport(kind: str, options: SmtpOptions, state_dir: Path) -> Transport:
    if kind == "smtp":
        return Smtp(options)
    return Outbox(state_dir / "outbox")


def open_transports(kind: str, options: SmtpOptions, state_dir: Path) -> list[Transport]:
    """One transport per parallel connection (``smtp.connections``), sharing one rate limit.

    The outbox is one writer: a local disk gains nothing from several.
    """
    if kind != "smtp":
        return [Outbox(state_dir / "outbox")]
    pace = Pace(options.rate_limit)
    return [Smtp(options, pace=pace) for _ in range(options.connections)]
