"""Syntax mistakes people make, with what to say about them: each row is (message, hint, snippets
that make the same parser error). A parse error that lands in the same parser state on the same token
as a snippet gets that row's message (syntax_errors.py); tests/test_syntax_errors.py walks the table."""

from __future__ import annotations

COMMON_MISTAKES: list[tuple[str, str, list[str]]] = [
    (
        "a pipeline joins stages with '->', not '>' or '=>'",
        "write `a -> b`",
        ["model m {\n x > relu\n}", "model m {\n x => relu\n}", "model m {\n x -> relu > dense(2)\n}"],
    ),
    (
        "unclosed '{': a model or block body must end with '}'",
        "add the missing '}' at the end of the body",
        ["model m {\n input x: [2]\n", "block b(d) {\n dense(d)\n", "model m {\n x -> residual { relu\n"],
    ),
    (
        "unexpected ')': an argument list has more closing than opening parentheses",
        "remove the extra ')'",
        ["model m {\n x -> dense(2))\n}"],
    ),
    (
        "unclosed '(' in an argument list",
        "close the argument list with ')'",
        ["model m {\n x -> dense(2\n}", "model m {\n x -> dense(2, bias = false\n}"],
    ),
    (
        "two arguments without a comma between them",
        "separate arguments with ',': `conv2d(16, 3)`",
        ["model m {\n x -> conv2d(16 3)\n}", "model m {\n x -> dense(2 bias = false)\n}"],
    ),
    (
        "an input needs a type after ':' — a shape like `[1, 28, 28]`, `tokens[seq]` or `graph[nodes, F]`",
        "write `input image: [1, 28, 28]`",
        ["model m {\n input x\n}", "model m {\n input x:\n}", "model m {\n input x: 3\n}"],
    ),
    (
        "a keyword argument uses '=', not ':'",
        "write `dense(10, bias = false)`",
        ["model m {\n x -> dense(10, bias: false)\n}", "model m {\n x -> dense(out: 10)\n}"],
    ),
    (
        "a body's '{' must be on the same line as its declaration",
        "write `model m {` (or `block b(d) {`) on one line",
        ["model m\n{\n}\n", "block b()\n{\n}\n"],
    ),
    (
        "a block declaration needs a parameter list, even an empty one",
        "write `block name() { … }` or `block name(d, p = 0.1) { … }`",
        ["block b {\n relu\n}"],
    ),
    (
        "a pipeline ends with a dangling '->'",
        "put a stage after the arrow or remove it",
        ["model m {\n x -> relu ->\n}"],
    ),
    (
        "positional arguments must come before keyword arguments",
        "move `key = value` arguments to the end",
        ["model m {\n x -> conv2d(out = 16, 3)\n}"],
    ),
    (
        "`* N` needs a count: an integer, a name, or a parenthesised expression",
        "write `layer * 12` or `layer * (n + 1)`",
        ["model m {\n x -> relu * \n}", "model m {\n x -> relu * 2.5\n}"],
    ),
    (
        "a repeat count longer than a name or a number needs parentheses",
        "write `layer * (n + 1)`",
        ["model m {\n x -> relu * n + 1\n}", "model m {\n x -> relu * 2 - 1\n}", "model m {\n x -> relu * 2 * n\n}"],
    ),
    (
        "`repeat N` needs a count: an integer, a name, or a parenthesised expression",
        "write `repeat 3 { … }` or `repeat (n + 1) { … }`",
        ["model m {\n x -> repeat 2.5 { relu }\n}", "model m {\n x -> repeat n + 1 { relu }\n}"],
    ),
    (
        "`in` names the body's input: it cannot be bound",
        "choose another name: `h = in -> relu`",
        ["block b() {\n in = relu\n}"],
    ),
    (
        "a `let` needs a value",
        "write `let d = 256`",
        ["let d\n", "let d =\n"],
    ),
    (
        "`use` takes one path in quotes; which file is used cannot vary (not even with `choice`)",
        'write `use "blocks.cram"`; to search between blocks, use both files and `let b = choice(x, y)`',
        ['use choice("a.cram", "b.cram")\n', "use blocks\n"],
    ),
    (
        "a string is missing its closing quote",
        'close the string with `"`',
        ['use "std:resnet\n'],
    ),
]


def row(start: str) -> tuple[str, str, list[str]]:
    """The row of COMMON_MISTAKES whose message starts so."""
    return next(row for row in COMMON_MISTAKES if row[0].startswith(start))
