"""feeds: per-category RSS and Atom feeds and a daily email digest for Jekyll sites."""

__version__ = "0.1.0"
