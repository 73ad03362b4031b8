"""YAML that can neither hang nor crash a run: for front matter, config.yaml and _config.yml.

PyYAML shares the value an alias points to instead of copying it, so a
379-byte "billion laughs" document loads at once; the harm comes later, when
anything walks it (a title turned into text, categories flattened, a config
validated) and meets 10⁹ values. The loader therefore measures how much the
aliases would expand to and refuses a document past ``MAX_ALIAS_VALUES``; the
anchors and merge keys people really write (``<<: *defaults``) stay far below.

YAML timestamps that name no real instant (``2022-13-45``, ``2022-02-30``, an
offset of ``+25:00``, a time that leaves the years datetime can hold once moved
to UTC) stay the text they were written as, so a bad date is a problem of one
value, reported where that value is used, instead of an exception that ends
the run.

Front matter of the everyday shape (``key: value`` lines, nothing nested) is
read line by line by ``load_simple``, in about a third of the time PyYAML
takes to build its nodes and values; the values still come from PyYAML's own
resolver and constructors, and anything it does not recognise as that shape
goes to the full loader, so the result is the same either way.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from typing import Any, NamedTuple

import yaml

MAX_ALIAS_VALUES = 10_000  # values that aliases may add to a document, in all


class TooManyAliases(yaml.YAMLError):
    """The document's aliases expand to more values than any real config or post needs."""

    def __init__(self, mark: Any):
        self.problem = f"its aliases (*name) expand to more than {MAX_ALIAS_VALUES:,} values"
        self.problem_mark = mark
        super().__init__(self.problem)


class RecursiveAlias(yaml.YAMLError):
    """An alias inside the value it names: a structure with no end, which nothing can print."""

    def __init__(self, mark: Any):
        self.problem = "an alias (*name) refers to a value that contains it"
        self.problem_mark = mark
        super().__init__(self.problem)


class TooDeep(yaml.YAMLError):
    """Lists or mappings nested so deeply that PyYAML's own parser, which recurses, cannot
    read them; no config or post needs more than a handful of levels."""

    def __init__(self):
        self.problem = "lists or mappings nested too deeply (hundreds of levels)"
        self.problem_mark = None
        super().__init__(self.problem)


class BadDate(ValueError):
    """A timestamp that names no real instant, where dates must be real (config files)."""


def construct_timestamp(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    """A datetime or date, or the text as written when it names no real instant."""
    try:
        value = yaml.constructor.SafeConstructor.construct_yaml_timestamp(loader, node)
        if isinstance(value, datetime) and value.tzinfo is not None:
            value.astimezone(UTC)  # raises OverflowError at the edges of year 1 and 9999
    except (ValueError, OverflowError) as exc:
        if loader.bad_dates_as_text:
            return loader.construct_scalar(node)
        raise BadDate(str(exc)) from None
    return value


class _FastLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """libyaml's parser: for the front matter of 100,000 posts."""

    bad_dates_as_text = True


class _ClearLoader(yaml.SafeLoader):
    """PyYAML's own parser: slower, and clearer about where a syntax error is."""

    bad_dates_as_text = True


for _loader in (_FastLoader, _ClearLoader):
    _loader.add_constructor("tag:yaml.org,2002:timestamp", construct_timestamp)


class Duplicate(NamedTuple):
    """A key written twice in one mapping: PyYAML keeps the last without a word."""

    key: str  # dotted from the top: digest.smtp.host
    line: int
    first_line: int


def load(
    text: str,
    *,
    fast: bool = True,
    bad_dates_as_text: bool = True,
    duplicates: list[Duplicate] | None = None,
) -> Any:
    """The one document in ``text``; yaml.YAMLError (TooManyAliases, RecursiveAlias included)
    when it is not usable (TooDeep when it nests past what the parser can follow).
    ``fast=False`` for files read once, such as config.yaml;
    ``bad_dates_as_text=False`` makes a timestamp that names no instant a ValueError
    (config files report it as an error; a post keeps it as text). Keys written twice
    are added to ``duplicates`` when a list is given. Front matter of the simple shape
    (see ``load_simple``) skips the parser unless ``fast=False`` or duplicates are wanted."""
    if fast and bad_dates_as_text and duplicates is None:
        simple = load_simple(text)
        if simple is not None:
            return simple
    loader = (_FastLoader if fast else _ClearLoader)(text)
    loader.bad_dates_as_text = bad_dates_as_text
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if "*" in text:  # no asterisk, no alias
            check_aliases(node)
        if duplicates is not None:
            duplicates += duplicate_keys(node)
        return loader.construct_document(node)
    except RecursionError:
        raise TooDeep() from None
    finally:
        loader.dispose()


# Characters that cannot change how a line of the simple shape reads: a line
# feed and what YAML calls printable, less the other line breaks (U+0085,
# U+2028, U+2029) and the byte order mark. No tab, CR, control or surrogate.
_SIMPLE_TEXT = re.compile(
    r"[\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]*"
)
# What a plain scalar may not start with (PyYAML's check_plain, without the
# exceptions for "-", "?" and ":" followed by a non-space), plus the space of
# an indented line.
_NOT_PLAIN_START = frozenset(" -?:,[]{}#&*!|>'\"%@`")
_MAX_KEY = 200  # characters; a simple key may not run past 1024 (PyYAML, libyaml)
_STR = "tag:yaml.org,2002:str"
_SIMPLE_TAGS = frozenset(
    "tag:yaml.org,2002:" + name for name in ("str", "null", "bool", "int", "float", "timestamp")
)
_SCALARS = _FastLoader("")  # only its resolver and constructors are used, never its parser
_NOT_SIMPLE = object()


def load_simple(text: str) -> dict[str, Any] | None:
    """The mapping in ``text`` when every line is blank or ``key: value`` with a plain
    key at the start of the line and a plain, quoted or empty value on the same line;
    None when the text is anything else, for the full loader to read or refuse.

    Only lines whose meaning plain rules decide are taken (PyYAML's scan_plain):
    a plain value ends at ": ", at " #" or at the end of its line, so one that
    contains either, or ends with ":", is left to the full loader, as is a quoted
    value with an escape or a quote inside. A value's type comes from PyYAML's
    resolver and its value from the loader's constructors, so ``yes``, ``0x1F``,
    ``2022-02-30`` and ``1:30`` mean what they mean in the full loader; a key
    that would not be text (``yes:``, ``1:``, ``<<:``), or a value whose
    constructor objects, is the full loader's to handle.
    """
    if _SIMPLE_TEXT.fullmatch(text) is None:
        return None
    mapping: dict[str, Any] = {}
    for line in text.split("\n"):
        if not line:
            continue
        if line[0] in _NOT_PLAIN_START or line.startswith("..."):  # "..." may end the document
            if line.strip(" "):
                return None
            continue  # a line of spaces only
        colon = line.find(": ")
        if colon < 0:
            if line[-1] != ":":
                return None
            colon = len(line) - 1
        key = line[:colon]
        if len(key) > _MAX_KEY or key[-1] == " " or " #" in key or _key_tag(key) != _STR:
            return None
        value = _simple_value(line[colon + 1 :].strip(" "))
        if value is _NOT_SIMPLE:
            return None
        mapping[key] = value
    return mapping or None


@functools.lru_cache(maxsize=1024)
def _key_tag(key: str) -> str:
    """The tag PyYAML gives a plain key; the same few keys open every post."""
    return _SCALARS.resolve(yaml.ScalarNode, key, (True, False))


def _simple_value(text: str) -> Any:
    """The value of one ``key: text`` line, or _NOT_SIMPLE."""
    first = text[:1]
    if first == '"' or first == "'":
        inner = text[1:-1]
        if len(text) < 2 or text[-1] != first or first in inner:
            return _NOT_SIMPLE  # a quote that ends early, or the escape '' inside '...'
        if first == '"' and "\\" in inner:
            return _NOT_SIMPLE  # escapes: \n, \x41, \u4e2d, \"...
        return inner
    if first and (first in _NOT_PLAIN_START or ": " in text or text[-1] == ":" or " #" in text):
        return _NOT_SIMPLE
    tag = _SCALARS.resolve(yaml.ScalarNode, text, (True, False))
    if tag == _STR:
        return text  # what construct_yaml_str gives, without the node it needs
    if tag not in _SIMPLE_TAGS:
        return _NOT_SIMPLE
    try:
        return _SCALARS.yaml_constructors[tag](_SCALARS, yaml.ScalarNode(tag, text))
    except Exception:  # 0x_ matches the int pattern, then int() refuses it
        return _NOT_SIMPLE


def check_aliases(root: yaml.Node) -> None:
    """Raise TooManyAliases when expanding every alias would add too many values,
    RecursiveAlias when an alias sits inside the value it names.

    Counts each node once per path that reaches it, with the count of every
    node computed once (an alias is the same node object as its anchor), so
    the check itself is linear in the document's size, however deep it nests.
    """
    sizes: dict[int, int] = {}
    distinct = 0
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children = _children(node)
        if children_done or not children:
            open_nodes.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(child)] for child in children)
            distinct += 1
            if sizes[id(node)] - distinct > MAX_ALIAS_VALUES:
                raise TooManyAliases(node.start_mark)
            continue
        if id(node) in open_nodes:
            raise RecursiveAlias(node.start_mark)
        open_nodes.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)


def duplicate_keys(root: yaml.Node) -> list[Duplicate]:
    """Every key written a second time in the same mapping, in the order of the lines."""
    found: list[Duplicate] = []
    visited: set[int] = set()
    stack: list[tuple[yaml.Node, str]] = [(root, "")]
    while stack:
        node, path = stack.pop()
        if id(node) in visited:
            continue
        visited.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            stack.extend(
                (child, f"{path}.{n}" if path else str(n)) for n, child in enumerate(node.value)
            )
        elif isinstance(node, yaml.MappingNode):
            first: dict[tuple[str, str], int] = {}
            for key, value in node.value:
                if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                    stack.append((value, path))
                    continue
                name = f"{path}.{key.value}" if path else key.value
                line = key.start_mark.line + 1
                if (key.tag, key.value) in first:
                    found.append(Duplicate(name, line, first[key.tag, key.value]))
                else:
                    first[key.tag, key.value] = line
                stack.append((value, name))
    return sorted(found, key=lambda duplicate: duplicate.line)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []
