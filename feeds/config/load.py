"""From config.yaml and _config.yml to one ``Settings``, with every problem reported at once."""

from __future__ import annotations

import errno
import logging
import os
import stat
from dataclasses import dataclass, replace
from pathlib import Path

from feeds.config.files import (
    check_unique_subscribers,
    read_config_file,
    read_subscribers,
    resolve_site,
)
from feeds.config.schema import ConfigFile
from feeds.config.settings import Settings
from feeds.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_CONFIG = Path("config.yaml")


def load_settings(
    config_path: Path | None = None,
    *,
    site_dir: Path | None = None,
    output: Path | None = None,
) -> Settings:
    """Read config.yaml (if any) and the site's _config.yml; ConfigError lists every problem.

    Paths in config.yaml, and the defaults of those it leaves out, are relative
    to the folder that holds it, so the same config works whatever the current
    directory (a cron job's is /); paths given on the command line are
    relative to the current directory, as a shell user expects.
    """
    explicit = config_path is not None
    config_path = config_path if explicit else DEFAULT_CONFIG
    if config_path.is_file():
        raw = read_config_file(config_path)
    elif explicit:
        raise ConfigError("file not found", where=str(config_path))
    else:
        raw, config_path = ConfigFile(), None
    return settings_from(raw, config_path, site_dir=site_dir, output=output)


@dataclass(frozen=True)
class Paths:
    """The folders a config names, resolved against the folder that holds config.yaml."""

    site_dir: Path
    output: Path
    state_dir: Path
    templates_dir: Path | None
    subscribers_file: Path | None
    bounces_maildir: Path | None


def resolve_paths(
    raw: ConfigFile,
    config_path: Path | None,
    *,
    site_dir: Path | None = None,
    output: Path | None = None,
) -> Paths:
    base = config_path.parent if config_path else Path(".")
    return Paths(
        site_dir=site_dir or base / (raw.site_dir or "."),
        output=output or base / (raw.output or "public/feeds"),
        state_dir=base / raw.state_dir if raw.state_dir else base / ".feeds",
        templates_dir=base / raw.digest.templates_dir if raw.digest.templates_dir else None,
        subscribers_file=(
            base / raw.digest.subscribers_file if raw.digest.subscribers_file else None
        ),
        bounces_maildir=base / raw.bounces.maildir if raw.bounces.maildir else None,
    )


def settings_from(
    raw: ConfigFile,
    config_path: Path | None,
    *,
    site_dir: Path | None = None,
    output: Path | None = None,
    check_folders: bool = True,
) -> Settings:
    """Settings from a checked config.yaml; ConfigError lists every site and subscriber problem.

    ``feeds check`` reports the folders itself, with check_folders=False.
    """
    paths = resolve_paths(raw, config_path, site_dir=site_dir, output=output)
    if not paths.site_dir.is_dir():
        raise ConfigError("site folder not found", where=str(paths.site_dir))
    where = str(config_path) if config_path else None
    problems = []
    if check_folders:
        problems += folder_problems(paths, where, output_given=output is not None)
    try:
        site = replace(
            resolve_site(paths.site_dir, raw.site, where or "config.yaml"),
            max_post_bytes=raw.max_post_bytes,
        )
        for warning in site.warnings:
            log.warning("%s", warning)
    except ConfigError as exc:
        problems += str(exc).splitlines()
    subscribers = list(raw.digest.subscribers)
    try:
        if paths.subscribers_file:
            subscribers += read_subscribers(paths.subscribers_file)
        check_unique_subscribers(subscribers, config_path)
    except ConfigError as exc:
        problems += str(exc).splitlines()
    if problems:
        raise ConfigError(problems)
    return Settings(
        config_path,
        paths.site_dir,
        paths.output,
        paths.state_dir,
        site,
        raw.feeds,
        raw,
        subscribers,
        paths.templates_dir,
        paths.bounces_maildir,
    )


def folder_problems(paths: Paths, where: str | None, *, output_given: bool) -> list[str]:
    """One line for each folder feeds writes to that it could not create or write in.

    Checked before any work, so a misplaced path is one line at the start
    rather than a traceback halfway through a build or a digest.
    """
    named = [
        ("state_dir", paths.state_dir),
        ("--output" if output_given else "output", paths.output),
    ]
    lines = []
    for key, folder in named:
        problem = folder_problem(folder)
        if problem is None and folder is paths.output:
            problem = output_placement_problem(paths)
        if problem:
            prefix = f"{where}: " if where and not key.startswith("--") else ""
            lines.append(f"{prefix}{key}: {problem}")
    return lines


def output_placement_problem(paths: Paths) -> str | None:
    """Why the output folder is in a place where publishing and removing our files would do harm.

    A build removes feed files it no longer produces and writes folders named
    after categories: inside `_posts/` they would become posts, over the site
    or the state folder they would mix with files that are not feeds.
    """
    output, site, state = (
        path.resolve() for path in (paths.output, paths.site_dir, paths.state_dir)
    )
    posts = site / "_posts"
    if output.parent == output:
        return f"{paths.output} is the root of a file system; name a folder for the feeds"
    if output == posts or output.is_relative_to(posts):
        return f"{paths.output} is inside the site's _posts folder, where feeds would become posts"
    if site.is_relative_to(output):
        return f"{paths.output} holds the site itself; name a folder such as _site/feeds"
    if output == state or output.is_relative_to(state) or state.is_relative_to(output):
        return f"{paths.output} overlaps state_dir ({paths.state_dir}); keep them apart"
    return None


def folder_problem(folder: Path) -> str | None:
    """Why a run could not write into ``folder`` (creating it if need be), or None.

    Asks the operating system (access(2)) instead of writing a probe file, so
    checking leaves nothing behind; a read-only file system counts as not writable.
    """
    target, mode = nearest_existing(folder.absolute())
    prefix = "" if target == folder.absolute() else f"cannot create {folder}: "
    if not stat.S_ISDIR(mode):
        return f"{prefix}{target} is a file, not a folder"
    if not os.access(target, os.W_OK | os.X_OK):
        return f"{prefix}{target} is not writable"
    return None


_ABSENT = (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP)


def nearest_existing(path: Path) -> tuple[Path, int]:
    """``path`` or its nearest existing parent, with its mode from the same stat call.

    One call, not ``exists()`` then ``is_dir()``: a build of the scheduler may
    create and remove the output folder (``check_creatable``) between two
    calls, and a folder gone by the second looked like a file.
    """
    while True:
        try:
            return path, path.stat().st_mode
        except OSError as exc:  # the errors for which Path.exists() says False
            if exc.errno not in _ABSENT or path.parent == path:
                raise
            path = path.parent


def web_secrets(settings: Settings) -> list[str]:
    """The signing keys from the environment: the current one first, then old ones still accepted.

    Keys never live in config.yaml, which is often in version control.
    """
    web = settings.web
    if web is None:
        raise ConfigError("web: missing (the web section holds the URL and the secret's name)")
    current = os.environ.get(web.secret_env, "").strip()
    if not current:
        raise ConfigError(f"environment variable {web.secret_env} is not set")
    old = os.environ.get(web.old_secrets_env, "") if web.old_secrets_env else ""
    keys = [current, *(key.strip() for key in old.split(",") if key.strip())]
    names = [web.secret_env] + [str(web.old_secrets_env)] * (len(keys) - 1)
    for name, key in zip(names, keys, strict=True):
        if problem := short_key(name, key):
            raise ConfigError(problem)
    return keys


MIN_KEY_BYTES = 32


def short_key(name: str, key: str) -> str | None:
    """Why a signing key is too weak to sign links that never expire, or None.

    Anyone who guesses it can unsubscribe or re-point any reader; 32 bytes is
    what ``secrets.token_urlsafe(32)`` gives and beyond any guessing.
    """
    size = len(key.strip().encode("utf-8"))
    if size >= MIN_KEY_BYTES:
        return None
    unit = "byte" if size == 1 else "bytes"
    return (
        f"environment variable {name} holds {size} {unit}; a signing key needs at least "
        f"{MIN_KEY_BYTES} (python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
    )
