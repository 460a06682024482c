"""YAML loading that remembers where every value came from, and readable validation errors.

`load_model(path, Model)` returns a validated pydantic model or raises `InputError` whose message
names the file, the line, the field and what was expected, e.g.::

    scenarios/swap.yaml:12:5: faults[0].type: expected one of latency, model_swap, ... (got 'modelswap')
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, TypeVar, get_args

import yaml
from pydantic import BaseModel, ValidationError

from drillkit.config.safe_yaml import parse_yaml, read_text_file
from drillkit.errors import InputError

M = TypeVar("M", bound=BaseModel)
Loc = tuple[str | int, ...]


class SourceMap:
    """Where each path of a loaded YAML document sits in its file."""

    def __init__(self, path: Path, node: yaml.Node | None) -> None:
        """`node`: the document's root as `safe_yaml.parse_yaml` returns it (its nesting and size,
        aliases counted in full, are already bounded, so the walk is too)."""
        self.path = path
        self._pos: dict[Loc, tuple[int, int]] = {}
        if node is not None:
            _walk(node, (), self._pos)

    def position(self, loc: Loc) -> tuple[int, int]:
        """The position of `loc`, or of its nearest ancestor that has one."""
        loc = tuple(loc)
        while loc:
            if loc in self._pos:
                return self._pos[loc]
            loc = loc[:-1]
        return self._pos.get((), (1, 1))


def _walk(node: yaml.Node, loc: Loc, out: dict[Loc, tuple[int, int]]) -> None:
    out.setdefault(loc, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            child = (*loc, key)
            # A bad value points at the value; a missing/unknown key at the key.
            out[child] = (value_node.start_mark.line + 1, value_node.start_mark.column + 1)
            out[(*child, "<key>")] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _walk_children(value_node, child, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*loc, i), out)


def _walk_children(node: yaml.Node, loc: Loc, out: dict[Loc, tuple[int, int]]) -> None:
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
        saved = out.get(loc)
        _walk(node, loc, out)
        if saved is not None:
            out[loc] = saved


def format_loc(loc: Loc) -> str:
    """`("faults", 0, "type")` → `faults[0].type`."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text or "(top level)"


def _clean_loc(loc: Loc, data: Any) -> Loc:
    """Keep only the parts of pydantic's `loc` that exist in the document.

    Pydantic inserts markers (a discriminated union's tag, 'function-after[...]') that are not
    keys of the file; a field reported missing is kept as the last part.
    """
    kept: list[str | int] = []
    current = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        in_list = isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        if in_list or (isinstance(current, dict) and part in current):
            kept.append(part)
            current = current[part]
        elif last and isinstance(part, str) and not _is_marker(part):
            kept.append(part)
    return tuple(kept)


def _is_marker(part: str) -> bool:
    return "[" in part or "(" in part or part.startswith("function-")


def _field_names(model: type[BaseModel], seen: set[type] | None = None) -> set[str]:
    """Every field name in a model tree (for "did you mean" hints on unknown keys)."""
    seen = seen if seen is not None else set()
    if model in seen:
        return set()
    seen.add(model)
    names: set[str] = set()
    for name, info in model.model_fields.items():
        names.add(info.alias or name)
        for sub in _models_in(info.annotation):
            names |= _field_names(sub, seen)
    return names


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


_PYDANTIC_PREFIXES = (
    ("Value error, ", ""),
    ("Assertion failed, ", ""),
    ("Input should be ", "expected "),
    ("List should have ", "expected "),
    ("String should have ", "expected a string with "),
    ("Field required", "required field is missing"),
)


def _describe(err: dict[str, Any], known_fields: set[str]) -> str:
    kind = err.get("type", "")
    msg = err.get("msg", "invalid value")
    ctx = err.get("ctx", {})
    inp = err.get("input")
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        key = err["loc"][-1] if err.get("loc") else ""
        close = difflib.get_close_matches(str(key), sorted(known_fields), n=1, cutoff=0.6)
        return "unknown field" + (f"; did you mean '{close[0]}'?" if close else "")
    if kind == "union_tag_invalid":
        tags = ctx.get("expected_tags", "").replace("'", "")
        return f"unknown {ctx.get('discriminator', 'type').strip(chr(39))} {ctx.get('tag')!r}; expected one of {tags}"
    if kind == "union_tag_not_found":
        return f"missing {ctx.get('discriminator', 'type')!r}, which says what kind of entry this is"
    if kind == "literal_error":
        msg = f"expected one of {ctx.get('expected', '').replace(' or ', ', ')}"
    else:
        for prefix, replacement in _PYDANTIC_PREFIXES:
            if msg.startswith(prefix):
                msg = replacement + msg[len(prefix) :]
                break
        msg = msg.replace(" after validation", "").replace("expected less than", "expected a value less than")
        msg = msg.replace("expected greater than", "expected a value greater than")
    if inp is not None and not isinstance(inp, dict | list) and "(got" not in msg:
        shown = repr(inp)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        msg += f" (got {shown})"
    return msg


def format_validation_error(
    path: Path, source: SourceMap | None, exc: ValidationError, data: Any = None, model: type[BaseModel] | None = None
) -> str:
    known = _field_names(model) if model is not None else set()
    lines = []
    for err in exc.errors(include_url=False):
        loc = _clean_loc(tuple(err["loc"]), data)
        kind = err.get("type", "")
        if kind in ("union_tag_invalid",) and isinstance(data, dict):
            loc = (*loc, err.get("ctx", {}).get("discriminator", "type").strip("'"))
        if source is None:
            where = f"{path}"
        else:
            lookup = (*loc, "<key>") if kind == "extra_forbidden" else loc
            line, col = source.position(lookup)
            where = f"{path}:{line}:{col}"
        lines.append(f"{where}: {format_loc(loc)}: {_describe(err, known)}")
    return "\n".join(lines)


def read_yaml(path: Path) -> tuple[Any, SourceMap]:
    """Read and parse a YAML file within the limits of `safe_yaml` (file size, nesting, aliases,
    integers, duplicate keys…); every problem is an `InputError` at file:line:column."""
    path = Path(path)
    text = read_text_file(path, what="YAML file")
    data, node = parse_yaml(text, path)
    return data, SourceMap(path, node)


def load_model(path: Path | str, model: type[M], *, context: dict[str, Any] | None = None) -> M:
    """Read `path` and validate it as `model`; every problem is an `InputError` naming file:line."""
    return load_model_and_source(path, model, context=context)[0]


def load_model_and_source(
    path: Path | str, model: type[M], *, context: dict[str, Any] | None = None
) -> tuple[M, SourceMap]:
    """`load_model`, plus where each value sat in the file (to report later checks at their line)."""
    path = Path(path)
    data, source = read_yaml(path)
    if data is None:
        raise InputError(f"{path}:1:1: the file is empty, expected a {model.__name__} document")
    if not isinstance(data, dict):
        raise InputError(f"{path}:1:1: expected a mapping at the top level, got {type(data).__name__}")
    try:
        obj = model.model_validate(data, context={"path": path, **(context or {})})
    except ValidationError as exc:
        raise InputError(format_validation_error(path, source, exc, data, model)) from None
    # Checks across fields (e.g. a runbook's `next` targets) report a precise location too.
    problems = obj.cross_check() if isinstance(obj, CrossChecked) else []
    if problems:
        lines = []
        for loc, message in problems:
            line, col = source.position(loc)
            lines.append(f"{path}:{line}:{col}: {format_loc(loc)}: {message}")
        raise InputError("\n".join(lines))
    return obj, source


class CrossChecked:
    """Mixin for models with checks spanning several fields: return (location, message) pairs."""

    def cross_check(self) -> list[tuple[Loc, str]]:
        return []
