"""Pass 2: expand a model into a graph of primitive block calls.

User blocks are inlined (their nodes named `instance.node`), `* N` and `repeat` are unrolled,
`residual` and `parallel` become merge nodes. Each node carries the span of the call that made
it. Errors are collected; a failed pipeline yields `FAILED`, which later stages pass through
quietly so one mistake is reported once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from types import SimpleNamespace

import networkx as nx

from ..blocks.dims import Poly
from ..blocks.merges import MERGE_MODES
from ..blocks.registry import BlockSpec, all_blocks, lookup
from ..blocks.tensor_type import TensorType
from ..dsl import ast
from ..dsl.errors import Span, SpecError, did_you_mean
from .arguments import INT_LIMIT, bind_block_args, convert, match_arguments, show
from .evaluate import Bindings, EvalError, LetTable, Scope, TensorRef, Word, evaluate
from .graph_schema import graph_schema
from .loader import SpecModule
from .sharing import mismatch, pair_nodes, same_arguments, share_target, show_args, split_share

FAILED = "<failed>"
INPUT = "input"

# How large a model may expand (docs/errors.md, E217 and E218): `* N` multiplies, so a few bytes of
# spec can ask for any number of nodes; the budget is spent while expanding, so such a spec fails
# in moments instead of filling memory. `check_spec(max_nodes=…)` and `--max-nodes` raise it.
MAX_NODES = 100_000
STEPS_PER_NODE = 4  # expansion steps (stages, bodies) allowed per node: bodies that build nothing cost too
MAX_EXPANSION_DEPTH = 100  # bodies, groups and block calls inside one another, as expanded


class ExpansionLimit(Exception):
    """The model grew past a limit while being expanded; `error` says where."""

    def __init__(self, error: SpecError):
        super().__init__(error.message)
        self.error = error


@dataclass
class Budget:
    """What one model's expansion may still spend, shared with the builders of its experts."""

    max_nodes: int = MAX_NODES
    nodes: int = 0
    steps: int = 0
    depth: int = 0  # bodies, groups and block calls open now (experts' included: they share the stack)

    def add_node(self, span: Span) -> None:
        self.nodes += 1
        if self.nodes > self.max_nodes:
            raise ExpansionLimit(
                SpecError(
                    code="E217",
                    message=f"the model expands to more than {self.max_nodes:,} nodes (block calls); "
                    "this call is past the limit",
                    span=span,
                    hint="`* N` and `repeat N` multiply: check their counts; a model this large is allowed "
                    "with --max-nodes (check_spec(max_nodes=…))",
                )
            )

    def step(self, span: Span) -> None:
        self.steps += 1
        if self.steps > self.max_nodes * STEPS_PER_NODE:
            raise ExpansionLimit(
                SpecError(
                    code="E217",
                    message=f"expanding the model takes more than {self.max_nodes * STEPS_PER_NODE:,} steps",
                    span=span,
                    hint="`* N` and `repeat N` multiply: check their counts (--max-nodes raises the limit)",
                )
            )


# the budget of the expansion under way: expert bodies are built by builders of their own
_BUDGET: ContextVar[Budget | None] = ContextVar("cramnet_expansion_budget", default=None)


@dataclass(frozen=True)
class GraphScope:
    """One level of the structure a node was made in: a user-block instance (`key` is its name
    prefix, e.g. `basic_2`) or a combinator (`repeat`, `residual`, `parallel`, `branch`). `index`
    is the copy (of a repeat) or the branch (of a parallel) counting from 1; `count` a repeat's N.
    Diagrams and `summary --tree` read the chain of these on each node (`scopes`, outermost first)."""

    kind: str
    key: str
    label: str = ""
    index: int = 0
    count: int = 0
    shared: bool = False  # a repeat whose copies all use the first copy's weights (`* N shared`)
    shares: str = ""  # a block instance that uses another instance's weights (`share = NAME`): its key


@dataclass(frozen=True)
class Context:
    """Where a body is being expanded: its file, constants, bound values and node-name prefix."""

    module: SpecModule
    params: dict
    values: Bindings
    prefix: str = ""
    stack: tuple[tuple[str, Span], ...] = ()
    scopes: tuple[GraphScope, ...] = ()

    def within(self, scope: GraphScope) -> Context:
        return replace(self, scopes=self.scopes + (scope,))

    def nested(self, current: str) -> Context:
        """A `{ }` body: sees the enclosing values, its input is `current`."""
        values = Bindings(self.values)
        values.local["in"] = current
        return replace(self, values=values)


@dataclass
class ModelGraph:
    """The expanded model: the graph, its input and output node names, and its declaration."""

    name: str
    graph: nx.DiGraph
    inputs: list[str]
    outputs: dict[str, str]  # output name -> node, in `output` order
    span: Span
    errors: list[SpecError] = field(default_factory=list)
    bound: dict[str, str] = field(default_factory=dict)  # the model body's names (inputs, `as`, `=`) -> node


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


def build_graph(
    module: SpecModule, model: ast.ModelDef, lets: LetTable, max_nodes: int = MAX_NODES
) -> ModelGraph:
    budget = Budget(max_nodes)
    token = _BUDGET.set(budget)
    try:
        builder = _Builder(lets, budget)
        return _expand(builder, module, model)
    except ExpansionLimit as limit:
        # what was built is partial: only the error is worth reporting
        return ModelGraph(model.name, nx.DiGraph(), [], {}, model.span, [limit.error])
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


class _Builder:
    def __init__(self, lets: LetTable, budget: Budget | None = None):
        self.graph = nx.DiGraph()
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

    # -- helpers --------------------------------------------------------------------------------
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
        if attrs["block"] == INPUT or attrs["order"] < mark or new in self.graph:
            return node
        if _prefix(node) != _prefix(new):
            return node
        # a fresh node has in-edges only (nothing has read it yet): move them, in O(degree) — networkx's
        # relabel_nodes scans every node, which made naming quadratic in the spec's length
        edges = list(self.graph.in_edges(node, data=True))
        self.graph.add_node(new, **self.graph.nodes[node])
        self.graph.remove_node(node)
        self.graph.add_edges_from((source, new, data) for source, _, data in edges)
        if node in self._position:
            self._position[new] = self._position.pop(node)
            self.created[self._position[new]] = new
        return new

    def feed_sources(self, inputs: list[str]) -> None:
        """Give each `source` block (`param`) the model's first input, whose batch size it takes."""
        for node, attrs in self.graph.nodes(data=True):
            if attrs["spec"] is not None and attrs["spec"].source and inputs and not attrs["inputs"]:
                attrs.update(inputs=[inputs[0]], labels=["the model's first input"])
                self.graph.add_edge(inputs[0], node, kind="batch", index=0)  # its batch size only: not drawn

    # -- statements -----------------------------------------------------------------------------
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
                        did_you_mean(name, ctx.values.names()) or "bind it with `… as NAME` or `NAME = …`",
                    )
                elif node != FAILED:
                    nodes[name] = node
        return nodes

    def statement(self, statement, ctx: Context, current: str | None) -> str | None:
        """Expand one body line; returns the new current value."""
        mark = len(self.graph)
        if isinstance(statement, ast.Binding):
            value = self.pipeline(statement.pipeline, ctx, current)
            self.bind(ctx, statement.name, value, statement.name_span, mark)
            return current
        if isinstance(statement, ast.Pipeline):
            return self.pipeline(statement, ctx, current)
        keyword = "input" if isinstance(statement, ast.InputDecl) else "output"
        self.error(
            "E213",
            f"`{keyword}` belongs in a model, not inside a block or `{{ }}` body",
            statement.span,
            "a block's input is the value flowing into it (`in`); its result is its last line",
        )
        return current

    def body(self, body: ast.Body, ctx: Context, current: str) -> str:
        with self.deeper(body.span):
            for statement in body.statements:
                current = self.statement(statement, ctx, current)
        return current

    # -- pipelines ------------------------------------------------------------------------------
    def pipeline(self, pipeline: ast.Pipeline, ctx: Context, current: str | None, first: bool = True) -> str:
        value = current
        for index, stage in enumerate(pipeline.stages):  # after a failure, stages only bind their `as` names
            value = self.stage(stage, ctx, value, first and index == 0)
        return value

    def stage(self, stage: ast.Stage, ctx: Context, current: str | None, first: bool) -> str:
        mark = len(self.graph)
        count = 1 if stage.count is None else self.count(stage.count, ctx)
        if count is None:
            count, current = 1, FAILED
        value = current
        repeat = self.new_scope("repeat", count=count, shared=stage.shared) if count > 1 else None
        copies = []
        for i in range(count):
            inner = ctx.within(replace(repeat, index=i + 1)) if repeat else ctx
            start = len(self.created)
            value = self.term(stage.term, inner, value, first and i == 0)
            copies.append(self.made_since(start))
            if value == FAILED:
                break
        if repeat and repeat.shared and value != FAILED:
            for copy in copies[1:]:
                pair_nodes(self.graph, copy, copies[0], stage.span)
        if value == FAILED:
            if stage.alias:  # bound all the same, so later uses of the name stay quiet
                self.bind(ctx, stage.alias, FAILED, stage.alias_span, mark)
            return FAILED
        if stage.alias:
            bound = self.bind(ctx, stage.alias, value, stage.alias_span, mark)
            value = bound if bound != FAILED else value
        return value

    def count(self, expr: ast.Expr, ctx: Context) -> int | None:
        try:
            value = evaluate(expr, self.scope(ctx))
        except EvalError as failure:
            self.errors.append(failure.error)
            return None
        if isinstance(value, Word):
            self.error(
                "E205",
                f"unknown name '{value.name}' in a repeat count",
                expr.span,
                did_you_mean(value.name, self.scope(ctx).known_names()),
            )
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.error("E304", f"a repeat count must be an integer, got {value}", expr.span)
            return None
        if value < 1:
            self.error("E305", f"a repeat count must be at least 1, got {value}", expr.span)
            return None
        if value > 100_000:
            self.error("E305", f"a repeat count of {value} is too large (at most 100000)", expr.span)
            return None
        return value

    def term(self, term, ctx: Context, current: str | None, first: bool) -> str:
        self.budget.step(term.span)
        if current == FAILED:
            return self.after_failure(term, ctx)
        if isinstance(term, ast.Call):
            return self.call(term, ctx, current, first)
        if isinstance(term, ast.InRef):
            node = ctx.values.get("in")
            if node is None:
                return self.error(
                    "E212",
                    "`in` is only defined inside a block or `{ }` body",
                    term.span,
                    "in a model, start a line with an input or a bound name",
                )
            if not first:
                return self.error("E216", "`in` can only start a pipeline", term.span)
            return node
        if isinstance(term, ast.Group):
            with self.deeper(term.span):
                return self.pipeline(term.pipeline, ctx, current, first)
        if isinstance(term, ast.BodyCall):
            return self.body_call(term, ctx, current)
        what = {ast.Repeat: "repeat", ast.Residual: "residual", ast.Parallel: "parallel"}[type(term)]
        if current is None:
            return self.nothing_flows(what, term.span)
        if isinstance(term, ast.Repeat):
            count = self.count(term.count, ctx)
            if count is None:
                return FAILED
            repeat = self.new_scope("repeat", count=count, shared=term.shared) if count > 1 else None
            copies = []
            for i in range(count):
                inner = ctx.within(replace(repeat, index=i + 1)) if repeat else ctx
                start = len(self.created)
                current = self.body(term.body, inner.nested(current), current)
                copies.append(self.made_since(start))
            if repeat and repeat.shared and current != FAILED:
                for copy in copies[1:]:
                    pair_nodes(self.graph, copy, copies[0], term.span)
            return current
        if isinstance(term, ast.Residual):
            inner = ctx.within(self.new_scope("residual"))
            out = self.body(term.body, inner.nested(current), current)
            if out == FAILED:
                return FAILED
            return self.merge("add", [current, out], ["the residual's input", "its body's output"], term.span, inner)
        if isinstance(term, ast.Parallel):
            return self.parallel(term, ctx, current)
        raise AssertionError(f"unknown term {type(term).__name__}")

    def body_call(self, term: ast.BodyCall, ctx: Context, current: str | None) -> str:
        """`NAME(args) { a | b }`: a block that declares bodies (blocks/registry.py `BodySlot`)."""
        from .bodies import build_body_call  # bodies are built with a builder of this kind

        spec = lookup(term.name)
        if spec is None:
            return self.unknown_block(term, ctx, "block")
        if spec.bodies is None:
            return self.error(
                "E216",
                f"'{term.name}' takes no {{ }} bodies",
                term.name_span,
                "blocks that take bodies: " + ", ".join(sorted(n for n, s in all_blocks().items() if s.bodies)),
            )
        if current is None:
            return self.nothing_flows(term.name, term.span)
        return build_body_call(self, spec, term, term.branches, ctx, current)

    def after_failure(self, term, ctx: Context) -> str:
        """A stage whose input failed builds nothing, but a mistake in its own call is still reported."""
        if isinstance(term, ast.Call) and ctx.values.get(term.name) is None:
            spec = lookup(term.name)
            if spec is None and not ctx.module.find("blocks", term.name):
                return self.unknown_block(term, ctx, "block")
            if spec is not None and not spec.merge:
                bind_block_args(spec, term.args, self.scope(ctx), term.span, self.errors)
        return FAILED

    def unknown_block(self, call: ast.Call, ctx: Context, kind: str) -> str:
        candidates = set(all_blocks()) | ctx.module.visible("blocks") | ctx.values.names()
        return self.error(
            "E204",
            f"unknown {kind} '{call.name}'",
            call.name_span,
            did_you_mean(call.name, candidates - {"in"}) or "`cramnet blocks` lists the blocks",
        )

    def nothing_flows(self, what: str, span: Span) -> str:
        return self.error(
            "E211",
            f"nothing flows into '{what}': a model line must start from an input, a bound name or a merge",
            span,
            f"start the line with a value: `x -> {what}…`",
        )

    def parallel(self, term: ast.Parallel, ctx: Context, current: str) -> str:
        matched = match_arguments("parallel", ["merge", "dim"], set(), term.args, term.span, self.errors)
        if matched is None:
            return FAILED
        mode = "concat"
        if "merge" in matched:
            expr = matched["merge"]
            try:
                value = evaluate(expr, self.scope(ctx))
            except EvalError as failure:
                self.errors.append(failure.error)
                return FAILED
            mode = value.name if isinstance(value, Word) else value
            if mode not in MERGE_MODES:
                return self.error(
                    "E304",
                    f"parallel: merge cannot be {mode!r}",
                    expr.span,
                    did_you_mean(str(mode), MERGE_MODES) or f"choose one of: {', '.join(MERGE_MODES)}",
                )
        whole = ctx.within(self.new_scope("parallel", label=str(mode))) if len(term.branches) > 1 else ctx
        branch = self.new_scope("branch")
        outs = [
            self.body(body, whole.within(replace(branch, index=i + 1)).nested(current), current)
            for i, body in enumerate(term.branches)
        ]
        if FAILED in outs:
            return FAILED
        if len(outs) == 1:
            return outs[0]
        extra = {"dim": matched["dim"]} if "dim" in matched else {}
        labels = [f"branch {i + 1}" for i in range(len(outs))]
        return self.merge(mode, outs, labels, term.span, whole, extra)

    def merge(self, mode: str, inputs: list[str], labels: list[str], span: Span, ctx: Context, extra=None) -> str:
        spec = lookup(mode)
        values = {}
        for arg in spec.args:
            values[arg.name] = arg.default
            if extra and arg.name in extra:
                try:
                    values[arg.name] = convert(
                        mode, arg, evaluate(extra[arg.name], self.scope(ctx)), extra[arg.name].span, self.scope(ctx)
                    )
                except EvalError as failure:
                    self.errors.append(failure.error)
                    return FAILED
        return self.add_node(ctx, spec, SimpleNamespace(**values), inputs, labels, span)

    # -- calls ----------------------------------------------------------------------------------
    def call(self, call: ast.Call, ctx: Context, current: str | None, first: bool) -> str:
        call, share = split_share(call)
        bound = ctx.values.get(call.name)
        if bound is None and current is None and call.args is None and call.name in self.refused:
            return FAILED  # a line that starts from a name whose binding was refused: reported there
        if bound is not None:
            if bound == FAILED:
                return FAILED
            if call.args is not None:
                return self.error(
                    "E216", f"'{call.name}' is a bound value, not a block: it takes no arguments", call.span
                )
            if not first:
                return self.error(
                    "E216",
                    f"'{call.name}' is a bound value: a pipeline can start from it, not flow into it",
                    call.name_span,
                    f"to combine values, merge them: add(…, {call.name})",
                )
            return bound
        spec = lookup(call.name)
        defined = ctx.module.find("blocks", call.name)
        if spec is not None and (spec.merge or spec.source):
            if not first:
                what, example = ("merge", f"{call.name}(a, b)") if spec.merge else ("block", f"{call.name}(…)")
                return self.error(
                    "E216",
                    f"the {what} '{call.name}' starts a pipeline; it cannot follow '->'",
                    call.name_span,
                    f"bind the value first and write {example} on its own line",
                )
            return self.primitive(spec, call, ctx, None)
        if spec is None and not defined:
            return self.unknown_block(call, ctx, "block or bound value" if current is None else "block")
        if current is None:
            return self.nothing_flows(call.name, call.name_span)
        target = None
        if share is not None:
            target = share_target(share, self.scope(ctx), self.errors)
            if target is None or target == FAILED:
                return FAILED
        if spec is not None:
            node = self.primitive(spec, call, ctx, current)
            return node if target is None or node == FAILED else self.share_node(node, target, call)
        if len(defined) > 1:
            files = ", ".join(m.path for m, _ in defined)
            return self.error(
                "E214",
                f"block '{call.name}' is defined by more than one used file: {files}",
                call.name_span,
                "define or rename it in this file to choose one",
            )
        owner, definition = defined[0]
        return self.user_block(owner, definition, call, ctx, current, target)

    def share_node(self, node: str, target: str, call: ast.Call) -> str:
        """`block(…, share = NAME)` of a primitive block: the node uses the module of NAME's node."""
        mine, theirs = self.graph.nodes[node], self.graph.nodes[target]
        if theirs["block"] != mine["block"] or not same_arguments(theirs["args"], mine["args"]):
            this = f"{mine['block']}({show_args(mine['args'])})"
            other = "an input" if theirs["block"] == INPUT else f"{theirs['block']}({show_args(theirs['args'])})"
            return self.error_from(
                mismatch(
                    f"this {mine['block']} call cannot use the weights of '{target}'",
                    this,
                    other,
                    call.span,
                    theirs["span"],
                )
            )
        pair_nodes(self.graph, [node], [target], call.span)
        self.graph.add_edge(target, node, kind="share")
        return node

    def error_from(self, error: SpecError) -> str:
        self.errors.append(error)
        return FAILED

    def primitive(self, spec: BlockSpec, call: ast.Call, ctx: Context, current: str | None) -> str:
        args = bind_block_args(spec, call.args, self.scope(ctx), call.span, self.errors)
        if args is None:
            return FAILED
        if spec.merge:
            refs = args._merged
            del args._merged
            if any(ref.node == FAILED for ref in refs):
                return FAILED
            inputs, labels = [r.node for r in refs], [f"'{r.name}'" for r in refs]
        elif spec.source:  # the model's first input is added once the model is built (feed_sources)
            inputs, labels = [], []
        else:
            inputs, labels = [current], ["its input"]
        for arg in spec.args:
            value = getattr(args, arg.name)
            if arg.kind in ("tensor", "ref") and isinstance(value, TensorRef) and value.node == FAILED:
                return FAILED
            if arg.kind == "tensor" and isinstance(value, TensorRef):
                inputs.append(value.node)
                labels.append(f"'{value.name}'")
        return self.add_node(ctx, spec, args, inputs, labels, call.span)

    def user_block(
        self,
        owner: SpecModule,
        definition: ast.BlockDef,
        call: ast.Call,
        ctx: Context,
        current: str,
        target: str | None = None,
    ) -> str:
        names = [name for name, _ in ctx.stack]
        if definition.name in names:
            chain = " -> ".join(names[names.index(definition.name) :] + [definition.name])
            return self.error(
                "E206",
                f"block '{definition.name}' calls itself: {chain}",
                call.name_span,
                "blocks may use other blocks but not recursively; repeat with `* N` instead",
            )
        params = [p.name for p in definition.params]
        required = {p.name for p in definition.params if p.default is None}
        matched = match_arguments(definition.name, params, required, call.args, call.span, self.errors)
        if matched is None:
            return FAILED
        caller = self.scope(ctx)
        consts: dict = {}
        values = Bindings()
        values.local["in"] = current
        for param in definition.params:
            try:
                if param.name in matched:
                    value = evaluate(matched[param.name], caller)
                else:  # defaults see earlier parameters and the defining file's lets
                    value = evaluate(param.default, Scope(owner, dict(consts), self.lets))
            except EvalError as failure:
                self.errors.append(failure.error)
                return FAILED
            if isinstance(value, TensorRef):
                if value.node == FAILED:
                    return FAILED
                values.local[param.name] = value.node
            else:
                consts[param.name] = value
        shared = None
        if target is not None:
            shared = self.instances.get(target)
            if shared is None or shared[0] != definition.name or not same_arguments(shared[1], consts):
                theirs = "no block call" if shared is None else f"{shared[0]}({show_args(shared[1])})"
                return self.error_from(
                    mismatch(
                        f"this {definition.name} call cannot use the weights of '{target}'",
                        f"{definition.name}({show_args(consts)})",
                        theirs,
                        call.span,
                        self.graph.nodes[target]["span"],
                    )
                )
        instance = self.fresh_name(ctx.prefix, definition.name)
        scope = GraphScope("block", instance, definition.name, shares=shared[2] if shared else "")
        child = Context(
            module=owner,
            params=consts,
            values=values,
            prefix=instance + ".",
            stack=ctx.stack + ((definition.name, call.span),),
            scopes=ctx.scopes + (scope,),
        )
        start = len(self.created)
        with self.deeper(call.name_span):
            result = self.body(definition.body, child, current)
        nodes = self.made_since(start)
        if shared is not None and result != FAILED:
            pair_nodes(self.graph, nodes, shared[3], call.span)
            self.graph.add_edge(target, result, kind="share")
        if result != FAILED:
            self.instances[result] = (definition.name, consts, instance, nodes, call.span)
        return result
