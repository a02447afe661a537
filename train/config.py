"""A run's configuration: one schema of dotted keys with types, defaults and limits; YAML files and
`--set key=value` overrides are checked against it, and a wrong key names the nearest valid one."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..dsl.errors import did_you_mean
from .config_schema import SCHEMA
from .errors import TrainError


def defaults() -> dict:
    config: dict = {}
    for dotted, key in SCHEMA.items():
        put(config, dotted, copy.deepcopy(key.default))
    return config


def put(config: dict, dotted: str, value: Any) -> None:
    """Set a dotted key (`optimizer.lr`) in a nested config tree."""
    *parents, last = dotted.split(".")
    for part in parents:
        config = config.setdefault(part, {})
    config[last] = value


def get(config: Mapping, dotted: str) -> Any:
    for part in dotted.split("."):
        config = config[part]
    return config


def _flatten(tree: Mapping, where: str, prefix: str = "") -> dict[str, Any]:
    flat = {}
    for name, value in tree.items():
        if not isinstance(name, str):
            raise TrainError(f"{where}: key {name!r} is not a name")
        dotted = prefix + name
        if isinstance(value, Mapping) and dotted not in SCHEMA:  # a section (or a misspelt one)
            flat.update(_flatten(value, where, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def check_value(dotted: str, value: Any, where: str) -> Any:
    """The value converted to the key's type, or a TrainError naming the key."""
    if dotted not in SCHEMA:
        keys = [k for k in SCHEMA if k.startswith(dotted + ".")]
        if keys:  # `optimizer: 0.01`: a known section given a value
            hint = f"set its keys: {', '.join(keys)}"
            raise TrainError(f"{where}: '{dotted}' is a section of keys, not a value", hint)
        raise TrainError(f"{where}: unknown key '{dotted}'", _suggest(dotted))
    key = SCHEMA[dotted]
    kinds = key.kind if isinstance(key.kind, tuple) else (key.kind,)
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if float in kinds and isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
        try:
            value = float(value)
        except ValueError:
            pass
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        names = " or ".join("none" if k is type(None) else k.__name__ for k in kinds)
        raise TrainError(f"{where}: '{dotted}' must be {names}, not {value!r}", f"{dotted}: {key.doc}")
    if isinstance(value, float) and not math.isfinite(value):  # inf passes `above 0`, and nan every test
        raise TrainError(f"{where}: '{dotted}' must be a finite number, not {value!r}", f"{dotted}: {key.doc}")
    if key.choices is not None and value not in key.choices:
        hint = did_you_mean(str(value), key.choices) or f"one of: {', '.join(key.choices)}"
        raise TrainError(f"{where}: '{dotted}' cannot be {value!r}", hint)
    if key.check is not None and value is not None and not key.check(value):
        hint = did_you_mean(str(value), key.known) if key.known else None
        raise TrainError(f"{where}: '{dotted}' must be {key.need}, not {value!r}", hint or f"{dotted}: {key.doc}")
    return value


def _suggest(dotted: str) -> str:
    last = dotted.split(".")[-1]
    same_leaf = [k for k in SCHEMA if k.split(".")[-1] == last]
    if same_leaf:
        return f"did you mean '{same_leaf[0]}'?"
    sections = sorted({k.split(".")[0] for k in SCHEMA})
    return did_you_mean(dotted, list(SCHEMA)) or did_you_mean(dotted, sections) or "valid keys: " + ", ".join(SCHEMA)


def merge(config: dict, tree: Mapping, where: str) -> dict:
    """`config` with every key of the nested `tree` checked and set."""
    result = copy.deepcopy(config)
    for dotted, value in _flatten(tree, where).items():
        value = check_value(dotted, value, where)
        if dotted == "data.options":  # options add up, so `--set data.options.length=64` keeps the others
            value = {**get(result, dotted), **value}
        put(result, dotted, value)
    return result


MAX_CONFIG_BYTES = 1 << 20  # a config is a page of keys; /dev/zero must not be read forever
MAX_YAML_ALIASES = 16  # `*name` references: a few are handy, hundreds are an alias bomb
MAX_INT_DIGITS = 100  # every integer key is bounded far below 10**100


def load_yaml(text: str):
    """YAML data as the safe loader reads it, but refusing duplicate keys (the second silently won)
    and more than MAX_YAML_ALIASES aliases (a 711-byte file of nested aliases expands to gigabytes)."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        aliases = 0

        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                self.aliases += 1
                if self.aliases > MAX_YAML_ALIASES:
                    mark = self.peek_event().start_mark
                    raise yaml.composer.ComposerError(
                        None, None, f"more than {MAX_YAML_ALIASES} aliases (*name): refused", mark
                    )
            return super().compose_node(parent, index)

        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, (str, int, float, bool)):
                    continue  # not hashable: the safe loader refuses it itself
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key!r} appears twice", key_node.start_mark
                    )
                seen.add(key)
            return super().construct_mapping(node, deep)

        def construct_yaml_int(self, node):
            if len(node.value) > MAX_INT_DIGITS:  # int() refuses over 4,300 digits with a ValueError
                raise yaml.constructor.ConstructorError(
                    None, None, f"an integer of {len(node.value)} digits: too large for any key", node.start_mark
                )
            return super().construct_yaml_int(node)

    StrictLoader.add_constructor("tag:yaml.org,2002:int", StrictLoader.construct_yaml_int)
    return yaml.load(text, Loader=StrictLoader)  # noqa: S506 - a SafeLoader subclass: data only


def _config_text(path: Path) -> str:
    """The text of a config file, read with a bound, or a TrainError saying why it is not one."""
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as error:
        raise TrainError(f"cannot read config {path}: {error.strerror or error}") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise TrainError(f"{path}: the config is UTF-16 text", "save it as UTF-8")
    if b"\x00" in data:
        raise TrainError(f"{path}: not a config: it is a binary file", "a config is a YAML text file (run.yaml)")
    if len(data) > MAX_CONFIG_BYTES:
        raise TrainError(f"{path}: larger than {MAX_CONFIG_BYTES >> 20} MiB: too large for a config")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise TrainError(f"{path}: not UTF-8 text (byte {error.start})", "save it as UTF-8") from None


def read_config(path: Path) -> dict:
    """Defaults overridden by a YAML file (safe loader: data only)."""
    return merge(defaults(), read_config_tree(path), str(path))


def read_config_tree(path: Path) -> Mapping:
    """A config file's keys as written (not yet checked or merged), or a TrainError saying why it is
    not a config: read with a bound, strict YAML, a mapping."""
    import yaml

    text = _config_text(path)
    try:
        tree = load_yaml(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise TrainError(f"{path}: not valid YAML{where}: {getattr(error, 'problem', error)}") from None
    except RecursionError:  # the YAML reader recurses once per level of nesting
        raise TrainError(f"{path}: nested too deeply to be a config") from None
    if tree is None:
        return {}
    if not isinstance(tree, Mapping):
        raise TrainError(f"{path}: a config is a mapping of keys to values, not a {type(tree).__name__}")
    return tree


def apply_sets(config: dict, items: list[str]) -> dict:
    """`--set optimizer.lr=0.01` overrides; the value is read as YAML (numbers, true/false, lists)."""
    import yaml

    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise TrainError(f"--set {item!r} is not KEY=VALUE", "write --set optimizer.lr=0.01")
        try:
            value = load_yaml(text) if text.strip() else None
        except yaml.constructor.ConstructorError as error:  # YAML, but not a value a key could hold
            raise TrainError(f"--set {name.strip()}: {error.problem}") from None
        except yaml.YAMLError:
            value = text
        except RecursionError:  # the YAML reader recurses once per level of nesting
            raise TrainError(f"--set {name.strip()}: nested too deeply to be a value") from None
        config = merge(config, _nest(name.strip(), value), "--set")
    return config


def _nest(dotted: str, value: Any) -> dict:
    tree: dict = {}
    put(tree, dotted, value)
    return tree


def dump(config: Mapping) -> str:
    import yaml

    return yaml.safe_dump(dict(config), sort_keys=False)
