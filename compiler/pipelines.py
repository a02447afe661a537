"""Expanding bodies, pipelines and stages, and the combinators — `* N`, `repeat`, `residual`,
`parallel`, a block's `{ }` bodies — into graph nodes (a part of the graph builder, build_graph.py).
"""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

from ..blocks.merges import MERGE_MODES
from ..blocks.registry import all_blocks, lookup
from ..dsl import ast
from ..dsl.errors import Span, did_you_mean
from .arguments import bind_block_args, convert, match_arguments, show
from .binding_sites import unbound_hint
from .block_hints import unknown_block_hint
from .evaluate import EvalError, Word, evaluate
from .expansion import Context
from .model_graph import FAILED
from .sharing import pair_nodes

# the combinators a stage can be, by their keyword (each a method of the same name)
_COMBINATORS = {ast.Repeat: "repeat", ast.Residual: "residual", ast.Parallel: "parallel"}


class Pipelines:
    """Lines, pipelines, stages and combinators."""

    def statement(self, statement, ctx: Context, current: str | None, last: bool = False) -> str | None:
        """Expand one body line; returns the new current value — after a body's `last` line, the body's
        result: the value of that line, bound to a name or not."""
        mark = len(self.graph)
        if isinstance(statement, ast.Binding):
            value = self.pipeline(statement.pipeline, ctx, current)
            bound = self.bind(ctx, statement.name, value, statement.name_span, mark)
            return bound if last else current
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
            for index, statement in enumerate(body.statements, 1):
                current = self.statement(statement, ctx, current, last=index == len(body.statements))
        return current

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
            self.error("E304", f"a repeat count must be an integer, got {show(value)}", expr.span)
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
        keyword = _COMBINATORS[type(term)]
        if current is None:
            return self.nothing_flows(keyword, term.span)
        return getattr(self, keyword)(term, ctx, current)

    def repeat(self, term: ast.Repeat, ctx: Context, current: str) -> str:
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

    def residual(self, term: ast.Residual, ctx: Context, current: str) -> str:
        inner = ctx.within(self.new_scope("residual"))
        out = self.body(term.body, inner.nested(current), current)
        if out == FAILED:
            return FAILED
        return self.merge("add", [current, out], ["the residual's input", "its body's output"], term.span, inner)

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
            if spec is None and not ctx.module.find("blocks", term.name) and not ctx.module.find("lets", term.name):
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
            (call.args is None and unbound_hint(ctx.module, call.name, call.name_span))
            or unknown_block_hint(call.name, candidates - {"in"}),
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
