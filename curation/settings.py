"""Typed settings, the one way every command declares, reads and exposes its config.

A config is a dataclass whose fields are declared with ``setting(default, flag, help)``. YAML
files and ``KEY=VALUE`` options are coerced into it with every problem collected
(``ConfigError`` holds them all, one line each), and ``Flags`` turns the same fields into click
options, so a setting is declared exactly once for its file key and its flag. This module is a
leaf: it imports nothing of the pipeline, and ``training``, ``merge`` and ``evaluation`` use it
through ``curation``'s public face.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import sys
import types
import typing
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml


class ConfigError(Exception):
    """Raised with every problem found; ``str()`` gives one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def setting(default, flag: str | bool | None = None, help: str = "", **extra) -> Any:
    """A config field. ``flag``: the option name (``"--x"``, ``"--x/--no-x"``), ``True`` for one
    derived from the field name, ``None`` for a file-only setting. ``extra`` metadata:
    ``multiple`` (repeatable), ``is_flag`` (a switch), ``fingerprint=False`` (an execution
    setting that does not decide the output), ``metavar``, ``required``; ``aliases``: other names a
    file may give it (HF/TRL names that mean exactly this setting, e.g. ``learning_rate`` for ``lr``);
    ``near``: ``{other name: why}`` for names that mean something close but not the same, which are
    refused with the suggestion."""
    meta = {"flag": flag, "help": help, **extra}
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def leaf_type(cls, name: str):
    """``(type, optional)`` of a dataclass field, ``X | None`` unwrapped."""
    hint = typing.get_type_hints(cls)[name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    optional = typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint)
    return (args[0] if optional else hint), optional


# A number as people write it. YAML 1.1 (PyYAML) reads ``2e-5`` and ``1e3`` as text (its float needs a
# dot and a signed exponent), so a number written as text is read as the number it spells.
_NUMBER = re.compile(r"[+-]?(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?")


def _number(value) -> float | None:
    """``value`` as a finite float when it is a number or text spelling one, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        number = float(value.strip().replace("_", ""))
        return number if math.isfinite(number) else None
    return None


def coerce_setting(value: Any, hint, optional: bool, where: str, problems: list[str]):
    """``value`` checked (and converted) against ``hint``; a mismatch adds one line to ``problems``."""
    if value is None:
        if not optional:
            problems.append(f"{where}: must not be empty")
        return None
    origin = typing.get_origin(hint)
    if origin is list:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            problems.append(f"{where}: must be a list of texts")
            return []
        return list(value)
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            problems.append(f"{where}: must be a mapping of names to names")
            return {}
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            problems.append(f"{where}: must be true or false, got {value!r}")
        return value
    if hint is int:
        number = _number(value)
        if number is None or number != int(number):
            problems.append(f"{where}: must be an integer, got {value!r}")
            return value
        return int(number)
    if hint is float:
        number = _number(value)
        if number is None:
            problems.append(f"{where}: must be a number, got {value!r}")
            return value
        return number
    if hint is str:
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            problems.append(f"{where}: must be text, got {value!r}")
        return str(value)
    return value


def set_fields(obj, values: dict, problems: list[str], *, label: Callable[[str], str],
               unknown: Callable[[str], str], merge_mappings: bool = False) -> None:
    """Coerce ``values`` into the dataclass ``obj``; an unknown key (``unknown(key)``) or a bad
    value (at ``label(name)``) is one problem each. ``merge_mappings``: a mapping value adds to
    the field's mapping instead of replacing it."""
    fields = dataclasses.fields(obj)
    names = {f.name for f in fields}
    aliases = {a: f.name for f in fields for a in f.metadata.get("aliases", ())}
    for key, value in values.items():
        if key in aliases and key not in names:
            if aliases[key] in values:
                problems.append(f"{label(aliases[key])}: given twice, as {aliases[key]!r} and as {key!r}")
                continue
            key = aliases[key]
        elif key not in names:
            problems.append(unknown(key) + did_you_mean(key, fields))
            continue
        hint, optional = leaf_type(type(obj), key)
        value = coerce_setting(value, hint, optional, label(key), problems)
        if merge_mappings and typing.get_origin(hint) is dict:
            value = {**getattr(obj, key), **(value or {})}
        setattr(obj, key, value)


def did_you_mean(key: str, fields) -> str:
    """The suggestion for an unknown setting ``key`` among dataclass ``fields``: a name with a close
    meaning (a field's ``near`` metadata, with why it differs), else the closest spelling of a name
    or alias (difflib); "" when nothing is close."""
    for f in fields:
        why = f.metadata.get("near", {}).get(key)
        if why:
            return f" (did you mean {f.name!r}? {why})"
    spellings = {f.name: f.name for f in fields} | {a: f.name for f in fields for a in f.metadata.get("aliases", ())}
    close = difflib.get_close_matches(key, list(spellings), n=1, cutoff=0.7)
    return f" (did you mean {spellings[close[0]]!r}?)" if close else ""


def parse_pairs(items, flag: str) -> tuple[dict[str, str], list[str]]:
    """Repeatable ``KEY=VALUE`` options -> ``({key: value}, problems)``, one problem per bad item."""
    pairs, problems = {}, []
    for item in items:
        key, sep, val = item.partition("=")
        if not sep or not key.strip() or not val.strip():
            problems.append(f"option {flag}: expected KEY=VALUE, got {item!r}")
        else:
            pairs[key.strip()] = val.strip()
    return pairs, problems


def load_yaml(path: str | Path, what: str = "recipe"):
    """Read a YAML file; a missing file or bad YAML raises ``ConfigError`` with one line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError([f"{what}: file not found: {path}"])
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise ConfigError([f"{what}: {path} is not valid YAML{where}"]) from None
    return data or {}


def load_mapping(path: str | Path, what: str) -> dict:
    """A YAML file that must hold a mapping of settings."""
    data = load_yaml(path, what)
    if not isinstance(data, dict):
        raise ConfigError([f"{what}: {path} must be a mapping of settings"])
    return data


def fail(command: str, problems: list[str]) -> typing.NoReturn:
    """Print each problem as ``COMMAND: error: ...`` on stderr and exit 2 (a user mistake)."""
    for p in problems:
        print(f"{command}: error: {p}", file=sys.stderr)
    sys.exit(2)


def looks_like_hub_id(ref: str) -> bool:
    """``ORG/NAME`` that is not a path on this machine: a Hugging Face Hub repo id."""
    return (not Path(ref).expanduser().exists() and not ref.startswith((".", "/", "~"))
            and ref.count("/") == 1 and all(ref.split("/")))


# The folder that holds the toolkit's packages: a file shipped with it (a demo set) is named from here.
_PACKAGES = Path(__file__).resolve().parents[1]


def portable_path(value):
    """A local path as a published file may name it: an absolute path relative to the folder the
    command ran in (a file shipped with the toolkit relative to its package, ``curation/demo/...``);
    relative paths, Hub ids and anything that is not text unchanged. ``PATH#FIELD`` keeps its field."""
    if not isinstance(value, str) or not value.startswith(("/", "~")):
        return value
    path, sep, field_name = value.partition("#")
    resolved = Path(path).expanduser().resolve()
    if resolved.is_relative_to(_PACKAGES / "curation"):
        rel = resolved.relative_to(_PACKAGES).as_posix()
    else:
        rel = os.path.relpath(resolved, Path.cwd().resolve())
    return rel + sep + field_name


def ref_problem(ref: str, what: str, kind: str = "folder", hub: str = "Hub model id") -> str | None:
    """One line when ``ref`` is neither an existing path nor shaped like a Hub id (ORG/NAME)."""
    if Path(ref).expanduser().exists() or looks_like_hub_id(ref):
        return None
    return f"{what}: {ref} is neither a {kind} nor a {hub} (ORG/NAME)"


def registry_choice(keys: Callable[[], Iterable[str]], *, sort: bool = False):
    """A click parameter type whose choices are a registry's keys *when the option is used*, so an
    entry registered after the command was built (a user's own domain) is accepted; in the
    registry's order unless ``sort``."""
    import click

    class RegistryChoice(click.Choice):
        def __init__(self):
            super().__init__([])

        @property
        def choices(self):  # read on every use, not frozen at import
            return tuple(sorted(keys()) if sort else keys())

        @choices.setter
        def choices(self, value):
            pass

    return RegistryChoice()


class Flags:
    """Click options generated from config fields, and the values they were given.

    ``add(cls, section=...)`` takes every field of ``cls`` with a flag; options default to
    None, so only what the user typed becomes an override (``{"section.name": value}``, or
    ``{"name": value}`` for a flat config) and the config's own defaults stay in one place.
    """

    def __init__(self, *, show_defaults: bool = False):
        self.show_defaults = show_defaults
        self._specs: list[tuple[str, str, dataclasses.Field, Any, Any]] = []  # dest, flag, field, hint, default
        self._choices: dict[str, Callable[[], Iterable[str]]] = {}
        self._kinds: dict[str, str] = {}
        self._helps: dict[str, str] = {}

    def add(self, cls, *, section: str | None = None, only: Iterable[str] | None = None,
            rename: dict[str, str] | None = None, choices: dict[str, Callable[[], Iterable[str]]] | None = None,
            defaults=None, helps: dict[str, str] | None = None) -> Flags:
        """Options for the flagged fields of ``cls`` (``only`` some), under ``section``; ``rename``
        gives a field another flag, ``helps`` another help text, ``defaults`` the instance whose
        values are shown as defaults."""
        wanted = set(only) if only is not None else None
        instance = defaults if defaults is not None else cls()
        for f in dataclasses.fields(cls):
            flag = (rename or {}).get(f.name, f.metadata.get("flag"))
            if not flag or (wanted is not None and f.name not in wanted):
                continue
            hint, _ = leaf_type(cls, f.name)
            if flag is True:
                flag = "--" + f.name.replace("_", "-")
                if hint is bool and not f.metadata.get("is_flag"):
                    flag = f"{flag}/--no-{flag[2:]}"
            dest = f"{section}__{f.name}" if section else f.name
            self._specs.append((dest, flag, f, hint, getattr(instance, f.name)))
            if f.name in (helps or {}):
                self._helps[dest] = helps[f.name]
            if f.name in (choices or {}):
                self._choices[dest] = choices[f.name]
        return self

    def __call__(self, func):
        import click

        for dest, flag, f, hint, default in reversed(self._specs):
            kwargs: dict = {"help": self._helps.get(dest, f.metadata.get("help", ""))}
            if f.metadata.get("required"):
                kwargs["required"] = True  # click treats an explicit default (even None) as given
            else:
                kwargs["default"] = None
            if f.metadata.get("multiple"):
                self._kinds[dest] = "list" if typing.get_origin(hint) is list else "pairs"
                fallback = "VALUE" if self._kinds[dest] == "list" else "KEY=VALUE"
                kwargs.update(multiple=True, default=(), metavar=f.metadata.get("metavar", fallback))
            elif hint is bool:
                if "/" not in flag:
                    kwargs.update(is_flag=True, flag_value=True)
            elif dest in self._choices:
                kwargs["type"] = registry_choice(self._choices[dest], sort=True)
            elif typing.get_origin(hint) is None:
                kwargs["type"] = {int: click.INT, float: click.FLOAT}.get(hint, click.STRING)
                if "metavar" in f.metadata:
                    kwargs["metavar"] = f.metadata["metavar"]
            switch = hint is bool and "/" not in flag
            if self.show_defaults and default not in (None, (), [], {}) and not f.metadata.get("required") \
                    and not (switch and default is False):
                shown = str(default).lower() if isinstance(default, bool) else str(default)
                kwargs["help"] = f"{kwargs['help']}  [default: {shown}]".strip()
            self._kinds.setdefault(dest, "value")
            func = click.option(*flag.split(" "), dest, **kwargs)(func)
        return func

    def values(self, kwargs: dict) -> tuple[dict[str, Any], list[str]]:
        """The options the user gave, ``{"section.name" or "name": value}``, and bad KEY=VALUE items."""
        out, problems = {}, []
        for dest, flag, *_ in self._specs:  # declaration order: problems are reported in it
            value = kwargs.get(dest)
            if value is None or value == ():
                continue
            if self._kinds.get(dest) == "list":
                value = list(value)
            elif self._kinds.get(dest) == "pairs":
                value, bad = parse_pairs(value, flag.split("/")[0])
                problems += bad
            out[dest.replace("__", ".")] = value
        return out, problems
