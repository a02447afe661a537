"""Pass 2: expand a model into a graph of primitive block calls.

User blocks are inlined (their nodes named `instance.node`), `* N` and `repeat` are unrolled,
`residual` and `parallel` become merge nodes. Each node carries the span of the call that made
it. Errors are collected; a failed pipeline yields `FAILED`, which later stages pass through
quietly so one mistake is reported once.

The builder's parts: `model_graph.py` (the graph it makes: typed nodes and edges), `expansion.py`
(its context and budget), `pipelines.py` (lines, pipelines, stages, combinators), `calls.py`
(block calls); this file holds the entry point, the builder's own bookkeeping (names, bindings,
inputs, outputs).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace

from ..blocks.dims import Poly
from ..blocks.registry import BlockSpec, lookup
from ..blocks.tensor_type import TensorType
from ..dsl import ast
from ..dsl.errors import Span, SpecError, did_you_mean
from .arguments import INT_LIMIT, show
from .binding_sites import unbound_hint
from .calls import Calls
from .evaluate import Bindings, EvalError, LetTable, Scope, TensorRef, evaluate
from .expansion import _BUDGET, MAX_EXPANSION_DEPTH, MAX_NODES, Budget, Context, ExpansionLimit
from .graph_schema import graph_schema
from .loader import SpecModule
from .model_graph import FAILED, INPUT, GraphScope, ModelGraph, NodeGraph
from .pipelines import Pipelines


def select_model(module: SpecModule, name: str | None) -> tuple[ast.ModelDef | None, SpecError | None]:
    models = module.models
    # where the error points: the models the file does declare, else the file's first line
    start = Span(file=module.path, line=1, col=1, end_line=1, end_col=1)
    if name is not None:
        if name in models:
            return models[name], None
        hint = did_you_mean(name, models) or (f"models in this file: {', '.join(models)}" if models else None)
        spans = [m.name_span for m in models.values()] or [start]
        return None, SpecError(
            code="E208",
            message=f"no model named '{name}' in {module.path}",
            span=spans[0],
            hint=hint,
            notes=tuple((span, "a model is declared here") for span in spans[1:]),
        )
    if len(models) == 1:
        return next(iter(models.values())), None
    if not models:
        return None, SpecError(
            code="E208",
            message=f"{module.path} declares no model",
            span=start,
            hint="declare one with `model NAME { … }`; a file of blocks is meant to be `use`d",
        )
    first, *others = models.values()
    return None, SpecError(
        code="E208",
        message=f"{module.path} declares several models: {', '.join(models)}",
        span=first.name_span,
        hint='choose one with --model NAME (or model = "NAME" from Python)',
        notes=tuple((other.name_span, f"model '{other.name}' is also declared here") for other in others),
    )


def build_graph(module: SpecModule, model: ast.ModelDef, lets: LetTable, max_nodes: int = MAX_NODES) -> ModelGraph:
    budget = Budget(max_nodes)
    token = _BUDGET.set(budget)
    try:
        builder = _Builder(lets, budget)
        return _expand(builder, module, model)
    except ExpansionLimit as limit:
        # what was built is partial: only the error is worth reporting
        return ModelGraph(model.name, NodeGraph(), [], {}, model.span, [limit.error])
    finally:
        _BUDGET.reset(token)


def _expand(builder: _Builder, module: SpecModule, model: ast.ModelDef) -> ModelGraph:
    ctx = Context(module=module, params={}, values=Bindings())
    inputs: list[str] = []
    outputs_decl: list[ast.OutputDecl] = []
    for statement in model.body.statements:
        if isinstance(statement, ast.InputDecl):
            node = builder.input(statement, ctx)
            if node is not None:
                inputs.append(node)
        elif isinstance(statement, ast.OutputDecl):
            outputs_decl.append(statement)
        else:
            builder.statement(statement, ctx, current=None)
    outputs = builder.outputs(model, outputs_decl, ctx)
    builder.feed_sources(inputs)
    if not any(isinstance(s, ast.InputDecl) for s in model.body.statements):
        builder.errors.append(
            SpecError(
                code="E210",
                message=f"model '{model.name}' declares no input",
                span=model.name_span,
                hint="declare one: `input x: [784]`",
            )
        )
    bound = {name: node for name, node in ctx.values.local.items() if node != FAILED}
    return ModelGraph(model.name, builder.graph, inputs, outputs, model.span, builder.errors, bound)


def _prefix(node: str) -> str:
    return node.rsplit(".", 1)[0] if "." in node else ""


class _Builder(Pipelines, Calls):
    def __init__(self, lets: LetTable, budget: Budget | None = None):
        self.graph = NodeGraph()
        self.errors: list[SpecError] = []
        self.lets = lets
        self.budget = budget or _BUDGET.get() or Budget()
        self._counters: dict[tuple[str, str], int] = {}
        self._scope_count = 0
        self.refused: set[str] = set()  # names whose binding was an error (a block's name)
        self.created: list[str] = []  # nodes in the order they were made (renames followed)
        self._position: dict[str, int] = {}
        self.named: set[str] = set()  # nodes a name is bound to
        self.instances: dict[str, tuple] = {}  # a user block call's result -> (block, arguments, key, nodes, span)

    def error(self, code: str, message: str, span: Span | None, hint: str | None = None, notes=()) -> str:
        self.errors.append(SpecError(code=code, message=message, span=span, hint=hint, notes=tuple(notes)))
        return FAILED

    def scope(self, ctx: Context, symbols: bool = False) -> Scope:
        return Scope(ctx.module, ctx.params, self.lets, ctx.values, symbols)

    def new_scope(self, kind: str, label: str = "", count: int = 0, shared: bool = False) -> GraphScope:
        self._scope_count += 1
        return GraphScope(kind, f"{kind}#{self._scope_count}", label, count=count, shared=shared)

    def made_since(self, mark: int) -> list[str]:
        return self.created[mark:]

    def fresh_name(self, prefix: str, base: str) -> str:
        while True:
            n = self._counters[(prefix, base)] = self._counters.get((prefix, base), 0) + 1
            name = f"{prefix}{base}_{n}"
            if name not in self.graph:
                return name

    @contextmanager
    def deeper(self, span: Span) -> Iterator[None]:
        """One more level of bodies, groups or block calls; every level costs Python frames."""
        if self.budget.depth >= MAX_EXPANSION_DEPTH:
            raise ExpansionLimit(
                SpecError(
                    code="E218",
                    message=f"bodies, groups and block calls nest more than {MAX_EXPANSION_DEPTH} deep here",
                    span=span,
                    hint="each block call, `{ }` body and `( )` group is a level: "
                    "shorten the chain of blocks calling blocks",
                )
            )
        self.budget.depth += 1
        try:
            yield
        finally:
            self.budget.depth -= 1

    def add_node(
        self, ctx: Context, spec: BlockSpec, args: SimpleNamespace, inputs: list[str], labels: list[str], span: Span
    ) -> str:
        if FAILED in inputs:  # a failed value (a residual's body, say) was reported where it failed
            return FAILED
        self.budget.add_node(span)
        name = self.fresh_name(ctx.prefix, spec.name)
        self.graph.add_node(
            name,
            block=spec.name,
            spec=spec,
            args=args,
            inputs=inputs,
            labels=labels,
            span=span,
            order=len(self.graph),
            scopes=ctx.scopes,
        )
        self._position[name] = len(self.created)
        self.created.append(name)
        for i, source in enumerate(inputs):
            self.graph.add_edge(source, name, kind="data", index=i)
        for arg in spec.args:
            value = getattr(args, arg.name)
            if arg.kind == "ref" and isinstance(value, TensorRef):
                self.graph.add_edge(value.node, name, kind="tie")
        return name

    def bind(self, ctx: Context, name: str, node: str, span: Span, mark: int) -> str:
        """Bind `name` to `node` in this body; returns the node (renamed to `name` if it is fresh)."""
        if name in ctx.values.local:
            return self.error("E207", f"'{name}' is already bound in this body", span, "choose another name")
        if lookup(name) is not None or ctx.module.find("blocks", name):
            self.refused.add(name)  # so `output NAME` does not report it again
            return self.error(
                "E207",
                f"'{name}' is the name of a block; a bound value needs another name",
                span,
                f"for example '{name}_out'",
            )
        # in `{ }` bodies (repeated, say) nodes keep their names; a node named once (`y = x -> f as z`) keeps
        # its first name, which bindings and tied weights already hold
        if node != FAILED and ctx.values.parent is None and node not in self.named:
            node = self._rename_fresh(node, ctx.prefix + name, mark)
        ctx.values.local[name] = node
        self.named.add(node)
        return node

    def _rename_fresh(self, node: str, new: str, mark: int) -> str:
        """Give a node made by this statement directly in this body (not inside a block instance) its bound name."""
        attrs = self.graph.nodes[node]
        if attrs.block == INPUT or attrs.order < mark or new in self.graph:
            return node
        if _prefix(node) != _prefix(new):
            return node
        # a fresh node has in-edges only (nothing has read it yet): move them, in O(degree) — networkx's
        # relabel_nodes scans every node, which made naming quadratic in the spec's length
        edges = list(self.graph.in_edges(node, data=True))
        self.graph.put(new, attrs)
        self.graph.remove_node(node)
        self.graph.add_edges_from((source, new, data) for source, _, data in edges)
        if node in self._position:
            self._position[new] = self._position.pop(node)
            self.created[self._position[new]] = new
        return new

    def feed_sources(self, inputs: list[str]) -> None:
        """Give each `source` block (`param`) the model's first input, whose batch size it takes."""
        for node, attrs in self.graph.nodes(data=True):
            if attrs.spec is not None and attrs.spec.source and inputs and not attrs.inputs:
                attrs.update(inputs=[inputs[0]], labels=["the model's first input"])
                self.graph.add_edge(inputs[0], node, kind="batch", index=0)  # its batch size only: not drawn

    def input(self, decl: ast.InputDecl, ctx: Context) -> str | None:
        if decl.name in self.graph or decl.name in ctx.values.local:
            self.error("E207", f"input '{decl.name}' is declared twice", decl.name_span)
            return None
        if lookup(decl.name) is not None or ctx.module.find("blocks", decl.name):
            self.refused.add(decl.name)
            self.error("E207", f"'{decl.name}' is the name of a block; an input needs another name", decl.name_span)
            return None
        dims = self.input_dims(decl, ctx)
        schema = graph_schema(decl.type.options, self.errors) if decl.type.options else None
        if dims is None or (decl.type.options and schema is None):
            ctx.values.local[decl.name] = FAILED  # declared all the same, so its uses stay quiet
            return None
        kind = {"tensor": "float", "tokens": "tokens", "graph": "graph"}[decl.type.kind]
        self.graph.add_node(
            decl.name,
            block=INPUT,
            spec=None,
            type=TensorType(tuple(dims), kind, schema),
            inputs=[],
            span=decl.span,
            order=len(self.graph),
        )
        ctx.values.local[decl.name] = decl.name
        return decl.name

    def input_dims(self, decl: ast.InputDecl, ctx: Context) -> list | None:
        """The dimensions of an input's type, or None after recording what is wrong with them."""
        dims = []
        scope = self.scope(ctx, symbols=True)
        for expr in decl.type.dims:
            try:
                value = evaluate(expr, scope)
            except EvalError as failure:
                self.errors.append(failure.error)
                return None
            if isinstance(value, bool) or not isinstance(value, (int, Poly)):
                self.error("E304", f"a dimension must be an integer or a size name, got {show(value)}", expr.span)
                return None
            if isinstance(value, int) and value < 1:
                self.error("E305", f"a dimension must be at least 1, got {value}", expr.span)
                return None
            if isinstance(value, int) and value > INT_LIMIT:
                self.error("E305", f"a dimension must be at most {INT_LIMIT:,}, got {value:,}", expr.span)
                return None
            dims.append(value)
        if decl.type.kind == "graph" and len(dims) != 2:
            self.error("E304", f"a graph input is graph[nodes, features], got {len(dims)} dimensions", decl.type.span)
            return None
        return dims

    def outputs(self, model: ast.ModelDef, decls: list[ast.OutputDecl], ctx: Context) -> dict[str, str]:
        if not decls:
            self.error(
                "E210",
                f"model '{model.name}' has no `output`",
                model.name_span,
                "name the result: `… -> dense(10) as logits` and `output logits`",
            )
            return {}
        nodes: dict[str, str] = {}
        for decl in decls:
            for name, span in decl.names:
                node = ctx.values.get(name)
                if name in nodes:
                    self.error("E207", f"output '{name}' is listed twice", span, "list each output once")
                    continue
                if node is None and name in self.refused:
                    continue
                if node is None:
                    self.error(
                        "E209",
                        f"output '{name}' is not a bound value",
                        span,
                        unbound_hint(ctx.module, name, span)
                        or did_you_mean(name, ctx.values.names())
                        or "bind it with `… as NAME` or `NAME = …`",
                    )
                elif node != FAILED:
                    nodes[name] = node
        return nodes
