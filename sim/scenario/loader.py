"""Scenario files -> validated :class:`Scenario`; the only file reader in the model.

YAML is read with the safe loader only.  A file may start from others: ``extends: base.yaml`` (or a
list) and ``include: [_catalog/chips.yaml, ...]`` are deep-merged first (bases, then includes, then the
file itself; a ``null`` value deletes the inherited key; lists are replaced whole), paths relative to the
file.  Every problem is collected, never just the first, and each is reported as one line
``FILE:LINE: dotted.path: message`` where LINE is where the offending key was written.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import stat
import typing
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from types import UnionType
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from sim.scenario.budget import check_budget
from sim.scenario.paths import dotted, split_path
from sim.schema import Scenario, cross_check
from sim.schema.rules import TREATMENT_CLASSES

Path_ = tuple[Any, ...]
Where = tuple[str, int]  # (file, 1-based line)
MAX_FILE_BYTES = 5_000_000  # scenario files are small; refuse anything absurd
MAX_EXPANDED_NODES = 1_000_000  # values after alias expansion (a 'billion laughs' file is refused)
MAX_FILES_PER_LOAD = 256  # files read through extends/include for one scenario (a diamond of includes)
#: Entries per top-level section (chips, nodes, edges, rules, labs, clouds, ...): the library's largest has
#: under 60, the benchmarks' largest synthetic world a few hundred; thousands of rules make every compliance
#: check slow without modelling anything.
MAX_SECTION_ENTRIES = 2_000


@dataclass(frozen=True)
class LoadProblem:
    """One problem in a scenario file."""

    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:  # escaped: a newline in a file name, id or value cannot forge a second line
        return f"{_escape(self.file)}:{self.line}: {_escape(self.path) or '-'}: {_escape(self.message)}"


class _Cycle(Exception):
    """An extends/include cycle, reported by the file whose reference closes it."""


class ScenarioError(Exception):
    """A scenario could not be loaded; ``problems`` lists every reason, one line each."""

    def __init__(self, problems: list[LoadProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def _shown(path: Path) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


# ---------------------------------------------------------------------------------------------- YAML
class _Loader(yaml.SafeLoader):
    """The safe loader with YAML 1.2 scalars: ``1e25`` is a float; only true/false are booleans.

    PyYAML follows YAML 1.1, where ``1e25`` is a string and ``NO`` (Norway) is ``False``.
    """


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:float")]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
def _timestamp(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    """A date or datetime; an impossible one (2022-13-01) stays text so validation reports it at its key."""
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError:
        return node.value


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?
                |[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))

#: _Loader's implicit resolvers by a plain scalar's first character, each list followed by the wildcard ones (what
#: BaseResolver.resolve joins for every scalar), for :meth:`_FastLoader.resolve`.
_ANY_FIRST = _Loader.yaml_implicit_resolvers.get(None, [])
_BY_FIRST = {ch: rs + _ANY_FIRST for ch, rs in _Loader.yaml_implicit_resolvers.items() if ch is not None}

if getattr(yaml, "__with_libyaml__", False):
    class _FastLoader(yaml.CSafeLoader):
        """:class:`_Loader`'s resolvers and constructors on libyaml's parser (about 10x faster to parse)."""

        def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
            """BaseResolver.resolve, with the resolver lists of a plain scalar joined once, not per scalar."""
            if kind is yaml.ScalarNode and implicit[0] and not self.yaml_path_resolvers:
                for tag, regexp in _BY_FIRST.get(value[:1], _ANY_FIRST):
                    if regexp.match(value):
                        return tag
                return self.DEFAULT_SCALAR_TAG
            return super().resolve(kind, value, implicit)

    _FastLoader.yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers
    _FastLoader.yaml_constructors = _Loader.yaml_constructors
    _FastLoader.yaml_multi_constructors = _Loader.yaml_multi_constructors
    _PARSER: type = _FastLoader
else:  # pragma: no cover - PyYAML built without libyaml
    _PARSER = _Loader


def _read_yaml(path: Path) -> tuple[Any, dict[Path_, Where]]:
    """Parse one file into (data, {key path: (file, line)}); raise ScenarioError on any problem."""
    shown = _shown(path)
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise ScenarioError([LoadProblem(shown, 1, "", "is a directory, not a scenario file")])
        if not stat.S_ISREG(info.st_mode):  # a FIFO, a device (/dev/zero), a socket: never read
            raise ScenarioError([LoadProblem(shown, 1, "", "not a regular file")])
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)  # the size on disk may lie (procfs): read no more than the cap
        if len(raw) > MAX_FILE_BYTES:
            raise ScenarioError([LoadProblem(shown, 1, "", f"file is over {MAX_FILE_BYTES} bytes; the limit is "
                                                           f"{MAX_FILE_BYTES}")])
        cache_key = (shown, hashlib.sha256(raw).digest())
        cached = _PARSED.get(cache_key)
        if cached is not None:  # the same bytes under the same name: parsed once per process
            _PARSED.move_to_end(cache_key)
            return _copy_data(cached[0]), dict(cached[1])
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise ScenarioError([LoadProblem(shown, 1, "", "file not found")]) from None
    except UnicodeDecodeError as e:
        raise ScenarioError([LoadProblem(shown, 1, "", f"not UTF-8 text ({e.reason} at byte {e.start})")]) from None
    except (OSError, ValueError) as e:  # permissions, a NUL in the name, a symlink loop
        raise ScenarioError([LoadProblem(shown, 1, "", f"cannot read: {getattr(e, 'strerror', None) or e}")]) from None
    plain = None
    try:
        loader = _PARSER(text)
        try:
            node = loader.get_single_node()
            if node is None:
                data = None
            elif (plain := _plain_document(loader, node, shown)) is not None:
                data = plain[0]  # the common case: one pass, no PyYAML constructor machinery
            else:
                data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as e:
        if "maximum nesting depth" in str(e.problem):  # libyaml's own limit (1,000 levels)
            raise ScenarioError([LoadProblem(shown, 1, "", "YAML nesting too deep")]) from None
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 1
        what = " ".join(x for x in (e.context, e.problem) if x)
        raise ScenarioError([LoadProblem(shown, line, "", f"YAML syntax error: {what}")]) from None
    except yaml.YAMLError as e:
        raise ScenarioError([LoadProblem(shown, 1, "", f"YAML error: {e}")]) from None
    except RecursionError:
        raise ScenarioError([LoadProblem(shown, 1, "", "YAML nesting too deep")]) from None
    if data is None:
        raise ScenarioError([LoadProblem(shown, 1, "", "file is empty")])
    if not isinstance(data, dict):
        raise ScenarioError([LoadProblem(shown, 1, "", "top level must be a mapping of keys, got "
                                                       f"{type(data).__name__}")])
    size = plain[3] if plain is not None else _expanded_size(node, {})
    if size > MAX_EXPANDED_NODES:
        raise ScenarioError([LoadProblem(shown, 1, "", f"document expands to more than {MAX_EXPANDED_NODES:,} values "
                                         "(YAML aliases nested too deeply)")])
    if plain is not None:
        lines, problems = plain[1], plain[2]
    else:
        lines = {(): (shown, 1)}
        problems = []
        _walk_lines(node, (), shown, lines, problems, loader, set())
    if problems:
        raise ScenarioError(problems)
    _PARSED[cache_key] = (_copy_data(data), dict(lines))
    while len(_PARSED) > PARSE_CACHE_FILES:
        _PARSED.popitem(last=False)
    return data, lines


#: Parsed files kept per process, by (shown name, SHA-256 of the bytes): a catalogue fragment that many scenarios
#: include, or a sweep base loaded again, is parsed once.  Least recently used first out.
PARSE_CACHE_FILES = 256
_PARSED: OrderedDict[tuple[str, bytes], tuple[Any, dict]] = OrderedDict()


def _copy_data(x: Any) -> Any:
    """A copy of parsed YAML data (mappings and lists copied, scalars shared: they are immutable); callers
    merge into and pop from what they get, so the cache hands out copies."""
    if isinstance(x, dict):
        return {k: _copy_data(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_copy_data(v) for v in x]
    return x


_STR, _MAP, _SEQ = "tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
#: Scalar tags built by the loader's own constructors in :func:`_plain_document` (any other tag takes the full path).
_SCALARS = frozenset({_STR, "tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool",
                      "tag:yaml.org,2002:null", "tag:yaml.org,2002:timestamp"})
#: Deepest nesting :func:`_plain_document` builds (PyYAML's recursive constructor runs out of stack first on
#: very deep documents, and reports it; the full path keeps that).
_PLAIN_DEPTH = 64


class _NotPlain(Exception):
    """The document needs PyYAML's full constructor."""


def _plain_document(loader: Any, root: yaml.Node, shown: str) -> tuple[Any, dict[Path_, Where], list, int] | None:
    """(data, line map, duplicate-key problems, node count) of a plain document in one pass; None if it is not plain.

    Plain: no aliases, no merge keys, only the mapping, sequence and core scalar tags, scalar keys, at most
    :data:`_PLAIN_DEPTH` deep, and every scalar valid for its tag; every library scenario is.  The results are
    those of ``construct_document``, :func:`_walk_lines` and :func:`_expanded_size` (scalars go through the same
    constructors; the counts and lines of a tree are its nodes), without PyYAML's general machinery (~3x faster).
    Anything else: None, and the caller takes the full path (which reports what it finds wrong, as before).
    """
    constructors = loader.yaml_constructors
    seen: set[int] = set()
    lines: dict[Path_, Where] = {(): (shown, 1)}
    problems: list[LoadProblem] = []
    count = 0

    def scalar(node: yaml.Node) -> Any:
        if node.tag == _STR:
            return node.value
        if node.tag in _SCALARS:
            try:
                return constructors[node.tag](loader, node)
            except Exception:  # e.g. `!!bool x`: the full path reports it (PyYAML builds in its own order, so
                raise _NotPlain from None  # which of two bad values it names first is its to say)
        raise _NotPlain

    def build(node: yaml.Node, path: Path_, depth: int) -> Any:
        nonlocal count
        count += 1
        if id(node) in seen or depth > _PLAIN_DEPTH:
            raise _NotPlain  # an alias (the same node twice), or deep
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            return scalar(node)
        if isinstance(node, yaml.MappingNode) and node.tag == _MAP:
            out: dict = {}
            keys: set = set()
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or id(key_node) in seen:
                    raise _NotPlain
                seen.add(id(key_node))
                count += 1
                key = key_node.value
                if key in keys:
                    problems.append(LoadProblem(shown, key_node.start_mark.line + 1, dotted(path + (key,)),
                                                f"key '{key}' appears twice"))
                keys.add(key)
                lines[path + (key,)] = (shown, key_node.start_mark.line + 1)
                k = scalar(key_node)  # the key before its value, as PyYAML builds them
                out[k] = build(value_node, path + (key,), depth + 1)
            return out
        if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ:
            items = []
            for i, item in enumerate(node.value):
                lines[path + (i,)] = (shown, item.start_mark.line + 1)
                items.append(build(item, path + (i,), depth + 1))
            return items
        raise _NotPlain

    try:
        data = build(root, (), 0)
    except _NotPlain:
        return None
    return data, lines, problems, count


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """How many values the document holds once aliases are expanded (memoised, so it stays cheap)."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = 1  # guards against recursive aliases
    if isinstance(node, yaml.MappingNode):
        total = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        total = 1 + sum(_expanded_size(v, memo) for v in node.value)
    else:
        total = 1
    memo[key] = min(total, MAX_EXPANDED_NODES + 1)
    return memo[key]


def _walk_lines(node: yaml.Node, path: Path_, shown: str, lines: dict, problems: list, loader: Any,
                seen_nodes: set[int]) -> None:
    if id(node) in seen_nodes:
        return  # an alias of a node already walked: its lines are those of the anchor
    seen_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: set = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else repr(key_node)
            if key in seen:
                problems.append(LoadProblem(shown, key_node.start_mark.line + 1, dotted(path + (key,)),
                                            f"key '{key}' appears twice"))
            seen.add(key)
            lines[path + (key,)] = (shown, key_node.start_mark.line + 1)
            _walk_lines(value_node, path + (key,), shown, lines, problems, loader, seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[path + (i,)] = (shown, item.start_mark.line + 1)
            _walk_lines(item, path + (i,), shown, lines, problems, loader, seen_nodes)


# ------------------------------------------------------------------------------------ extends/merge

_HERE = object()  # the key under which a line tree keeps the line of the path it stands for


def _tree(lines: dict[Path_, Where]) -> dict:
    """A flat line map as a nested tree ``{key: subtree, _HERE: where}``, so a merge touches each key once."""
    root: dict = {}
    for path, where in lines.items():
        node = root
        for key in path:
            node = node.setdefault(key, {})
        node[_HERE] = where
    return root


def _flat(tree: dict) -> dict[Path_, Where]:
    out: dict[Path_, Where] = {}
    stack: list[tuple[Path_, dict]] = [((), tree)]
    while stack:
        path, node = stack.pop()
        for key, sub in node.items():
            if key is _HERE:
                out[path] = sub
            else:
                stack.append((path + (key,), sub))
    return out


def _merge(base: dict, base_tree: dict, over: dict, over_tree: dict) -> dict:
    """Deep-merge *over* onto *base*; ``None`` deletes; non-dicts replace.  *base_tree* (the line tree of
    *base*) is updated in place from *over_tree*.  Linear in the size of *over*: each key is visited once."""
    out = dict(base)
    for key, value in over.items():
        sub = over_tree.get(key, {})
        if value is None:
            out.pop(key, None)
            base_tree.pop(key, None)
            continue
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            bsub = base_tree.setdefault(key, {})
            out[key] = _merge(out[key], bsub, value, sub)
            if _HERE in sub:
                bsub[_HERE] = sub[_HERE]
        else:
            out[key] = value
            base_tree[key] = sub
    return out


def _drop(lines: dict, prefix: Path_) -> None:
    for q in [q for q in lines if q[: len(prefix)] == prefix]:
        del lines[q]


def _as_paths(value: Any, key: str, shown: str, lines: dict) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    line = lines.get((key,), (shown, 1))[1]
    raise ScenarioError([LoadProblem(shown, line, key, "must be a file path or a list of file paths")])


@dataclass
class _Reads:
    """What one load has read so far, across every file of its extends/include tree (capped)."""

    within: Path | None = None  # extends/include must resolve inside this folder (dashboard uploads)
    files: int = 0


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def load_raw(path: str | os.PathLike, _stack: tuple[Path, ...] = (), *, within: str | os.PathLike | None = None,
             _reads: _Reads | None = None) -> tuple[dict, dict[Path_, Where]]:
    """Read *path* with its ``extends`` and ``include`` resolved: (merged data, line map).

    *within*: a folder that every ``extends``/``include`` must resolve into (symlinks followed); a reference
    outside it is a problem, and the file is never opened (the dashboard confines uploads to the library).
    At most :data:`MAX_FILES_PER_LOAD` files are read for one load (a diamond of includes cannot fan out).
    """
    reads = _reads if _reads is not None else _Reads(Path(within).resolve() if within is not None else None)
    data, tree, shown = _load_tree(Path(path), _stack, reads)
    lines = _flat(tree)
    lines[()] = (shown, 1)
    return data, lines


def _load_tree(p: Path, _stack: tuple[Path, ...], reads: _Reads) -> tuple[dict, dict, str]:
    try:
        resolved = p.resolve()
    except (OSError, RuntimeError, ValueError) as e:  # a symlink loop, a NUL byte in the name
        raise ScenarioError([LoadProblem(_shown(p) if "\x00" not in str(p) else repr(str(p)), 1, "",
                                         f"cannot read: {e}")]) from None
    if resolved in _stack:
        cycle = " -> ".join(_shown(x) for x in (*_stack, resolved))
        raise _Cycle(cycle)
    reads.files += 1
    if reads.files > MAX_FILES_PER_LOAD:
        raise _TooMany()
    data, lines = _read_yaml(p)
    shown = _shown(p)
    parents: list[tuple[str, str, int]] = []  # (path, key, line)
    for key in ("extends", "include"):
        if key in data:
            line = lines.get((key,), (shown, 1))[1]
            parents += [(x, key, line) for x in _as_paths(data.pop(key), key, shown, lines)]
            _drop(lines, (key,))
    merged: dict = {}
    merged_tree: dict = {}
    problems: list[LoadProblem] = []
    for parent, key, line in parents:
        if "\x00" in parent:
            problems.append(LoadProblem(shown, line, key, f"cannot read {parent!r}: embedded null byte"))
            continue
        parent_path = (p.parent / parent) if not Path(parent).is_absolute() else Path(parent)
        if reads.within is not None:
            try:
                inside = _inside(parent_path.resolve(), reads.within)
            except (OSError, RuntimeError, ValueError):
                inside = False
            if not inside:
                problems.append(LoadProblem(shown, line, key, f"{_quoted(parent)} is outside the scenario library; an "
                                            "uploaded file may extend or include only files in the library"))
                continue
        try:
            pdata, ptree, _ = _load_tree(parent_path, (*_stack, resolved), reads)
        except _Cycle as c:
            problems.append(LoadProblem(shown, line, key, f"cyclic extends: {c.args[0]}"))
            continue
        except _TooMany:
            if _stack:
                raise
            problems.append(LoadProblem(shown, line, key, f"extends/include read more than {MAX_FILES_PER_LOAD} files"))
            break
        except (ValueError, OSError, RuntimeError) as e:  # e.g. a NUL byte in the path
            problems.append(LoadProblem(shown, line, key, f"cannot read {_quoted(parent)}: {e}"))
            continue
        except ScenarioError as e:
            if any(x.message == "file not found" and x.file == _shown(parent_path) for x in e.problems):
                problems.append(LoadProblem(shown, line, key, f"cannot find {_quoted(parent)}"))
            else:
                problems.extend(e.problems)
            continue
        merged = _merge(merged, merged_tree, pdata, ptree)
    if problems:
        raise ScenarioError(problems)
    merged = _merge(merged, merged_tree, data, _tree(lines))
    merged_tree.pop(_HERE, None)
    return merged, merged_tree, shown


class _TooMany(Exception):
    """More than MAX_FILES_PER_LOAD files in one extends/include tree."""


def _quoted(text: str) -> str:
    """A file name or id as it may appear inside a problem line: quoted, control characters escaped."""
    return "'" + _escape(text) + "'"


def _escape(text: str) -> str:
    """*text* with newlines and other control characters written as escapes (a problem line stays one line)."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


# ------------------------------------------------------------------------------------ validation

def load_scenario(path: str | os.PathLike, *, within: str | os.PathLike | None = None) -> Scenario:
    """Load, merge and validate a scenario file; raise :class:`ScenarioError` listing every problem.

    *within*: ``extends``/``include`` may only name files inside this folder (see :func:`load_raw`).
    """
    data, lines = load_raw(path, within=within)
    return scenario_from_dict(data, lines, _shown(Path(path)))


def _section_sizes(data: dict, lines: dict, file: str) -> list[LoadProblem]:
    out = []
    for key, value in data.items():
        if isinstance(value, dict) and len(value) > MAX_SECTION_ENTRIES:
            f, line = _where((key,), lines, file)
            out.append(LoadProblem(f, line, str(key), f"{len(value):,} entries; the limit is {MAX_SECTION_ENTRIES:,} "
                                   "per section"))
    return out


def scenario_from_dict(data: dict, lines: dict[Path_, Where] | None = None, file: str = "<scenario>") -> Scenario:
    """Validate an already-parsed scenario mapping (e.g. an edited copy in the dashboard)."""
    lines = lines or {(): (file, 1)}
    too_big = _section_sizes(data, lines, file) if isinstance(data, dict) else []
    if too_big:
        raise ScenarioError(too_big)
    try:
        scenario = Scenario.model_validate(data, context={"skip_cross_check": True})
    except ValidationError as e:
        raise ScenarioError(_problems_from(e, data, lines, file)) from None
    found = cross_check(scenario)
    if found:
        problems = []
        for pr in found:
            path = split_path(pr.path, data)
            f, line = _where(path, lines, file)
            problems.append(LoadProblem(f, line, pr.path, pr.message))
        raise ScenarioError(problems)
    over = check_budget(scenario)
    if over is not None:
        path = split_path(over.path, data) if over.path != "-" else ()
        f, line = _where(path, lines, file)
        raise ScenarioError([LoadProblem(f, line, over.path if over.path != "-" else "", over.message)])
    return scenario


def _problems_from(err: ValidationError, data: dict, lines: dict, file: str) -> list[LoadProblem]:
    problems = []
    seen = set()
    for e in err.errors(include_url=False):
        path = _data_path(e["loc"], data)
        f, line = _where(path, lines, file)
        msg = _message(e, path)
        key = (f, line, dotted(path), msg)
        if key not in seen:  # a union can report one mistake several times
            seen.add(key)
            problems.append(LoadProblem(f, line, dotted(path), msg))
    return problems


def _data_path(loc: tuple, data: Any) -> Path_:
    """Map a pydantic error location onto keys that exist in the data (drops union tags)."""
    out: list[Any] = []
    cur = data
    for seg in loc:
        if (isinstance(cur, dict) and seg in cur
                or isinstance(cur, list) and isinstance(seg, int) and 0 <= seg < len(cur)):
            out.append(seg)
            cur = cur[seg]
        elif isinstance(seg, str) and ("[" in seg or _is_tag(cur, seg)):
            continue  # a validator or union-tag segment, not a key
        elif isinstance(cur, dict):
            out.append(seg)  # a missing key: name it, then stop
            break
        else:
            break  # inside a value the validator reshaped (e.g. a bare number made a series)
    return tuple(out)


def _is_tag(cur: Any, seg: str) -> bool:
    """Whether *seg* is the union tag pydantic put in the location (not a key of the data)."""
    if seg not in _TAGS:
        return False
    if isinstance(cur, dict):
        return cur.get("kind") == seg or cur.get("dist") == seg or (seg == "constant" and "dist" not in cur)
    return True  # a bare number turned into a constant


_TAGS = {"foundry", "memory", "packager", "vendor", "distributor", "constant", "uniform", "triangular",
         "normal", "lognormal", "beta", "pert", *TREATMENT_CLASSES}


def _where(path: Path_, lines: dict, file: str) -> Where:
    for n in range(len(path), -1, -1):
        if path[:n] in lines:
            return lines[path[:n]]
    return (file, 1)


def _message(e: dict, path: Path_) -> str:
    kind = e["type"]
    if kind == "extra_forbidden":
        key = str(path[-1]) if path else "?"
        allowed = _allowed_keys(e["loc"][:-1])
        if allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            return f"unknown key '{key}'{hint} (allowed: {', '.join(allowed)})"
        return f"unknown key '{key}'"
    if kind == "missing":
        return "required field missing"
    msg = e["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if kind not in {"value_error", "assertion_error"} and "input" in e and not isinstance(e["input"], (dict, list)):
        shown = repr(e["input"])
        if len(shown) < 60:
            msg += f" (got {shown})"
    return msg


def _allowed_keys(loc: tuple) -> list[str]:
    """The field names allowed at *loc*, found by walking the model's annotations."""
    t: Any = Scenario
    for seg in loc:
        t = _step_type(t, seg)
        if t is None:
            return []
    t = _unwrap(t)
    if isinstance(t, type) and issubclass(t, BaseModel):
        return sorted((f.alias or name) for name, f in t.model_fields.items())
    return []


def _unwrap(t: Any) -> Any:
    while typing.get_origin(t) is typing.Annotated:
        t = typing.get_args(t)[0]
    return t


def _step_type(t: Any, seg: Any) -> Any:
    t = _unwrap(t)
    origin = typing.get_origin(t)
    if origin in (typing.Union, UnionType):
        members = [_unwrap(m) for m in typing.get_args(t) if m is not type(None)]
        for m in members:  # a discriminated-union tag selects the member
            if isinstance(m, type) and issubclass(m, BaseModel):
                for f in m.model_fields.values():
                    if typing.get_origin(f.annotation) is typing.Literal and seg in typing.get_args(f.annotation):
                        return m
        models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
        return _step_type(models[0], seg) if models else None
    if origin is dict:
        return typing.get_args(t)[1]
    if origin is list:
        return typing.get_args(t)[0]
    if isinstance(t, type) and issubclass(t, BaseModel):
        for name, f in t.model_fields.items():
            if seg in (name, f.alias):
                return f.annotation
    return None
