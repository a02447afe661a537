"""The block registry: one declaration per block, read by the checker, summary, codegen and docs.

A `BlockSpec` says everything the compiler needs about a primitive block — its arguments, how it
maps input shapes to an output shape, how many parameters and FLOPs it costs, and the code that
runs it — so nothing about a block is written twice.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import SimpleNamespace
from typing import Any

from ..errors import PluginError
from .dims import Dim
from .tensor_type import TensorType

REQUIRED: Any = type("Required", (), {"__repr__": lambda self: "REQUIRED"})()

# What an argument may hold; the checker converts and validates spec values against these.
ARG_KINDS = ("int", "float", "bool", "str", "path", "enum", "ints", "tensor", "ref", "any")


class ShapeError(Exception):
    """Raised by a block's rules when its inputs do not fit; the compiler adds where it happened."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


class BodyErrors(Exception):
    """Raised by the rules of a block with bodies when a body does not fit what the block gives it:
    the bodies' own (located) errors, with a hint from the block."""

    def __init__(self, errors: list, hint: str | None = None):
        super().__init__(f"{len(errors)} errors in bodies")
        self.errors = errors
        self.hint = hint


class SourceText(str):
    """Source that codegen writes as is in a module's construction (`[Expert1(), Expert1()]`)."""

    def __repr__(self) -> str:
        return str(self)


@dataclass(frozen=True)
class BodyResult:
    """What a body computes from the value a block gives it: its type, parameters and FLOPs."""

    type: TensorType
    params: int
    flops: Any


@dataclass(frozen=True)
class BodySlot:
    """How a block takes `{ … }` bodies (`moe(top_k = 2) { a | b }`). The compiler expands each body as
    a small model of its own, whose input is what the block gives it, and hands them to the block's
    rules as `args.bodies` — with `copies` (which body each copy runs, from `arrange`), `infer(value)`
    (a `BodyResult` per body for an input type, or `BodyErrors`) and, in the module rule, `classes`
    (the generated class of each body). `describe`, `entry` and `exit` label its diagram cluster, the
    block's own box and the box its bodies' outputs meet in, from (input types, args)."""

    noun: str  # what a body is called: "expert"
    arrange: Callable[[Any, int], list[int]]  # (args, bodies written) -> body of each copy; ShapeError if wrong
    describe: Callable[[list[TensorType], Any], str]
    entry: Callable[[list[TensorType], Any], str]
    exit: Callable[[list[TensorType], Any], str]
    active: Callable[[Any], int] | None = None  # bodies one token or example runs (a moe's top_k); None: all


@dataclass(frozen=True)
class Family:
    """A family of blocks, declared once at the top of the file that holds it.

    The registry finds every `Family` a blocks module declares; `cramnet blocks` lists them with
    their docs and diagrams fill each family's boxes with `colour`.
    """

    name: str  # what blocks name in `family=`
    colour: str  # box fill in diagrams, "#rrggbb"
    doc: str  # one line: what the family is for
    paper: str = ""  # where it comes from


@dataclass(frozen=True)
class Arg:
    """One argument of a block. `choices` lists enum words; `low` is an inclusive lower bound and
    `below` an exclusive upper one (a probability: `below=1.0`); a `key` argument is drawn in
    diagrams even at its default (`mamba(16, 2, 4)`, not a bare `mamba`)."""

    name: str
    kind: str
    default: Any = REQUIRED
    doc: str = ""
    choices: tuple[str, ...] = ()
    low: float | None = None
    below: float | None = None
    key: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ARG_KINDS:
            raise ValueError(f"argument {self.name!r}: kind must be one of {ARG_KINDS}, not {self.kind!r}")

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class Construct:
    """How to build a block's module: `cls(**kwargs)`. Codegen writes it as source."""

    cls: type
    kwargs: dict[str, Any] = field(default_factory=dict)


Args = SimpleNamespace
ShapeRule = Callable[[list[TensorType], Args], TensorType]
CountRule = Callable[[list[TensorType], Args], int]
FlopRule = Callable[[list[TensorType], TensorType, Args], Dim]
ModuleRule = Callable[[list[TensorType], Args], Construct]
ForwardRule = Callable[[str | None, list[str], Args, list[TensorType]], str]
WeightRule = Callable[[list[TensorType], Args], tuple[int, ...] | None]
ChainRule = Callable[[Args, Args], bool]
DecodeRule = Callable[[list[TensorType], Args], bool]


@dataclass(frozen=True)
class BlockSpec:
    """A primitive block.

    - `shape(inputs, args)` returns the output type or raises `ShapeError`.
    - `params(inputs, args)` counts trainable parameters analytically (no weight allocated).
    - `flops(inputs, output, args)` counts forward FLOPs per example (a multiply-add is 2).
    - `module(inputs, args)` says which `nn.Module` holds the weights, or is None for stateless
      blocks. `forward(module, names, args, inputs)` returns the source expression of the call
      (`module` is `self.attr` or None, `names` the input variables); by default `module(x, …)`.
    - `weight(inputs, args)` is the shape of the module's `.weight` that other blocks may tie to.
    - `merge` blocks take their inputs as positional tensor arguments (`add(a, b)`), so a pipeline
      that begins with one starts from those values.
    - `source` blocks take no value (`param([64, 128])`): a pipeline begins with one, as with a merge;
      the graph gives them the model's first input as their one input, to read the batch size from.
    - `masked` blocks take the padding mask of their input's sequence (`mask=`, True = a real
      position); `positions` says how the mask passes on: "keep", "drop", "auto" (kept while the
      first axis and rank are unchanged) or a source template over `{mask}` for a new mask.
    - `stateful` modules return (output, final state); `state = NAME` passes one in.
    - `chains(before, after)` says whether a call of this block may run in one call with the call
      of the same block that feeds it (and feeds nothing else); the module class's static
      `chain(modules, x, mask)` then runs the run of such calls and returns (output, *final states).
    - `decodes` (a bool, or a rule over inputs and args) says that a call computes each position of a
      sequence [seq, …] from that position and earlier ones, so a language model of such calls can
      continue a sequence a few tokens at a time: an elementwise or per-position call, or a module
      that keeps what it saw while a `Decoding` is attached (causal attention, Mamba, recurrent layers;
      blocks/decoding.py).
    - `graph` blocks take the graph object of their input's graph (`graph=`): its edges, `batch`,
      types; `makes_graph` modules return (node features, a new graph object).
    - `example` is (input type, call) — `("[3, 8, 8]", "conv2d(4, 3)")` — shown by `cramnet blocks`
      and run by the registry sweep test; a merge's call names its input `x`: `add(x, x)`.
    """

    name: str
    family: str
    doc: str
    args: tuple[Arg, ...]
    shape: ShapeRule
    params: CountRule = lambda inputs, args: 0
    flops: FlopRule = lambda inputs, output, args: 0
    module: ModuleRule | None = None
    forward: ForwardRule | None = None
    weight: WeightRule | None = None
    merge: bool = False
    source: bool = False
    masked: bool = False
    stateful: bool = False
    chains: ChainRule | None = None
    decodes: DecodeRule | bool = False
    graph: bool = False
    makes_graph: bool = False
    positions: str = "auto"
    accepts: tuple[str, ...] = ("float",)
    example: tuple[str, str] = ("[4, 8]", "")
    origin: str = "cramnet"
    bodies: BodySlot | None = None

    def arg(self, name: str) -> Arg | None:
        return next((a for a in self.args if a.name == name), None)

    def example_spec(self) -> str:
        """A one-model spec that runs this block on its example input (for docs and the sweep test)."""
        input_type, call = self.example
        call = call or self.name
        line = f"y = {call}" if self.merge or self.source else f"y = x -> {call}"
        return f"model example {{\n    input x: {input_type}\n    {line}\n    output y\n}}\n"

    def signature(self) -> str:
        parts = [a.name if a.required else f"{a.name} = {_show(a.default)}" for a in self.args]
        if self.merge:
            parts.insert(0, "a, b, …")
        return f"{self.name}({', '.join(parts)})" if parts else self.name


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_REGISTRY: dict[str, BlockSpec] = {}
_FAMILIES: dict[str, Family] = {}


def register(spec: BlockSpec) -> BlockSpec:
    """Add a block to the registry (what `@block` does); a second block with the same name is a
    programming error."""
    if spec.name in _REGISTRY and _REGISTRY[spec.name] is not spec:
        raise ValueError(f"block {spec.name!r} is already registered (by {_REGISTRY[spec.name].origin})")
    _REGISTRY[spec.name] = spec
    return spec


def block(name: str, **declaration: Any) -> Callable[[Callable], BlockSpec]:
    """The one way to declare a block: the decorated function is the shape rule; the rest comes as
    keywords. Factories that declare several blocks call it the same way: `block(name, …)(rule)`.

    @block("scale", family="dense", doc="x * factor", args=(Arg("factor", "float", 1.0),))
    def scale(inputs, args):
        return inputs[0]
    """

    def wrap(shape_rule: Callable) -> BlockSpec:
        fields = dict(declaration)
        doc = fields.pop("doc", None) or inspect.cleandoc(shape_rule.__doc__ or "")
        origin = fields.pop("origin", shape_rule.__module__)
        spec = BlockSpec(name=name, doc=doc, shape=shape_rule, origin=origin, **fields)
        return register(spec)

    return wrap


def lookup(name: str) -> BlockSpec | None:
    _load_builtins()
    return _REGISTRY.get(name)


def all_blocks() -> dict[str, BlockSpec]:
    _load_builtins()
    return dict(sorted(_REGISTRY.items()))


def all_families() -> dict[str, Family]:
    """Every declared family, built-in and plugin, by name."""
    _load_builtins()
    return dict(_FAMILIES)


def family_of(name: str) -> Family | None:
    _load_builtins()
    return _FAMILIES.get(name)


# Modules of this package that hold no blocks (the registry's own plumbing and kernels); every other
# module is a block family file, found and imported without being listed anywhere.
_NOT_FAMILY_FILES = frozenset({"registry", "dims", "modules", "shape_rules", "tensor_type", "scan_triton", "aliases"})
_loaded = False


def _collect_families(module: Any) -> None:
    for value in vars(module).values():
        if isinstance(value, Family):
            known = _FAMILIES.get(value.name)
            if known is not None and known is not value:
                raise ValueError(f"family {value.name!r} is declared twice")
            _FAMILIES[value.name] = value


def _load_builtins() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        package = importlib.import_module(__package__)
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
            if info.ispkg or info.name in _NOT_FAMILY_FILES or info.name.startswith("_"):
                continue
            _collect_families(importlib.import_module(f"{__package__}.{info.name}"))


_loaded_plugins: set[str] = set()


def load_plugins(modules: list[str] = ()) -> None:
    """Import blocks from the `cramnet.blocks` entry-point group and from the named modules."""
    _load_builtins()
    for entry in entry_points(group="cramnet.blocks"):
        if entry.value not in _loaded_plugins:
            _loaded_plugins.add(entry.value)
            try:
                loaded = entry.load()
            except Exception as error:  # a broken third-party package must not break cramnet
                raise PluginError(
                    f"plugin entry point {entry.name!r} ({entry.value}) failed to load: {error}",
                    "reinstall the package that declares it, or uninstall it",
                ) from error
            if inspect.ismodule(loaded):
                _collect_families(loaded)
    for module in modules:
        if module in _loaded_plugins:
            continue
        try:
            _collect_families(importlib.import_module(module))
        except ImportError as error:
            hint = "check the module name and that it is importable (on PYTHONPATH)"
            raise PluginError(f"cannot import plugin module {module!r}: {error}", hint) from error
        _loaded_plugins.add(module)
