"""What a standalone generated file must carry besides the generated classes: each block module
class's source and what its methods use from its own file — helper functions, helper classes,
constants — so `cramnet export --format python` writes a file that runs with torch alone.
"""

from __future__ import annotations

import builtins
import inspect
import sys
import textwrap
import types

from ..errors import ExportError

# what the generated file itself imports
PROVIDED = {"torch", "nn", "F", "math"}


class NotStandalone(ExportError):
    """A block's module uses something from its file that a standalone file cannot carry."""


def standalone_sources(classes: dict[str, type]) -> dict[str, str]:
    """Sources of `classes` and of the helpers they use, by name, each after what it uses."""
    written: dict[str, str] = {}
    for cls in classes.values():
        _write(cls, written, classes)
    return written


def _write(obj, written: dict[str, str], classes: dict[str, type]) -> None:
    if obj.__name__ in written:
        return
    written[obj.__name__] = ""  # reserved: a helper that calls back does not loop
    module = sys.modules.get(obj.__module__)
    scope = vars(module) if module is not None else {}
    for name in sorted(_names_used(obj)):
        if name in PROVIDED or name in classes or name not in scope or hasattr(builtins, name):
            continue
        value = scope[name]
        if isinstance(value, (types.FunctionType, type)) and getattr(value, "__module__", None) == obj.__module__:
            _write(value, written, classes)
        elif isinstance(value, (int, float, str, bool, tuple, frozenset)) and not isinstance(value, type):
            written.setdefault(name, f"{name} = {value!r}")
        elif isinstance(value, types.ModuleType) or callable(value):
            raise NotStandalone(
                f"{obj.__name__} (from {obj.__module__}) uses '{name}', which its file imports; a standalone "
                "file imports only torch",
                "use the helper from a method of the block's module class instead",
            )
    del written[obj.__name__]
    written[obj.__name__] = textwrap.dedent(inspect.getsource(obj))


def _names_used(obj) -> set[str]:
    """Global names the code of a function or of a class's methods refers to (and some attribute
    names: the byte code does not tell them apart, so only names the file defines are followed)."""
    codes = []
    if isinstance(obj, types.FunctionType):
        codes.append(obj.__code__)
    else:
        for member in vars(obj).values():
            function = getattr(member, "__func__", member)
            if isinstance(member, property):
                function = member.fget
            if isinstance(function, types.FunctionType):
                codes.append(function.__code__)
    names: set[str] = set()
    while codes:
        code = codes.pop()
        names.update(code.co_names)
        codes.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return names
