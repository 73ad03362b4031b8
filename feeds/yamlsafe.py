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
"""

from __future__ import annotations

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


def construct_timestamp(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    """A datetime or date, or the text as written when it names no real instant."""
    try:
        value = yaml.constructor.SafeConstructor.construct_yaml_timestamp(loader, node)
        if isinstance(value, datetime) and value.tzinfo is not None:
            value.astimezone(UTC)  # raises OverflowError at the edges of year 1 and 9999
    except (ValueError, OverflowError) as exc:
        if loader.bad_dates_as_text:
            return loader.construct_scalar(node)
        raise ValueError(str(exc)) from None
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
    are added to ``duplicates`` when a list is given."""
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
