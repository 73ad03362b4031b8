"""SMTP delivery: retries with backoff, the rate limit, and what counts as permanent."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from feeds.config import SmtpOptions
from feeds.newsletter.deliver import (
    Pace,
    PermanentFailure,
    RecipientDeferred,
    Smtp,
    TransientFailure,
    open_transports,
)
from tests.conftest import free_port


def message(number: int = 0) -> EmailMessage:
    mail = EmailMessage()
    mail["Message-ID"] = f"<m{number}@example.org>"
    mail["Subject"] = "test"
    mail.set_content("hello")
    return mail


class FakeClock:
    """Time that only moves when the code under test sleeps: no test waits for real."""

    def __init__(self):
        self.now = 100.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 3))
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def test_an_unreachable_server_is_retried_with_doubling_backoff_then_left_for_later():
    clock = FakeClock()
    options = SmtpOptions(host="127.0.0.1", port=free_port(), security="none", retries=3, backoff=2)
    transport = Smtp(options, sleep=clock.sleep, clock=clock)
    with pytest.raises(TransientFailure, match=r"cannot reach 127\.0\.0\.1"):
        transport.send(message(), "a@example.org", "b@example.org")
    assert clock.sleeps == [2, 4, 8]


def test_a_busy_server_is_retried_and_then_accepts(smtp_server):
    clock = FakeClock()
    smtp_server.fail_after = 0  # answers 451 until the client has waited once

    def wait(seconds: float) -> None:
        clock.sleep(seconds)
        smtp_server.fail_after = None

    options = SmtpOptions(port=smtp_server.port, security="none", retries=2, backoff=1)
    transport = Smtp(options, sleep=wait)
    transport.send(message(), "a@example.org", "b@example.org")
    transport.close()
    assert clock.sleeps == [1] and len(smtp_server.messages) == 1


def test_the_rate_limit_spaces_messages_out(smtp_server):
    clock = FakeClock()
    options = SmtpOptions(port=smtp_server.port, security="none", rate_limit=4)
    transport = Smtp(options, sleep=clock.sleep, clock=clock)
    for number in range(3):
        transport.send(message(number), "a@example.org", f"r{number}@example.org")
    transport.close()
    assert clock.sleeps == [0.25, 0.25]
    assert len(smtp_server.messages) == 3


def test_the_rate_limit_holds_for_all_connections_together(smtp_server):
    clock = FakeClock()
    options = SmtpOptions(port=smtp_server.port, security="none", rate_limit=4)
    pace = Pace(options.rate_limit, sleep=clock.sleep, clock=clock)
    connections = [Smtp(options, pace=pace), Smtp(options, pace=pace)]
    for number in range(4):
        connections[number % 2].send(message(number), "a@example.org", f"r{number}@example.org")
    for connection in connections:
        connection.close()
    assert clock.sleeps == [0.25, 0.25, 0.25]
    assert len(smtp_server.messages) == 4


def test_each_parallel_connection_is_its_own_transport_with_one_shared_pace(tmp_path):
    options = SmtpOptions(security="none", connections=3, rate_limit=10)
    transports = open_transports("smtp", options, tmp_path)
    assert len({id(t) for t in transports}) == 3
    assert len({id(t.pace) for t in transports}) == 1
    assert len(open_transports("outbox", options, tmp_path)) == 1


def test_one_connection_serves_many_messages(smtp_server):
    transport = Smtp(SmtpOptions(port=smtp_server.port, security="none"))
    transport.send(message(1), "a@example.org", "r1@example.org")
    first = transport.connection
    transport.send(message(2), "a@example.org", "r2@example.org")
    assert transport.connection is first
    transport.close()


def test_a_refused_recipient_is_permanent(smtp_server):
    smtp_server.refuse = {"gone@example.org"}
    transport = Smtp(SmtpOptions(port=smtp_server.port, security="none"))
    with pytest.raises(PermanentFailure, match=r"550 5\.1\.1 no such user here"):
        transport.send(message(), "a@example.org", "gone@example.org")
    transport.send(message(1), "a@example.org", "here@example.org")
    transport.close()
    assert [rcpts for _, rcpts, _ in smtp_server.messages] == [["here@example.org"]]


def test_missing_credentials_are_a_config_error(monkeypatch):
    from feeds.errors import ConfigError

    monkeypatch.delenv("NO_SUCH_USER_VAR", raising=False)
    options = SmtpOptions(username_env="NO_SUCH_USER_VAR", password_env="NO_SUCH_PASSWORD_VAR")
    with pytest.raises(ConfigError) as caught:
        Smtp(options)
    assert str(caught.value) == (
        "digest.smtp: environment variable NO_SUCH_USER_VAR and NO_SUCH_PASSWORD_VAR not set "
        "(SMTP credentials are read from the environment)"
    )


def test_a_full_mailbox_is_deferred_after_retries_and_the_connection_serves_the_next(smtp_server):
    clock = FakeClock()
    smtp_server.answers = {"full@example.org": "452 4.2.2 mailbox full"}
    options = SmtpOptions(port=smtp_server.port, security="none", retries=2, backoff=1)
    transport = Smtp(options, sleep=clock.sleep)
    with pytest.raises(RecipientDeferred, match=r"452 4\.2\.2 mailbox full"):
        transport.send(message(), "a@example.org", "full@example.org")
    transport.send(message(1), "a@example.org", "here@example.org")
    transport.close()
    assert clock.sleeps == [1, 2]
    assert smtp_server.rcpts == ["full@example.org"] * 3 + ["here@example.org"]


def test_a_try_later_after_the_message_is_about_the_recipient_only_for_mailbox_codes(
    smtp_server,
):
    smtp_server.fail_after = 0
    transport = Smtp(SmtpOptions(port=smtp_server.port, security="none", retries=0))
    with pytest.raises(TransientFailure) as server_wide:
        transport.send(message(), "a@example.org", "b@example.org")
    smtp_server.busy_answer = "452 4.2.2 mailbox full"
    with pytest.raises(RecipientDeferred) as one_recipient:
        transport.send(message(1), "a@example.org", "b@example.org")
    transport.close()
    assert not isinstance(server_wide.value, RecipientDeferred)
    assert str(one_recipient.value) == "452 4.2.2 mailbox full"


def test_smtputf8_not_offered_is_permanent_for_a_non_ascii_address(ascii_smtp_server):
    transport = Smtp(SmtpOptions(port=ascii_smtp_server.port, security="none"))
    with pytest.raises(PermanentFailure, match="SMTPUTF8 not supported by server"):
        transport.send(message(), "a@example.org", "读者@example.org")
    transport.send(message(1), "a@example.org", "here@example.org")
    transport.close()
    assert [rcpts for _, rcpts, _ in ascii_smtp_server.messages] == [["here@example.org"]]


class TricklingServer:
    """Just enough SMTP, then the answer to the message one byte every `gap` seconds."""

    REPLY = b"250 2.0.0 queued as " + b"0123456789" * 5 + b"\r\n"

    def __init__(self, gap: float):
        import socket
        import threading

        self.gap = gap
        self.trickled = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        import time

        connection, _ = self.listener.accept()
        with connection, connection.makefile("rb") as lines:
            connection.sendall(b"220 slow.example.org ESMTP\r\n")
            for line in lines:
                command = line[:4].upper()
                if command == b"DATA":
                    connection.sendall(b"354 go ahead\r\n")
                    while next(lines, b".\r\n") != b".\r\n":
                        pass
                    for byte in self.REPLY:
                        try:
                            connection.sendall(bytes([byte]))
                        except OSError:  # the client gave up, as it should
                            return
                        self.trickled += 1
                        time.sleep(self.gap)
                    return
                connection.sendall(b"221 bye\r\n" if command == b"QUIT" else b"250 ok\r\n")

    def close(self) -> None:
        self.listener.close()


def test_the_timeout_is_a_deadline_for_the_whole_answer_not_for_each_byte():
    server = TricklingServer(gap=0.1)  # the whole answer takes over 7 s
    options = SmtpOptions(port=server.port, security="none", timeout=0.5, retries=0)
    transport = Smtp(options)
    try:
        with pytest.raises(TransientFailure, match=r"no complete answer within 0\.5s"):
            transport.send(message(), "a@example.org", "b@example.org")
    finally:
        transport.close()
        server.close()
    assert server.trickled < len(TricklingServer.REPLY)


def test_a_ca_file_that_holds_no_certificate_is_a_config_error(tmp_path):
    from feeds.errors import ConfigError

    not_a_ca = tmp_path / "ca.pem"
    not_a_ca.write_text("hello\n", encoding="utf-8")
    options = SmtpOptions(port=free_port(), security="starttls", ca_file=not_a_ca)
    with pytest.raises(ConfigError) as caught:
        Smtp(options)
    assert str(caught.value) == (
        f"digest.smtp.ca_file: cannot load {not_a_ca}: NO_CERTIFICATE_OR_CRL_FOUND"
    )
    assert caught.value.exit_code == 2


SERVER_FAILURES = [
    ("greeting-554", "127.0.0.1:{port} refused the session: 554 no service here"),
    ("ehlo-550", "127.0.0.1:{port} refused the session: 550 5.7.1 go away"),
    ("huge-ehlo", "127.0.0.1:{port} gave no readable answer: Line too long."),
    ("rcpt-garbage", "unreadable answer from the server: arbage"),
    ("rcpt-999", "unreadable answer from the server: 999 weird"),
]


@pytest.mark.parametrize(("mode", "expected"), SERVER_FAILURES)
def test_a_server_that_breaks_the_session_is_a_transient_failure_never_a_recipients(
    misbehaving_smtp, mode, expected
):
    server = misbehaving_smtp(mode)
    options = SmtpOptions(port=server.port, security="none", retries=0)
    transport = Smtp(options)
    with pytest.raises(TransientFailure) as caught:
        transport.send(message(), "a@example.org", "b@example.org")
    assert not isinstance(caught.value, (RecipientDeferred, PermanentFailure))
    assert str(caught.value) == expected.format(port=server.port)
    assert transport.connection is None


def test_starttls_missing_is_a_delivery_error_never_a_clear_text_fallback(smtp_server):
    from feeds.errors import DeliveryError

    transport = Smtp(SmtpOptions(port=smtp_server.port, security="starttls", retries=0))
    with pytest.raises(DeliveryError) as caught:
        transport.send(message(), "a@example.org", "b@example.org")
    assert str(caught.value) == (
        f"127.0.0.1:{smtp_server.port}: the server does not offer STARTTLS "
        "(security: starttls); nothing is sent in clear text"
    )
    assert smtp_server.rcpts == [] and smtp_server.messages == []
