"""config.yaml and the Jekyll site's _config.yml: the only place settings are parsed and checked.

Every problem is reported, each on its own line, naming the file and the key,
so an operator fixes a config in one round instead of one error at a time.

``values`` checks single values, ``schema`` is config.yaml's model, ``files``
reads the files, ``settings`` holds the resolved result and ``load`` puts them
together. The rest of feeds imports from here.
"""

from feeds.config.files import describe_validation_errors, read_unique_mapping, read_yaml_mapping
from feeds.config.load import (
    DEFAULT_CONFIG,
    folder_problem,
    load_settings,
    resolve_paths,
    settings_from,
    short_key,
    web_secrets,
)
from feeds.config.schema import ConfigFile, FeedOptions, SmtpOptions, Subscriber, WebOptions
from feeds.config.settings import Settings, Site, Window
from feeds.config.values import format_duration, parse_author

__all__ = [
    "DEFAULT_CONFIG",
    "ConfigFile",
    "FeedOptions",
    "Settings",
    "Site",
    "SmtpOptions",
    "Subscriber",
    "WebOptions",
    "Window",
    "describe_validation_errors",
    "folder_problem",
    "format_duration",
    "load_settings",
    "parse_author",
    "read_unique_mapping",
    "read_yaml_mapping",
    "resolve_paths",
    "settings_from",
    "short_key",
    "web_secrets",
]
