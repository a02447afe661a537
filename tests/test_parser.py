"""Parsing every core form of LANGUAGE.md into the AST (dsl/parser.py, dsl/grammar.lark).

`unparse` prints a node back in a canonical form — binary operations fully parenthesised, bodies as
`{ line; line }` — so each test states the tree it expects in one readable line.
"""

from __future__ import annotations

import pytest

from cramnet.dsl import SpecErrors, ast, parse
from cramnet.dsl.errors import Span


def unparse(node) -> str:
    match node:
        case ast.Number(value=value):
            return repr(value)
        case ast.String(value=value):
            return f'"{value}"'
        case ast.Bool(value=value):
            return "true" if value else "false"
        case ast.Name(name=name):
            return name
        case ast.InRef():
            return "in"
        case ast.ListExpr(items=items):
            return "[" + ", ".join(unparse(i) for i in items) + "]"
        case ast.BinOp(op=op, left=left, right=right):
            return f"({unparse(left)} {op} {unparse(right)})"
        case ast.Neg(operand=operand):
            return f"-{unparse(operand)}"
        case ast.Kwarg(name=name, value=value):
            return f"{name} = {unparse(value)}"
        case ast.Args(positional=positional, keyword=keyword):
            return "(" + ", ".join(unparse(a) for a in positional + keyword) + ")"
        case ast.Call(name=name, args=args):
            return name if args is None else name + unparse(args)
        case ast.Group(pipeline=pipeline):
            return f"({unparse(pipeline)})"
        case ast.Repeat(count=count, body=body):
            return f"repeat {unparse(count)} {unparse(body)}"
        case ast.Residual(body=body):
            return f"residual {unparse(body)}"
        case ast.Parallel(args=args, branches=branches) | ast.BodyCall(args=args, branches=branches):
            keyword = "parallel" if isinstance(node, ast.Parallel) else node.name
            inner = " | ".join(unparse(b)[2:-2] for b in branches)
            return f"{keyword}{unparse(args)} {{ {inner} }}"
        case ast.Stage(term=term, count=count, alias=alias):
            text = unparse(term)
            if count is not None:
                text += f" * {unparse(count)}"
            if alias is not None:
                text += f" as {alias}"
            return text
        case ast.Pipeline(stages=stages):
            return " -> ".join(unparse(s) for s in stages)
        case ast.Body(statements=statements):
            return "{ " + "; ".join(unparse(s) for s in statements) + " }"
        case ast.InputType(kind=kind, dims=dims):
            prefix = "" if kind == "tensor" else kind
            return prefix + "[" + ", ".join(unparse(d) for d in dims) + "]"
        case ast.InputDecl(name=name, type=input_type):
            return f"input {name}: {unparse(input_type)}"
        case ast.OutputDecl(names=names):
            return "output " + ", ".join(n for n, _ in names)
        case ast.Binding(name=name, pipeline=pipeline):
            return f"{name} = {unparse(pipeline)}"
        case ast.Use(path=path):
            return f'use "{path}"'
        case ast.Let(name=name, value=value):
            return f"let {name} = {unparse(value)}"
        case ast.Param(name=name, default=default):
            return name if default is None else f"{name} = {unparse(default)}"
        case ast.BlockDef(name=name, params=params, body=body):
            return f"block {name}({', '.join(unparse(p) for p in params)}) {unparse(body)}"
        case ast.ModelDef(name=name, body=body):
            return f"model {name} {unparse(body)}"
    raise TypeError(f"cannot unparse {node!r}")


def lines(source: str) -> list[str]:
    """The statements of the only model in `source`, unparsed."""
    (model,) = [d for d in parse(source).declarations if isinstance(d, ast.ModelDef)]
    return [unparse(s) for s in model.body.statements]


def model(*body: str) -> str:
    return "model m {\n" + "\n".join(body) + "\n}\n"


def arg(text: str):
    """The single positional argument of `dense(text)`."""
    (statement,) = parse(model(f"x -> dense({text})")).declarations[0].body.statements
    return statement.stages[1].term.args.positional[0]


# -- declarations ---------------------------------------------------------------------------------


def test_empty_file_and_only_comments():
    assert parse("").declarations == ()
    assert parse("# nothing here\n\n   # still nothing\n").declarations == ()


def test_use_let_block_and_model_in_any_order():
    tree = parse(
        'let d = 256\nuse "std:resnet"\nmodel m {\n  input x: [d]\n  x -> relu as y\n  output y\n}\n'
        'block b() {\n  relu\n}\nuse "other.cram"\n'
    )
    kinds = [type(d).__name__ for d in tree.declarations]
    assert kinds == ["Let", "Use", "ModelDef", "BlockDef", "Use"]
    assert [unparse(d) for d in tree.declarations] == [
        "let d = 256",
        'use "std:resnet"',
        "model m { input x: [d]; x -> relu as y; output y }",
        "block b() { relu }",
        'use "other.cram"',
    ]
    assert tree.path == "<spec>"


def test_lets_with_arithmetic():
    tree = parse('let d = 256\nlet heads = d // 64\nlet lr = 1e-3\nlet name = "gpt"\nlet flag = true\n')
    assert [unparse(d) for d in tree.declarations] == [
        "let d = 256",
        "let heads = (d // 64)",
        "let lr = 0.001",
        'let name = "gpt"',
        "let flag = true",
    ]


def test_block_with_parameters_and_defaults():
    source = """
block ffn(d, mult = 4, p = 0.1) {
    dense(d * mult) -> gelu -> dense(d) -> dropout(p)
}
"""
    (block,) = parse(source).declarations
    assert isinstance(block, ast.BlockDef)
    assert block.name == "ffn"
    assert [(p.name, p.default) for p in block.params][:1] == [("d", None)]
    assert [unparse(p) for p in block.params] == ["d", "mult = 4", "p = 0.1"]
    assert isinstance(block.params[1].default.value, int) and isinstance(block.params[2].default.value, float)
    assert unparse(block.body) == "{ dense((d * mult)) -> gelu -> dense(d) -> dropout(p) }"


def test_block_with_no_parameters_and_trailing_comma():
    assert unparse(parse("block b() {\n relu\n}").declarations[0]) == "block b() { relu }"
    assert unparse(parse("block b(d, e = 2,) {\n relu\n}").declarations[0]) == "block b(d, e = 2) { relu }"


def test_block_bodies_with_bindings_and_in():
    source = """
block swiglu(d, hidden) {
    g = in -> dense(hidden, bias = false) -> silu
    u = in -> dense(hidden, bias = false)
    mul(g, u) -> dense(d, bias = false)
}

block down(c, stride = 2) {             # a ResNet block whose shortcut is projected
    a = in -> conv2d(c, 3, stride = stride, pad = 1, bias = false) -> batchnorm -> relu
           -> conv2d(c, 3, pad = 1, bias = false) -> batchnorm
    b = in -> conv2d(c, 1, stride = stride, bias = false) -> batchnorm
    add(a, b) -> relu
}
"""
    swiglu, down = parse(source).declarations
    assert [unparse(s) for s in swiglu.body.statements] == [
        "g = in -> dense(hidden, bias = false) -> silu",
        "u = in -> dense(hidden, bias = false)",
        "mul(g, u) -> dense(d, bias = false)",
    ]
    assert isinstance(swiglu.body.statements[0], ast.Binding)
    assert isinstance(swiglu.body.statements[0].pipeline.stages[0].term, ast.InRef)
    assert [unparse(s) for s in down.body.statements] == [
        "a = in -> conv2d(c, 3, stride = stride, pad = 1, bias = false) -> batchnorm -> relu"
        " -> conv2d(c, 3, pad = 1, bias = false) -> batchnorm",
        "b = in -> conv2d(c, 1, stride = stride, bias = false) -> batchnorm",
        "add(a, b) -> relu",
    ]


def test_lenet5_from_the_language_page():
    source = """
# LeNet-5 (LeCun et al. 1998): 61,706 parameters
model lenet5 {
    input image: [1, 32, 32]            # per-example shape; the batch dimension is implicit

    image
      -> conv2d(6, 5) -> tanh -> avgpool2d(2)
      -> conv2d(16, 5) -> tanh -> avgpool2d(2)
      -> flatten
      -> dense(120) -> tanh -> dense(84) -> tanh
      -> dense(10) as logits

    output logits
}
"""
    assert lines(source) == [
        "input image: [1, 32, 32]",
        "image -> conv2d(6, 5) -> tanh -> avgpool2d(2) -> conv2d(16, 5) -> tanh -> avgpool2d(2) -> flatten"
        " -> dense(120) -> tanh -> dense(84) -> tanh -> dense(10) as logits",
        "output logits",
    ]


# -- inputs and outputs ---------------------------------------------------------------------------


def test_the_three_input_types_with_symbolic_dims():
    source = model("input image: [3, h, w]", "input ids: tokens[seq]", "input g: graph[nodes, F]", "output ids")
    assert lines(source) == [
        "input image: [3, h, w]",
        "input ids: tokens[seq]",
        "input g: graph[nodes, F]",
        "output ids",
    ]
    decls = parse(source).declarations[0].body.statements
    assert [d.type.kind for d in decls[:3]] == ["tensor", "tokens", "graph"]
    assert all(isinstance(d.type.dims[-1], ast.Name) for d in decls[:3])


def test_input_dims_may_be_expressions_and_span_lines():
    assert lines(model("input x: [d * 2, seq + 1,\n          4,]")) == ["input x: [(d * 2), (seq + 1), 4]"]


def test_output_with_several_names():
    (out,) = parse(model("output logits, h, z")).declarations[0].body.statements
    assert isinstance(out, ast.OutputDecl)
    assert [n for n, _ in out.names] == ["logits", "h", "z"]
    assert [(s.line, s.col) for _, s in out.names] == [(2, 8), (2, 16), (2, 19)]


# -- pipelines ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "x -> relu -> dense(4) as y",
        "x\n  -> relu\n  -> dense(4) as y",
        "x ->\n  relu ->\n  dense(4) as y",
        "x   # start\n  -> relu  # activation\n\n  -> dense(4) as y",
        "x ->  # a comment after an arrow\n\n  relu -> dense(4) as y",
        "x -> relu -> dense(\n    4\n) as y",
    ],
    ids=["one-line", "break-before", "break-after", "comments", "comment-after-arrow", "break-in-args"],
)
def test_line_breaks_before_and_after_arrows(text):
    assert lines(model(text)) == ["x -> relu -> dense(4) as y"]


def test_newlines_separate_statements():
    assert lines(model("x -> relu", "relu", "", "dense(2)")) == ["x -> relu", "relu", "dense(2)"]


def test_binding_and_alias():
    source = model("h = x -> dense(8)", "x -> dense(8) as a -> relu as b")
    binding, pipeline = parse(source).declarations[0].body.statements
    assert isinstance(binding, ast.Binding) and binding.name == "h"
    assert unparse(binding.pipeline) == "x -> dense(8)"
    assert [s.alias for s in pipeline.stages] == [None, "a", "b"]


def test_stage_without_parentheses_differs_from_empty_parentheses():
    bare, empty = parse(model("x -> relu -> relu()")).declarations[0].body.statements[0].stages[1:]
    assert bare.term.args is None
    assert empty.term.args == ast.Args(span=empty.term.args.span)
    assert unparse(empty) == "relu()"


def test_in_as_a_pipeline_start_and_as_an_argument():
    assert lines(model("in -> relu", "add(in, h)")) == ["in -> relu", "add(in, h)"]


# -- arguments ------------------------------------------------------------------------------------


def test_positional_then_keyword_arguments():
    assert lines(model("x -> conv2d(16, 3, stride = 2, pad = same, bias = false)")) == [
        "x -> conv2d(16, 3, stride = 2, pad = same, bias = false)"
    ]
    assert lines(model("x -> dense(out = 4,)")) == ["x -> dense(out = 4)"]


@pytest.mark.parametrize(
    "text, kind, value",
    [
        ("12", ast.Number, 12),
        ("0.5", ast.Number, 0.5),
        ("1e-3", ast.Number, 0.001),
        ("2.", ast.Number, 2.0),
        (".25", ast.Number, 0.25),
        ('"x"', ast.String, "x"),
        (r'"a \"q\" \\ b\n"', ast.String, 'a "q" \\ b\n'),
        ("true", ast.Bool, True),
        ("false", ast.Bool, False),
        ("same", ast.Name, "same"),
        ("sinusoidal", ast.Name, "sinusoidal"),
    ],
)
def test_every_scalar_value_kind(text, kind, value):
    node = arg(text)
    assert type(node) is kind
    assert (node.name if kind is ast.Name else node.value) == value
    assert type(value) is type(node.name if kind is ast.Name else node.value)


def test_lists_and_nested_lists():
    assert unparse(arg("[3, 3]")) == "[3, 3]"
    assert unparse(arg("[]")) == "[]"
    assert unparse(arg("[1, [2, d],]")) == "[1, [2, d]]"
    assert unparse(arg("[\n  1,\n  2\n]")) == "[1, 2]"


@pytest.mark.parametrize(
    "text, tree",
    [
        ("d * mult", "(d * mult)"),
        ("a + b * c", "(a + (b * c))"),
        ("(a + b) * c", "((a + b) * c)"),
        ("a - b - c", "((a - b) - c)"),
        ("d // 64", "(d // 64)"),
        ("d / 2", "(d / 2)"),
        ("d % 7 + 1", "((d % 7) + 1)"),
        ("-3", "-3"),
        ("-d * 2", "(-d * 2)"),
        ("--d", "--d"),
        ("[d * 2, d // 2]", "[(d * 2), (d // 2)]"),
    ],
)
def test_arithmetic_precedence(text, tree):
    assert unparse(arg(text)) == tree


def test_tensor_arguments_by_name_and_tie():
    assert lines(model("x -> cross_attention(8, memory = mem)", "h -> dense(V, bias = false, tie = tok)")) == [
        "x -> cross_attention(8, memory = mem)",
        "h -> dense(V, bias = false, tie = tok)",
    ]
    kwarg = parse(model("h -> dense(V, tie = tok)")).declarations[0].body.statements[0].stages[1].term.args.keyword[0]
    assert kwarg.name == "tie" and kwarg.value == ast.Name(span=kwarg.value.span, name="tok")


# -- combinators ----------------------------------------------------------------------------------


def test_repeat_star_forms():
    assert lines(model("x -> layer * 12 as h", "x -> layer * n", "x -> layer * (n + 1)", "x -> (a -> b) * 3")) == [
        "x -> layer * 12 as h",
        "x -> layer * n",
        "x -> layer * (n + 1)",
        "x -> (a -> b) * 3",
    ]
    (star,) = parse(model("x -> a -> b * 3")).declarations[0].body.statements
    assert [unparse(s) for s in star.stages] == ["x", "a", "b * 3"]  # `*` binds tighter than `->`
    grouped = parse(model("x -> (a -> b) * 3")).declarations[0].body.statements[0].stages[1]
    assert isinstance(grouped.term, ast.Group) and unparse(grouped.count) == "3"


def test_pre_ln_with_residuals():
    source = """
block pre_ln(d, heads, hidden, causal = false) {
    residual { layernorm -> attention(heads, causal = causal) }
    residual { layernorm -> dense(hidden) -> gelu -> dense(d) }
}
"""
    assert [unparse(s) for s in parse(source).declarations[0].body.statements] == [
        "residual { layernorm -> attention(heads, causal = causal) }",
        "residual { layernorm -> dense(hidden) -> gelu -> dense(d) }",
    ]


def test_repeat_and_residual_with_multi_line_bodies():
    text = """x -> repeat 2 {
        h = in -> dense(8)
        add(in, h) -> relu
    } -> residual {
        layernorm
        dense(8)
    } as y"""
    assert lines(model(text)) == [
        "x -> repeat 2 { h = in -> dense(8); add(in, h) -> relu } -> residual { layernorm; dense(8) } as y"
    ]
    assert lines(model("x -> repeat (n * 2) { relu }")) == ["x -> repeat (n * 2) { relu }"]


def test_parallel_one_line_and_multi_line_branches():
    assert lines(model("x -> parallel(merge = concat) { dense(4) | dense(8) -> relu }")) == [
        "x -> parallel(merge = concat) { dense(4) | dense(8) -> relu }"
    ]
    text = """x -> parallel(merge = add) {
        dense(8) -> relu
        dense(4)
      | dense(3)
      | identity
    }"""
    (pipeline,) = parse(model(text)).declarations[0].body.statements
    parallel = pipeline.stages[1].term
    assert isinstance(parallel, ast.Parallel)
    assert [len(b.statements) for b in parallel.branches] == [2, 1, 1]
    assert unparse(parallel) == "parallel(merge = add) { dense(8) -> relu; dense(4) | dense(3) | identity }"
    assert lines(model("x -> parallel { relu | gelu }")) == ["x -> parallel() { relu | gelu }"]


def test_merges():
    assert lines(model("add(a, b)", "mul(g, u) -> dense(4)", "concat(a, b, dim = -1) as c", "stack(a, b, c)")) == [
        "add(a, b)",
        "mul(g, u) -> dense(4)",
        "concat(a, b, dim = -1) as c",
        "stack(a, b, c)",
    ]


def test_moe_with_one_expert_body():
    (pipeline,) = (
        parse(model("x -> moe(experts = 8, top_k = 2) { dense(64) -> gelu -> dense(16) }"))
        .declarations[0]
        .body.statements
    )
    moe = pipeline.stages[1].term
    assert isinstance(moe, ast.BodyCall) and moe.name == "moe"
    assert [(k.name, k.value.value) for k in moe.args.keyword] == [("experts", 8), ("top_k", 2)]
    assert len(moe.branches) == 1
    assert unparse(moe) == "moe(experts = 8, top_k = 2) { dense(64) -> gelu -> dense(16) }"


def test_moe_with_heterogeneous_experts():
    assert lines(model("x -> moe(top_k = 1) { a | b | c }")) == ["x -> moe(top_k = 1) { a | b | c }"]
    text = """x -> moe(top_k = 1, route = example) {
        lstm(16)
      | attention(4) -> dense(16)
    }"""
    (pipeline,) = parse(model(text)).declarations[0].body.statements
    assert len(pipeline.stages[1].term.branches) == 2
    assert unparse(pipeline) == "x -> moe(top_k = 1, route = example) { lstm(16) | attention(4) -> dense(16) }"


def test_comments_anywhere():
    source = """# header
let d = 4  # trailing
# between
model m {  # after brace
    # before a statement
    input x: [d]  # after a type
    x -> dense(d)  # after a stage
      # a comment line inside a pipeline continuation
      -> relu as y
    output y  # last
}  # after the model
"""
    assert lines(source) == ["input x: [d]", "x -> dense(d) -> relu as y", "output y"]


def test_windows_line_endings():
    source = model("x  # comment", "  -> relu as y", "output y").replace("\n", "\r\n")
    assert lines(source) == ["x -> relu as y", "output y"]


# -- spans ----------------------------------------------------------------------------------------

SPANNED = """let d = 16
model m {
    input x: [d]
    h = x -> dense(d * 2)
      -> relu as r
    output r
}
"""


def span(node) -> tuple[int, int, int, int]:
    s: Span = node.span
    return (s.line, s.col, s.end_line, s.end_col)


def test_spans_of_declarations_and_statements():
    tree = parse(SPANNED, "spec.cram")
    let, m = tree.declarations
    assert let.span == Span(file="spec.cram", line=1, col=1, end_line=1, end_col=11)
    assert (let.name_span.line, let.name_span.col) == (1, 5)
    assert span(m) == (2, 1, 7, 2)
    assert (m.name_span.line, m.name_span.col, m.name_span.end_col) == (2, 7, 8)
    inp, binding, out = m.body.statements
    assert span(inp) == (3, 5, 3, 17)
    assert (inp.name_span.line, inp.name_span.col) == (3, 11)
    assert span(inp.type.dims[0]) == (3, 15, 3, 16)
    assert span(binding) == (4, 5, 5, 19)
    assert (out.names[0][1].line, out.names[0][1].col) == (6, 12)


def test_spans_inside_a_pipeline():
    _, m = parse(SPANNED, "spec.cram").declarations
    pipeline = m.body.statements[1].pipeline
    start, dense, relu = pipeline.stages
    assert span(start) == (4, 9, 4, 10)
    assert span(dense.term) == (4, 14, 4, 26)
    assert (dense.term.name_span.col, dense.term.name_span.end_col) == (14, 19)
    product = dense.term.args.positional[0]
    assert span(product) == (4, 20, 4, 25)
    assert span(product.right) == (4, 24, 4, 25)
    assert span(relu) == (5, 10, 5, 19)  # the stage covers its `as` alias
    assert (relu.alias_span.line, relu.alias_span.col) == (5, 18)
    assert all(s.span.file == "spec.cram" for s in pipeline.stages)


def test_span_of_a_keyword_argument_and_combinator():
    (pipeline,) = (
        parse(model("x -> parallel(merge = add) {\n  relu\n| gelu\n} -> dense(4, bias = false)"))
        .declarations[0]
        .body.statements
    )
    parallel, dense = pipeline.stages[1].term, pipeline.stages[2].term
    assert span(parallel) == (2, 6, 5, 2)
    assert span(parallel.args.keyword[0]) == (2, 15, 2, 26)
    assert span(dense.args.keyword[0]) == (5, 15, 5, 27)


# -- what the parser refuses ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        model("x -> conv2d(out = 16, 3)"),  # positional after keyword
        model("x -> relu * 2.5"),  # a count must be an integer
        model("x -> relu * n + 1"),  # a longer count needs parentheses
        model("input x: [2] -> relu"),
        "let d = 2 3",
        "model {\n}",  # a model needs a name
        "block b(d) {\n relu\n} extra",
    ],
)
def test_malformed_specs_raise_spec_errors(source):
    with pytest.raises(SpecErrors) as caught:
        parse(source)
    (error,) = caught.value.errors
    assert error.code in ("E100", "E101")
    assert error.span is not None and error.span.line >= 1 and error.span.col >= 1


def test_integer_literal_too_large():
    with pytest.raises(SpecErrors) as caught:
        parse(model("x -> dense(123456789012345678901234)"))
    (error,) = caught.value.errors
    assert error.code == "E104" and (error.span.line, error.span.col) == (2, 12)
