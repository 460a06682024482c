"""Hardened YAML reading: a hostile file is refused as `file:line:col: what was wrong` (`InputError`,
exit 2) within seconds and in bounded memory, never a hang, a traceback or a silently wrong value.

Limits (every file drillkit reads as YAML, and `read_text_file` for text files it reads whole):

    MAX_FILE_BYTES    4 MiB     a larger file is refused before it is read
    MAX_SCALAR_CHARS  1 MiB     one value (string, number, key)
    MAX_DEPTH         64        nesting of lists and mappings, counted through aliases
    MAX_NODES         100,000   values in the document, each use of an alias counted in full
    MAX_ALIAS_NODES   10,000    values that aliases add (the "billion laughs" defence)
    MAX_INT_DIGITS    100       digits of one integer (Python refuses 4,300 with a bare ValueError)

Also refused: bytes that are not UTF-8, NUL and other control characters (a binary file), more than
one document, a key repeated in one mapping (with both lines), an alias to a value that contains it,
an anchor defined twice, and values no safe constructor knows (`!!python/...`) or cannot read (a
timestamp with month 13).

How: events come from libyaml's C parser when PyYAML has it (about ten times faster), else from
PyYAML's own; nodes are composed here without recursion (PyYAML's composer recurses once per
nesting level: 50,000 `[` were a RecursionError), checked as they arrive, so a limit stops the work
where it is crossed. Only then does PyYAML's SafeConstructor build the Python values, which share
an aliased value instead of copying it. When libyaml reports a syntax error the text is parsed
again with PyYAML's parser, whose messages are the ones drillkit has always printed (unless the
error lies more than 256 KiB in, where that would take seconds).
"""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    DocumentStartEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceStartEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from drillkit.errors import InputError

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_SCALAR_CHARS = 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 100_000
MAX_ALIAS_NODES = 10_000
MAX_INT_DIGITS = 100
_MIB_FILE = MAX_FILE_BYTES // 1024 // 1024
# How far into the text a libyaml syntax error may lie for PyYAML's parser to be asked again.
_REPARSE_CHARS = 256 * 1024

_MERGE_TAG = "tag:yaml.org,2002:merge"
# Characters YAML does not accept in text (PyYAML's Reader.NON_PRINTABLE): a sign of a binary file.
_NOT_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_PARSERS: tuple[type, ...] = (
    (yaml.CSafeLoader, yaml.SafeLoader) if getattr(yaml, "__with_libyaml__", False) else (yaml.SafeLoader,)
)


def _where(path: Path | str, mark: Any) -> str:
    return f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)


def _line_col(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def read_text_file(path: Path | str, *, what: str = "file", max_bytes: int = MAX_FILE_BYTES) -> str:
    """The UTF-8 text of a regular file of at most `max_bytes`; anything else is an `InputError`.

    Refused with a reason: missing, a directory, not a regular file (a FIFO or device would block or
    never end), too large, not UTF-8, or holding NUL or other control characters (file:line:col of
    the first one). An empty file is returned as "" (the caller says whether that is wrong).
    """
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputError(f"{path}: {what} not found") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{path}: is a directory, expected a {what}")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"{path}: not a regular file, expected a {what}")
    too_big = f"files larger than {max_bytes // 1024 // 1024} MiB are refused"
    if info.st_size > max_bytes:
        raise InputError(f"{path}: {info.st_size:,} bytes; {too_big}")
    try:
        with path.open("rb") as f:
            raw = f.read(max_bytes + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    if len(raw) > max_bytes:  # grew since stat
        raise InputError(f"{path}: {too_big}")
    return decode_text(path, raw)


def decode_text(path: Path | str, raw: bytes) -> str:
    """`raw` as UTF-8 text, or an `InputError` at the line and column of the first bad byte."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _line_col(raw[: exc.start].decode("utf-8", "replace"), exc.start)
        raise InputError(
            f"{path}:{line}:{col}: not UTF-8 text ({exc.reason} at byte {exc.start}); is this a binary file?"
        ) from None
    bad = _NOT_PRINTABLE.search(text)
    if bad is not None:
        line, col = _line_col(text, bad.start())
        kind = "a NUL byte" if bad.group() == "\x00" else f"control character U+{ord(bad.group()):04X}"
        raise InputError(f"{path}:{line}:{col}: {kind}, which text files do not hold; is this a binary file?")
    return text


def parse_yaml(text: str, path: Path | str = "<string>") -> tuple[Any, Node | None]:
    """Parse one YAML document within the limits above: `(data, root node)`; `(None, None)` if empty.

    `path` only names the source in messages. Every problem is an `InputError` at file:line:col.
    """
    if len(text) > MAX_FILE_BYTES:
        raise InputError(f"{path}: longer than {_MIB_FILE} MiB; refused")
    bad = _NOT_PRINTABLE.search(text)
    if bad is not None:
        line, col = _line_col(text, bad.start())
        raise InputError(f"{path}:{line}:{col}: control character U+{ord(bad.group()):04X} is not allowed in YAML")
    node: Node | None = None
    error: yaml.YAMLError | None = None
    for parser in _PARSERS:
        composer = _Composer(path)
        try:
            node = composer.compose(yaml.parse(text, Loader=parser))
        except yaml.YAMLError as exc:
            error = exc
            # libyaml failed: parse again with PyYAML's parser (the reference, with clearer messages)
            # unless the error lies so far in that the slower parser would take seconds to reach it.
            mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
            if mark is not None and mark.index > _REPARSE_CHARS:
                break
        else:
            error = None
            break
    if error is not None:
        raise _syntax_error(path, error)
    if node is None:
        return None, None
    try:
        data = composer.constructor.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(path, exc) from None
    return data, node


def _syntax_error(path: Path | str, exc: yaml.YAMLError) -> InputError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "invalid YAML"
        context = f" ({exc.context})" if exc.context else ""
        label = "YAML syntax error" if not isinstance(exc, ConstructorError) else "cannot read this value"
        return InputError(f"{_where(path, mark)}: {label}: {problem}{context}")
    return InputError(f"{path}: YAML error: {exc}")


class _Constructor(SafeConstructor):
    """SafeConstructor that refuses huge integers and reports a value it cannot build at its line."""

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError) as exc:
            shown = repr(node.value) if isinstance(node, ScalarNode) else "this value"
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            kind = node.tag.rsplit(":", 1)[-1]
            raise ConstructorError(None, None, f"{shown} as {kind}: {exc}", node.start_mark) from None

    def construct_yaml_int(self, node: ScalarNode) -> int:  # type: ignore[override]
        digits = sum(ch.isalnum() for ch in str(node.value))
        if digits > MAX_INT_DIGITS:
            raise ConstructorError(
                None, None, f"an integer of {digits} digits; at most {MAX_INT_DIGITS} are allowed", node.start_mark
            )
        return super().construct_yaml_int(node)


_Constructor.add_constructor("tag:yaml.org,2002:int", _Constructor.construct_yaml_int)


@dataclass
class _Open:
    """A sequence or mapping whose children are still arriving."""

    node: SequenceNode | MappingNode
    anchor: str | None
    children: list[Node] = field(default_factory=list)
    size: int = 1  # nodes, aliases expanded
    height: int = 1  # levels of collections, this one included


class _Composer:
    """Builds the node graph from parser events iteratively, enforcing the limits as it goes."""

    def __init__(self, path: Path | str) -> None:
        self.path = path
        self.resolver = Resolver()
        self.constructor = _Constructor()
        self.anchors: dict[str, tuple[Node, int, int]] = {}  # anchor → (node, size, height)
        self.open_anchors: set[str] = set()
        self.stack: list[_Open] = []
        self.nodes = 0
        self.alias_nodes = 0

    def fail(self, mark: Any, message: str) -> InputError:
        return InputError(f"{_where(self.path, mark)}: {message}")

    def compose(self, events: Any) -> Node | None:
        root: Node | None = None
        documents = 0
        for event in events:
            if isinstance(event, DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise self.fail(event.start_mark, "a second YAML document ('---'); expected one document per file")
            elif isinstance(event, AliasEvent):
                root = self.alias(event) or root
            elif isinstance(event, ScalarEvent):
                root = self.scalar(event) or root
            elif isinstance(event, SequenceStartEvent | MappingStartEvent):
                self.start(event)
            elif isinstance(event, CollectionEndEvent):
                root = self.end(event) or root
        return root

    def count(self, mark: Any, n: int) -> None:
        self.nodes += n
        if self.nodes > MAX_NODES:
            raise self.fail(mark, f"more than {MAX_NODES:,} values in one document (aliases counted in full); refused")

    def anchor(self, name: str | None, mark: Any) -> None:
        if name is None:
            return
        if name in self.anchors or name in self.open_anchors:
            first = self.anchors[name][0].start_mark if name in self.anchors else None
            again = f" (first at line {first.line + 1})" if first is not None else ""
            raise self.fail(mark, f"anchor &{name} is defined twice{again}")

    def add(self, node: Node, size: int, height: int) -> Node | None:
        """Hand a finished node to its parent; returns it when it is the document's root."""
        if not self.stack:
            return node
        parent = self.stack[-1]
        parent.children.append(node)
        parent.size += size
        parent.height = max(parent.height, height + 1)
        return None

    def alias(self, event: AliasEvent) -> Node | None:
        name = event.anchor
        if name in self.open_anchors:
            raise self.fail(event.start_mark, f"alias *{name} is used inside the value it names (a cycle)")
        if name not in self.anchors:
            raise self.fail(event.start_mark, f"alias *{name} names no anchor (define &{name} before using it)")
        node, size, height = self.anchors[name]
        self.alias_nodes += size
        if self.alias_nodes > MAX_ALIAS_NODES:
            raise self.fail(
                event.start_mark,
                f"aliases expand to more than {MAX_ALIAS_NODES:,} values (an alias bomb?); refused",
            )
        if len(self.stack) + height > MAX_DEPTH:
            raise self.fail(event.start_mark, f"alias *{name} nests values more than {MAX_DEPTH} levels deep")
        self.count(event.start_mark, size)
        return self.add(node, size, height)

    def scalar(self, event: ScalarEvent) -> Node | None:
        if len(event.value) > MAX_SCALAR_CHARS:
            raise self.fail(
                event.start_mark,
                f"a value of {len(event.value):,} characters; at most {MAX_SCALAR_CHARS:,} are allowed",
            )
        self.anchor(event.anchor, event.start_mark)
        self.count(event.start_mark, 1)
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.resolver.resolve(ScalarNode, event.value, event.implicit)
        node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
        if event.anchor is not None:
            self.anchors[event.anchor] = (node, 1, 0)
        return self.add(node, 1, 0)

    def start(self, event: SequenceStartEvent | MappingStartEvent) -> None:
        if len(self.stack) >= MAX_DEPTH:
            raise self.fail(event.start_mark, f"lists and mappings nested more than {MAX_DEPTH} levels deep; refused")
        self.anchor(event.anchor, event.start_mark)
        self.count(event.start_mark, 1)
        kind = SequenceNode if isinstance(event, SequenceStartEvent) else MappingNode
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.resolver.resolve(kind, None, event.implicit)
        node = kind(tag, [], event.start_mark, None, flow_style=event.flow_style)
        if event.anchor is not None:
            self.open_anchors.add(event.anchor)
        self.stack.append(_Open(node, event.anchor))

    def end(self, event: CollectionEndEvent) -> Node | None:
        done = self.stack.pop()
        node = done.node
        node.end_mark = event.end_mark
        if isinstance(node, MappingNode):
            pairs = list(zip(done.children[::2], done.children[1::2], strict=True))
            self.check_duplicates(pairs)
            node.value = pairs
        else:
            node.value = done.children
        if done.anchor is not None:
            self.open_anchors.discard(done.anchor)
            self.anchors[done.anchor] = (node, done.size, done.height)
        return self.add(node, done.size, done.height)

    def check_duplicates(self, pairs: list[tuple[Node, Node]]) -> None:
        """A key given twice in one mapping: YAML keeps the last silently; drillkit refuses."""
        seen: dict[Any, Node] = {}
        for key_node, _ in pairs:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            try:
                key = self.constructor.construct_object(key_node)
                hash(key)
            except TypeError:
                continue
            except yaml.MarkedYAMLError as exc:
                raise _syntax_error(self.path, exc) from None
            first = seen.get(key)
            if first is None:
                seen[key] = key_node
                continue
            shown = repr(key_node.value)
            same = "" if first.value == key_node.value else f" as {first.value!r}"
            raise self.fail(
                key_node.start_mark, f"duplicate key {shown} (first at line {first.start_mark.line + 1}{same})"
            )
