"""Expanding a call: a bound value, a primitive block, a user block (inlined, its nodes named
`instance.node`), `share = NAME` and `freeze = true` (a part of the graph builder, build_graph.py).
"""

from __future__ import annotations

from dataclasses import replace

from ..blocks.registry import BlockSpec, lookup
from ..dsl import ast
from ..dsl.errors import SpecError
from .arguments import bind_block_args, match_arguments, split_keyword
from .evaluate import Bindings, BlockValue, EvalError, Scope, TensorRef, Word, evaluate
from .expansion import Context
from .freezing import FREEZE, freeze_value
from .loader import SpecModule
from .model_graph import FAILED, INPUT, GraphScope, called_from
from .sharing import SHARE, mismatch, pair_nodes, same_arguments, share_target, show_args


class Calls:
    """Block calls."""

    def call(self, call: ast.Call, ctx: Context, current: str | None, first: bool) -> str:
        call, frozen = split_keyword(call, FREEZE)
        if frozen is None or not freeze_value(frozen, self.scope(ctx), self.errors):
            return self.unfrozen_call(call, ctx, current, first)
        start = len(self.created)
        result = self.unfrozen_call(call, ctx, current, first)
        for node in self.made_since(start):  # every node the call made: a block's, all of them
            self.graph.nodes[node].freeze = True
        return result

    def unfrozen_call(self, call: ast.Call, ctx: Context, current: str | None, first: bool) -> str:
        call, share = split_keyword(call, SHARE)
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
            held = self.let_stage(call, ctx)
            if held is not None:
                return held if isinstance(held, str) else self.call(held[0], held[1], current, first)
            return self.unknown_block(call, ctx, "block or bound value" if current is None else "block")
        if current is None:
            return self.nothing_flows(call.name, call.name_span)
        target = None
        if share is not None:
            target = share_target(share, self.scope(ctx), self.errors)
            if target is None or target.node == FAILED:
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

    def let_stage(self, call: ast.Call, ctx: Context) -> tuple[ast.Call, Context] | str | None:
        """A let used as a stage: `let act = gelu` or `let mixer = lstm(64)` (a fixed point of a search
        space, say), then `x -> mixer`. The call it holds is built in the let's own file."""
        found = ctx.module.find("lets", call.name)
        if len(found) != 1 or call.name in ctx.params:
            return None
        try:
            _, value = self.lets.lookup(ctx.module, call.name, call.name_span)
        except EvalError as failure:
            return self.error_from(failure.error)
        owner = found[0][0]
        if isinstance(value, Word):
            held = replace(call, name=value.name, name_span=value.span)
        elif isinstance(value, BlockValue):
            if call.args is not None and (call.args.positional or call.args.keyword):
                return self.error(
                    "E216",
                    f"'{call.name}' holds the call {value.name}(…) with its arguments; it takes no more",
                    call.args.span,
                    f"write the arguments in the let, or let '{call.name}' hold the bare name {value.name}",
                )
            held = replace(call, name=value.name, name_span=value.span, args=value.args)
        else:
            return None
        if held.name == call.name:  # `let relu2 = relu2` is reported by the let table; this is a guard
            return None
        return held, replace(ctx, module=owner, params={})

    def share_node(self, node: str, shared: TensorRef, call: ast.Call) -> str:
        """`block(…, share = NAME)` of a primitive block: the node uses the module of NAME's node."""
        target = shared.node
        mine, theirs = self.graph.nodes[node], self.graph.nodes[target]
        if theirs.block != mine.block or not same_arguments(theirs.args, mine.args):
            same = theirs.block == mine.block  # then only the arguments that differ
            this = f"{mine.block}({show_args(mine.args, theirs.args if same else None)})"
            other = (
                "an input"
                if theirs.block == INPUT
                else f"{theirs.block}({show_args(theirs.args, mine.args if same else None)})"
            )
            return self.error_from(
                mismatch(
                    f"this {mine.block} call cannot use the weights of '{shared.name}'",
                    this,
                    other,
                    call.span,
                    theirs.span,
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
        shared_ref: TensorRef | None = None,
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
        shared, target = None, shared_ref.node if shared_ref is not None else None
        if shared_ref is not None:
            shared = self.instances.get(target)
            if shared is None or shared[0] != definition.name or not same_arguments(shared[1], consts):
                same = shared is not None and shared[0] == definition.name  # then only the arguments that differ
                theirs = (
                    "no block call"
                    if shared is None
                    else f"{shared[0]}({show_args(shared[1], consts if same else None)})"
                )
                return self.error_from(
                    mismatch(
                        f"this {definition.name} call cannot use the weights of '{shared_ref.name}'",
                        f"{definition.name}({show_args(consts, shared[1] if same else None)})",
                        theirs,
                        call.span,
                        self.graph.nodes[target].span,
                    )
                )
        instance = self.fresh_name(ctx.prefix, definition.name)
        scope = GraphScope("block", instance, definition.name, shares=shared[2] if shared else "", call=call.span)
        child = Context(
            module=owner,
            params=consts,
            values=values,
            prefix=instance + ".",
            stack=ctx.stack + ((definition.name, call.span),),
            scopes=ctx.scopes + (scope,),
        )
        start, reported = len(self.created), len(self.errors)
        with self.deeper(call.name_span):
            result = self.body(definition.body, child, current)
        # a mistake in the body may come from this call's arguments: say which call it was made in
        self.errors[reported:] = [called_from(e, call.span, definition.name) for e in self.errors[reported:]]
        nodes = self.made_since(start)
        if shared is not None and result != FAILED:
            pair_nodes(self.graph, nodes, shared[3], call.span)
            self.graph.add_edge(target, result, kind="share")
        if result != FAILED:
            self.instances[result] = (definition.name, consts, instance, nodes, call.span)
        return result
