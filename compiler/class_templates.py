"""The generated classes of one file, shared as a hand-written model shares them.

Units whose source is the same share a class. Units whose source differs only in the numbers of
their `__init__` — ResNet's bottlenecks at widths 64, 128, 256 and 512 — share one class too, whose
constructor takes the numbers that differ (`Bottleneck(in_channels=256, out_channels=64, …)`), as
torchvision's `Bottleneck(inplanes, planes)` does. Until every unit is written, a parent refers to
a child's constructor call by a token (`⟦3⟧()`); `sources` resolves the tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_CALL = re.compile(r"⟦(\d+)⟧\(\)")
# a number standing on its own (not part of a name, a token or an attribute)
_NUMBER = re.compile(r"(?<![\w.⟦])-?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?![\w.⟧])")
_KEYWORD = re.compile(r"(\w+)=$")
_INIT, _FORWARD = "    def __init__(self):", "    def forward("


@dataclass
class _Template:
    name: str
    doc: str
    pieces: list[str]  # the __init__ source between its numbers
    forward: str  # without comments
    numbers: list[list[str]] = field(default_factory=list)  # per instance: the numbers of __init__
    comments: list[list[str]] = field(default_factory=list)  # per instance: the forward's comments

    def parameters(self) -> tuple[dict[int, str], dict[tuple, str]]:
        """Positions of the numbers that differ between instances -> parameter name, and each
        parameter's values by instance; positions that vary alike share one parameter, named by the
        keyword they fill (`in_channels`)."""
        params: dict[int, str] = {}
        by_values: dict[tuple, str] = {}
        for position, column in enumerate(zip(*self.numbers)):
            if len(set(column)) == 1:
                continue
            if column not in by_values:
                keyword = _KEYWORD.search(self.pieces[position])
                base = keyword.group(1) if keyword else "size"
                name, n = base, 1
                while name in by_values.values():
                    n += 1
                    name = f"{base}_{n}"
                by_values[column] = name
            params[position] = by_values[column]
        return params, by_values


@dataclass
class ClassFile:
    """Collects generated classes; `add` returns a token standing for the class (`⟦3⟧`, called as
    `⟦3⟧()`), resolved to `Name()` or `Name(width=64)` in `sources`."""

    templates: list[_Template] = field(default_factory=list)
    by_key: dict[tuple, int] = field(default_factory=dict)
    instances: list[tuple[int, int]] = field(default_factory=list)  # token -> (template, its instance)
    by_instance: dict[tuple, int] = field(default_factory=dict)
    reserved: set[str] = field(default_factory=set)  # names no class may take: the file's imports and own classes

    def add(self, name: str, body: str) -> str:
        doc, _, rest = body.partition(_INIT)
        init, _, forward = rest.partition(_FORWARD)
        pieces, numbers = _NUMBER.split(_INIT + init), _NUMBER.findall(_INIT + init)
        code, comments = _without_comments(_FORWARD + forward)
        key = (name, doc, tuple(pieces), code)
        if key not in self.by_key:
            self.by_key[key] = len(self.templates)
            self.templates.append(_Template(name, doc, pieces, code))
        template = self.templates[self.by_key[key]]
        instance = (self.by_key[key], tuple(numbers), tuple(comments))
        if instance not in self.by_instance:
            template.numbers.append(numbers)
            template.comments.append(comments)
            self.by_instance[instance] = len(self.instances)
            self.instances.append((self.by_key[key], len(template.numbers) - 1))
        return f"⟦{self.by_instance[instance]}⟧"

    @property
    def sources(self) -> list[str]:
        names = self._class_names()
        params = [t.parameters() for t in self.templates]  # once per class: every call site reads them
        calls = [_call(self.templates[t], names[t], i, params[t][0]) for t, i in self.instances]
        written = [_class_source(t, names[i], *params[i]) for i, t in enumerate(self.templates)]
        return [_CALL.sub(lambda m: calls[int(m.group(1))], text) for text in written]

    def name_of(self, token: str) -> str:
        """The name `sources` gives the class a token (`⟦3⟧`) stands for."""
        return self._class_names()[self.instances[int(token.strip("⟦⟧"))][0]]

    def _class_names(self) -> list[str]:
        names: list[str] = []
        for template in self.templates:
            # `model mamba` is class MambaModel beside the block's Mamba (not Mamba2, another architecture)
            base = template.name + "Model" if template.name in self.reserved else template.name
            name, n = base, 1
            while name in names or name in self.reserved:
                n += 1
                name = f"{base}{n}"
            names.append(name)
        return names


def _class_source(template: _Template, name: str, params: dict[int, str], by_values: dict[tuple, str]) -> str:
    init = template.pieces[0]
    for i, piece in enumerate(template.pieces[1:]):
        init += params.get(i, template.numbers[0][i]) + piece
    if params:
        init = init.replace(_INIT, f"    def __init__(self, {', '.join(dict.fromkeys(params.values()))}):", 1)
    return f"class {name}(nn.Module):\n{template.doc}{init}{_forward(template, by_values)}"


def _forward(template: _Template, by_values: dict[tuple, str]) -> str:
    """The forward with each comment (a shape) as the instances share it: a number that varies is
    named by the parameter that varies alike, or `?`."""
    lines = []
    for line, comments in zip(template.forward.split("\n"), zip(*template.comments)):
        if comments[0]:
            line += "  # " + _shared_comment(comments, by_values)
        lines.append(line)
    return "\n".join(lines)


def _shared_comment(comments: tuple[str, ...], by_values: dict[tuple, str]) -> str:
    if len(set(comments)) == 1:
        return comments[0]
    pieces = [_NUMBER.split(c) for c in comments]
    numbers = [_NUMBER.findall(c) for c in comments]
    if len({tuple(p) for p in pieces}) != 1 or len({len(n) for n in numbers}) != 1:
        return "?"
    text = pieces[0][0]
    for i, column in enumerate(zip(*numbers)):
        text += (column[0] if len(set(column)) == 1 else by_values.get(column, "?")) + pieces[0][i + 1]
    return text


def _call(template: _Template, name: str, instance: int, params: dict[int, str]) -> str:
    values: dict[str, str] = {}
    for position, param in params.items():
        values.setdefault(param, template.numbers[instance][position])
    return f"{name}({', '.join(f'{p}={v}' for p, v in values.items())})"


def _without_comments(text: str) -> tuple[str, list[str]]:
    code, comments = [], []
    for line in text.split("\n"):
        before, mark, comment = line.partition("  # ")
        code.append(before)
        comments.append(comment if mark else "")
    return "\n".join(code), comments
