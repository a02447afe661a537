"""Generated classes that nest as the spec does: one class per user block (per configuration), a
repeat as an `nn.ModuleList` looped in `forward`, each forward straight-line over its own names.

The units of the module tree come from `naming.assign_layout`. Each unit's statements are its nodes'
(from `statements.node_statements`) and one call per child unit; the values a unit reads from
outside become its forward's parameters and the values read after it its results. Units whose
generated source is the same share one class, so twelve GPT-2 layers are one `PreLn` class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from itertools import takewhile

from .class_templates import ClassFile
from .naming import UnitRef, class_name
from .statements import Statement, rename


@dataclass
class Unit:
    """A node of the module tree: the model (ref None), a block instance, a repeat or a copy."""

    ref: UnitRef | None
    items: list = field(default_factory=list)  # node names and child units, in order
    children: dict[str, Unit] = field(default_factory=dict)
    nodes: set[str] = field(default_factory=set)  # every node below

    def child(self, ref: UnitRef) -> Unit:
        if ref.key not in self.children:
            self.children[ref.key] = Unit(ref)
            self.items.append(self.children[ref.key])
        return self.children[ref.key]


def unit_tree(graph, order: list[str]) -> Unit:
    root = Unit(None)
    for node in order:
        unit = root
        root.nodes.add(node)
        for ref in graph.nodes[node].layout:
            unit = unit.child(ref)
            unit.nodes.add(node)
        unit.items.append(node)
    return root


@dataclass
class Call:
    """What a unit's class is and how its parent calls it (flat names)."""

    cls: str
    params: list[str]  # values it reads from outside, in order
    results: list[str]  # values it makes that are read after it
    modules: list[str]  # modules it uses from outside (tied weights)


@dataclass
class ClassWriter:
    """Writes the classes of one model's module tree into `file`."""

    constructs: dict[str, str]  # node -> source of its module's construction
    statements: dict[str, list[Statement]]
    attrs: dict[str, dict]  # node -> graph attributes
    readers: dict[str, set[str]]  # value -> nodes whose statements read it
    kept: set[str]  # values the model returns
    file: ClassFile

    def write(
        self,
        unit: Unit,
        name: str,
        root: tuple[list[str], list[str], dict] | None = None,
        doc: str = "",
        methods: tuple[str, ...] = (),
    ) -> Call:
        """The class of `unit` (written once per distinct source). For the model, `root` gives its
        parameters, its outputs and the parameters' defaults."""
        records = [self._record(item) for item in unit.items]
        made = [v for record in records for v in record.targets]
        read = [v for record in records for v in record.reads if v not in made]
        if root is not None:
            params, results, defaults = root
        else:
            params = list(dict.fromkeys(read))
            trailing = len(params) - len(list(takewhile(lambda p: p.endswith("_mask"), reversed(params))))
            defaults = {p: "=None" for p in params[trailing:]}  # padding masks are optional, as at the top
            used_after = {v for v in made if v in self.kept or self.readers.get(v, set()) - unit.nodes}
            last = self.attrs[max(unit.nodes, key=lambda n: self.attrs[n].order)].attr
            results = sorted((v for v in made if v in used_after), key=lambda v: v != last)
        inside = self._units_below(unit)
        within = {f"@{key}" for key in inside} | {self.attrs[n].attr for n in unit.nodes}
        outside = [m for record in records for m in record.modules if m not in within]
        modules = list(dict.fromkeys(outside))
        local = self._local_names(records, params, root is not None)
        module_refs = {m: f"{m.lstrip('@')}_module" for m in modules}
        module_refs |= {self.attrs[n].attr: "self." + self._relative_path(unit, n) for n in unit.nodes}
        module_refs |= {
            f"@{key}": "self." + _path(layout, unit, depth).lstrip(".") for key, (layout, depth) in inside.items()
        }
        init = [line for record in records for line in record.init]
        rendered = [record.render(local, module_refs) for record in records]
        forward = _free_after_last_use(rendered, records, set(params) | set(results), local)
        args = ", ".join([local[p] + defaults.get(p, "") for p in params] + [module_refs[m] for m in modules])
        body = [f'    """{doc}"""', ""] if doc else []
        body += ["    def __init__(self):", "        super().__init__()"]
        body += [f"        {line}" for line in init] + [""]
        body += [f"    def forward(self, {args}):" if args else "    def forward(self):"]
        body += [f"        {line}" for line in forward]
        body.append(f"        return {', '.join(local[r] for r in results)}")
        body += methods
        cls = self.file.add(name, "\n".join(body))
        return Call(cls, params, results, modules)

    @cached_property
    def node_of(self) -> dict[str, str]:
        """Node by its identifier."""
        return {a.attr: n for n, a in self.attrs.items()}

    def _relative_path(self, unit: Unit, node: str) -> str:
        """`pre_ln[0].attention_1`: where a node's module is, seen from `unit`."""
        layout = self.attrs[node].layout
        return (_path(layout, unit, len(layout)) + "." + self.attrs[node].local).lstrip(".")

    def _units_below(self, unit: Unit) -> dict[str, tuple]:
        """The units inside `unit`, by key: a layout that holds each, and how deep it is in it."""
        below = {}
        for node in unit.nodes:
            layout = self.attrs[node].layout
            start = 0 if unit.ref is None else [r.key for r in layout].index(unit.ref.key) + 1
            for depth in range(start, len(layout)):
                below.setdefault(layout[depth].key, (layout, depth + 1))
        return below

    # -- the statements of a unit, one record per item -------------------------------------------
    def _record(self, item) -> _Record:
        if isinstance(item, str):
            statements = self.statements.get(item, [])
            construct = self.constructs.get(item)
            init = [f"self.{self.attrs[item].local} = {construct}"] if construct else []
            return _Record(statements, init)
        if item.ref.kind == "group":
            return self._group(item)
        call = self.write(item, class_name(item.ref.label or item.ref.name, "Block"), doc=_doc(item.ref.label))
        if item.ref.shares:  # `share = NAME`: call the shared instance's module; it has none of its own
            return _Record([], [], call=call, name=item.ref.name, module=f"@{item.ref.shares}")
        return _Record([], [f"self.{item.ref.name} = {call.cls}()"], call=call, name=item.ref.name)

    def _group(self, group: Unit) -> _Record:
        label = group.ref.label or "layer"
        calls = [
            self.write(copy, class_name(copy.ref.label or label, "Block"), doc=_doc(copy.ref.label))
            for copy in group.items
        ]
        name = group.ref.name
        if group.ref.shared:  # one module, called once per copy
            init = f"self.{name} = {calls[0].cls}()"
            if _loops(calls, self.readers, group):
                return _Record([], [init], call=calls[0], name=name, loop=calls, shared=True)
            return _Record([], [init], calls=calls, name=name, shared=True)
        if _loops(calls, self.readers, group):
            init = f"self.{name} = nn.ModuleList([{calls[0].cls}() for _ in range({len(calls)})])"
            return _Record([], [init], call=calls[0], name=name, loop=calls)
        init = f"self.{name} = nn.ModuleList([{', '.join(f'{c.cls}()' for c in calls)}])"
        return _Record([], [init], calls=calls, name=name)

    def _local_names(self, records, params, is_root: bool) -> dict[str, str]:
        """Flat value names -> this class's names: its nodes' own names, `x` for its input, a child's
        name for what the child returns."""
        local: dict[str, str] = {}
        if is_root:
            local |= {p: p for p in params}
        else:
            primary = next((p for p in params if not p.endswith(("_mask", "_state", "_graph"))), None)
            masks = [p for p in params if p.endswith("_mask")]
            for p in params:
                stem, suffix = _split(p)
                if masks == [p]:  # the one padding mask, whichever value's it is: the same name in every copy
                    local[p] = "mask"
                else:
                    local[p] = "x" + suffix if primary is not None and stem == primary else p
        for record in records:
            for statement in record.statements:
                for target in statement.targets:
                    stem, suffix = _split(target)
                    node = self.node_of[stem]
                    local[target] = self.attrs[node].local + suffix if not is_root else target
            for call, child in record.calls_with_names():
                first = _split(call.results[0])[0] if call.results else None
                for i, value in enumerate(call.results):
                    stem, suffix = _split(value)
                    local[value] = child + suffix if stem == first else f"{child}_{i}"
        taken = set()
        for key, value in local.items():  # a parameter may share a name with a node of the class
            while value in taken:
                value += "_"
            taken.add(value)
            local[key] = value
        return local


def _doc(label: str) -> str:
    return f"The `{label}` block." if label else ""


def _split(value: str) -> tuple[str, str]:
    for suffix in ("_mask", "_state", "_graph"):
        if value.endswith(suffix):
            return value[: -len(suffix)], suffix
    return value, ""


def _path(layout: tuple[UnitRef, ...], unit: Unit, end: int) -> str:
    """The attribute path through `layout[start:end]`, where `start` is just below `unit`: copies of a
    repeat are indexed (`[0]`), the copies of a shared repeat are its one module (no index)."""
    start = 0 if unit.ref is None else [r.key for r in layout].index(unit.ref.key) + 1
    path = ""
    for i in range(start, end):
        ref = layout[i]
        if ref.name == "":
            continue
        copy = i > 0 and layout[i - 1].kind == "group"
        path += f"[{ref.name}]" if copy else f".{ref.name}"
    return path


def _loops(calls: list[Call], readers, group: Unit) -> bool:
    """Whether a repeat can run as `for layer in self.layers: x = layer(x, …)`: one class, and each
    copy takes what the one before it returned, in the same places, plus the same other values."""
    first = calls[0]
    if any(c.cls != first.cls or c.modules != first.modules or len(c.results) != len(first.results) for c in calls):
        return False
    chain = len(first.results)
    if chain == 0 or len(first.params) < chain:
        return False
    tail = first.params[chain:]
    for before, after in zip(calls, calls[1:]):
        if after.params[:chain] != before.results or after.params[chain:] != tail:
            return False
    copies = group.items
    for i, call in enumerate(calls[:-1]):  # what a copy returns is read by the next copy alone
        if any(readers.get(v, set()) - copies[i + 1].nodes for v in call.results):
            return False
    return True


@dataclass
class _Record:
    statements: list[Statement]
    init: list[str]
    call: Call | None = None
    name: str = ""
    loop: list[Call] | None = None
    calls: list[Call] | None = None
    module: str = ""  # `@key`: the module of another unit it calls (`share = NAME`)
    shared: bool = False  # a shared repeat: one module, not a list

    def calls_with_names(self):
        if self.loop is not None:
            yield self.loop[-1], self.name
        elif self.calls is not None:
            for i, call in enumerate(self.calls):
                yield call, f"{self.name}_{i}"
        elif self.call is not None:
            yield self.call, self.name

    @property
    def targets(self) -> list[str]:
        own = [t for s in self.statements for t in s.targets]
        return own + [r for call, _ in self.calls_with_names() for r in call.results]

    @property
    def reads(self) -> list[str]:
        own = [r for s in self.statements for r in s.reads]
        if self.loop is not None:
            return own + self.loop[0].params
        return own + [p for call in self._calls() for p in call.params]

    @property
    def modules(self) -> list[str]:
        own = [m for s in self.statements for m in s.modules]
        return own + [m for call in self._calls() for m in call.modules] + ([self.module] if self.module else [])

    def _calls(self) -> list[Call]:
        return self.loop or self.calls or ([self.call] if self.call else [])

    def render(self, local: dict[str, str], modules: dict[str, str]) -> list[str]:
        lines = []
        for s in self.statements:
            targets = ", ".join(local.get(t, t) for t in s.targets)
            line = f"{targets} = {rename(s.expression, local, modules)}"
            lines.append(f"{line}  # {s.comment}" if s.comment else line)
        if self.loop is not None:
            first, last = self.loop[0], self.loop[-1]
            chain = len(first.results)
            loop_vars = [local[r] for r in last.results]
            extra = [local[p] for p in first.params[chain:]] + [modules[m] for m in first.modules]
            starts = [local[p] for p in first.params[:chain]]
            if starts != loop_vars:
                lines.append(f"{', '.join(loop_vars)} = {', '.join(starts)}")
            if self.shared:
                lines.append(f"for _ in range({len(self.loop)}):")
                lines.append(f"    {', '.join(loop_vars)} = self.{self.name}({', '.join(loop_vars + extra)})")
            else:
                lines.append(f"for layer in self.{self.name}:")
                lines.append(f"    {', '.join(loop_vars)} = layer({', '.join(loop_vars + extra)})")
        elif self.calls is not None:
            for i, call in enumerate(self.calls):
                module = f"self.{self.name}" if self.shared else f"self.{self.name}[{i}]"
                lines.append(_call_line(call, module, local, modules))
        elif self.call is not None:
            module = modules[self.module] if self.module else f"self.{self.name}"
            lines.append(_call_line(self.call, module, local, modules))
        return lines


def _call_line(call: Call, module: str, local: dict[str, str], modules: dict[str, str]) -> str:
    args = ", ".join([local[p] for p in call.params] + [modules[m] for m in call.modules])
    targets = ", ".join(local[r] for r in call.results)
    return f"{targets} = {module}({args})" if targets else f"{module}({args})"


def _free_after_last_use(rendered: list[list[str]], records, keep: set[str], local: dict[str, str]) -> list[str]:
    """`del` each value after the statement that reads it last — as a hand-written forward that
    reassigns `x` would: autograd keeps what backward needs; the rest need not live until `return`."""
    kept = {local.get(v, v) for v in keep}
    last: dict[str, int] = {}
    for i, record in enumerate(records):
        for value in [*record.targets, *record.reads]:
            last[local.get(value, value)] = i
    out = []
    for i, (record, lines) in enumerate(zip(records, rendered)):
        out += lines
        values = dict.fromkeys(local.get(v, v) for v in [*record.reads, *record.targets])
        done = [v for v in values if last[v] == i and v not in kept]
        if done:
            out.append(f"del {', '.join(done)}")
    return out
