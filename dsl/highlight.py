"""A Pygments lexer for `.cram` specs, so rich (error excerpts) and documentation tools colour them.

Registered as the Pygments plugin `cram` (entry point `pygments.lexers`), so Markdown and Sphinx
code fences marked `cram` are highlighted once cramnet is installed.
"""

from __future__ import annotations

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import Comment, Keyword, Name, Number, Operator, Punctuation, String, Text, Whitespace

KEYWORDS = ("use", "let", "block", "model", "input", "output", "as", "in", "repeat", "residual", "parallel", "moe")
TYPES = ("tokens", "graph")
CONSTANTS = ("true", "false", "none")


class CramLexer(RegexLexer):
    name = "cram"
    aliases = ["cram", "cramnet"]
    filenames = ["*.cram"]
    mimetypes = ["text/x-cram"]

    tokens = {
        "root": [
            (r"[ \t\f]+", Whitespace),
            (r"\\\r?\n", Text),
            (r"\r?\n", Whitespace),
            (r"#.*?$", Comment.Single),
            (r'"([^"\\\n]|\\.)*"', String.Double),
            (r"(block|model)(\s+)([A-Za-z_]\w*)", bygroups(Keyword.Declaration, Whitespace, Name.Class)),
            (r"(let)(\s+)([A-Za-z_]\w*)", bygroups(Keyword.Declaration, Whitespace, Name.Constant)),
            (r"(input)(\s+)([A-Za-z_]\w*)", bygroups(Keyword, Whitespace, Name.Variable)),
            (r"(as)(\s+)([A-Za-z_]\w*)", bygroups(Keyword, Whitespace, Name.Variable)),
            (words(KEYWORDS, suffix=r"\b"), Keyword),
            (words(TYPES, prefix=r"\b", suffix=r"(?=\[)"), Keyword.Type),
            (words(CONSTANTS, suffix=r"\b"), Keyword.Constant),
            (r"[A-Za-z_]\w*(?=\s*\()", Name.Function),
            (r"[A-Za-z_]\w*", Name),
            (r"[0-9]+\.[0-9]*([eE][+-]?[0-9]+)?|\.[0-9]+([eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+", Number.Float),
            (r"[0-9]+", Number.Integer),
            (r"->", Operator),
            (r"//|[+\-*/%=|]", Operator),
            (r"[()\[\]{},:]", Punctuation),
        ]
    }


def highlight_excerpt(line: str):
    """One line of an error excerpt (`  12 | code`, or the caret line under it) as rich `Text`,
    the code coloured by `CramLexer` and the carets red; its plain text is unchanged."""
    from rich.text import Text

    gutter, separator, code = line.partition(" | ")
    if not separator or not gutter.strip().isdigit():
        return Text(line, style="red" if line.strip().endswith("^") else "")
    coloured = _syntax().highlight(code)
    coloured.rstrip()
    if coloured.plain != code.rstrip():  # never let colouring change what the user reads
        return Text(line)
    return Text(gutter + separator) + coloured


def _syntax():
    from rich.syntax import Syntax

    global _SYNTAX
    if _SYNTAX is None:
        _SYNTAX = Syntax("", CramLexer(), theme="ansi_dark", background_color="default")
    return _SYNTAX


_SYNTAX = None
