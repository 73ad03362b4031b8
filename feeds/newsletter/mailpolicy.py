"""How messages become bytes: the SMTP policy, except that URI list headers are never encoded.

The stdlib folds a header word longer than a line into RFC 2047 encoded words
(``=?utf-8?q?=3Chttps=3A//...?=``). For List-Unsubscribe that is fatal: mail
providers read no URI there, and one-click silently fails for exactly the
readers with a long address or token. These headers are folded only between
their ``<URI>`` elements, as RFC 2369 allows; a line may then run past 78
characters (RFC 5322 allows 998), which is what every large sender does.
"""

from __future__ import annotations

from email.headerregistry import Address
from email.policy import SMTP, EmailPolicy

URI_HEADERS = frozenset({"list-unsubscribe", "list-unsubscribe-post"})


class MailPolicy(EmailPolicy):
    def fold(self, name: str, value) -> str:
        if name.lower() in URI_HEADERS and str(value).isascii():
            return self._fold_between_uris(name, str(value))
        return super().fold(name, value)

    def fold_binary(self, name: str, value) -> bytes:
        if name.lower() in URI_HEADERS and str(value).isascii():
            return self._fold_between_uris(name, str(value)).encode("ascii")
        return super().fold_binary(name, value)

    def _fold_between_uris(self, name: str, value: str) -> str:
        parts = [part.strip() for part in value.split(">,")]
        joined = ("," + self.linesep + " ").join(
            part if index == len(parts) - 1 else part + ">" for index, part in enumerate(parts)
        )
        return f"{name}: {joined}{self.linesep}"


MAIL = MailPolicy(linesep=SMTP.linesep)
# For messages that go out with SMTPUTF8 anyway (RFC 6531/6532): headers in plain UTF-8,
# because an encoded word inside an address (``<=?utf-8?b?...?=@example.com>``) is no address.
MAIL_UTF8 = MAIL.clone(utf8=True)


def policy_for(sender: str, recipient: str) -> EmailPolicy:
    """The policy that matches the envelope: UTF-8 headers exactly when SMTPUTF8 is used."""
    return MAIL if (sender + recipient).isascii() else MAIL_UTF8


def recipient_address(display_name: str, email: str) -> Address:
    """The To: address with its domain IDNA-encoded (``xn--``), which every server reads.

    A non-ASCII local part has no ASCII form; ``policy_for`` writes it as UTF-8.
    """
    from email_validator import EmailNotValidError, validate_email

    try:
        valid = validate_email(email, check_deliverability=False)
    except EmailNotValidError:
        user, _, host = email.rpartition("@")
        return Address(display_name, user, host)
    return Address(display_name, valid.local_part, valid.ascii_domain)
