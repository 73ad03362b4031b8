"""The errors a user can fix.

Each carries the file (or config key) it is about, so the CLI can print one
line that tells the user where to look, and an exit code that means something.
Anything that is not a ``FeedsError`` is a bug and keeps its traceback.
"""

from __future__ import annotations


class FeedsError(Exception):
    """A problem in the user's input or environment, reported in one line."""

    exit_code = 1

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        return f"{text} ({self.hint})" if self.hint else text


class ConfigError(FeedsError):
    """config.yaml or _config.yml is unusable. May hold several problems, one per line."""

    exit_code = 2

    def __init__(self, problems: list[str] | str, *, where: str | None = None):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems), where=where)

    def __str__(self) -> str:
        if self.where:
            return "\n".join(f"{self.where}: {p}" for p in self.problems)
        return "\n".join(self.problems)


class StrictError(FeedsError):
    """--strict was given and there were warnings; they travel with it, so the
    user sees what to fix and not just how many there were."""

    def __init__(self, message: str, warnings: list[str] | None = None):
        super().__init__(message)
        self.warnings = list(warnings or [])


class TemplateError(FeedsError):
    """A digest template does not load or render."""


class DeliveryError(FeedsError):
    """Mail could not be handed over (server unreachable, refused, bad credentials)."""


class StateError(FeedsError):
    """The state database in state_dir cannot be opened or read (corrupt, not SQLite)."""


class AddressError(FeedsError):
    """An email address that is not one (syntax only; no DNS look-up)."""

    exit_code = 2


class LockedError(FeedsError):
    """Another process holds the lock on the state directory: try again later."""

    exit_code = 3
