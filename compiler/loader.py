"""Pass 1: read spec files, follow `use`, and collect each file's lets, blocks and models.

A `SpecModule` is one parsed file with its declarations by name and the modules it `use`s. Lookups
follow LANGUAGE.md §3: a file's own definitions first, then those of the files it uses (not
transitively); two used files defining one name conflict only where that name is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..dsl import ast, parse
from ..dsl.errors import Span, SpecError, SpecErrors, did_you_mean, nearest
from ..dsl.parser import MAX_NESTING, MAX_SPEC_BYTES

STD_DIR = Path(__file__).resolve().parent.parent / "blocks" / "std"


@dataclass
class SpecModule:
    path: str
    tree: ast.SpecFile
    lets: dict[str, ast.Let] = field(default_factory=dict)
    blocks: dict[str, ast.BlockDef] = field(default_factory=dict)
    models: dict[str, ast.ModelDef] = field(default_factory=dict)
    uses: list[SpecModule] = field(default_factory=list)

    def find(self, kind: str, name: str) -> list[tuple[SpecModule, object]]:
        """Definitions of `name` among this file's `kind` ("lets" or "blocks"), then its uses'."""
        own = getattr(self, kind).get(name)
        if own is not None:
            return [(self, own)]
        return [(used, getattr(used, kind)[name]) for used in self.uses if name in getattr(used, kind)]

    def visible(self, kind: str) -> set[str]:
        names = set(getattr(self, kind))
        for used in self.uses:
            names |= set(getattr(used, kind))
        return names


@dataclass
class Program:
    """Every file the root spec reaches, its source texts (for error excerpts), and the root."""

    root: SpecModule
    sources: dict[str, str]


def read_source(path: Path, errors: list[SpecError], span: Span | None = None) -> str | None:
    """A spec file's text, or None after recording why it cannot be read. At most MAX_SPEC_BYTES
    are read: `/dev/zero` or a huge file must not be read forever."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_SPEC_BYTES + 1)
    except FileNotFoundError:
        hint = "check the path; `use` paths are relative to the file that uses them" if span else _not_found(path)
        errors.append(SpecError(code="E200", message=f"no such file: {path}", span=span, hint=hint))
        return None
    except (IsADirectoryError, PermissionError, OSError) as error:
        errors.append(SpecError(code="E200", message=f"cannot read {path}: {error.strerror or error}", span=span))
        return None
    except ValueError:  # a path with a NUL character in it
        errors.append(SpecError(code="E200", message=f"no such file: {str(path)!r}", span=span))
        return None
    if b"\x00" in data:
        errors.append(
            SpecError(
                code="E200",
                message=f"{path} is not a spec: it is a binary file",
                span=span,
                hint="cramnet reads text files of `model` and `block` declarations (.cram)",
            )
        )
        return None
    if len(data) > MAX_SPEC_BYTES:
        errors.append(
            SpecError(
                code="E200",
                message=f"{path} is larger than {MAX_SPEC_BYTES >> 20} MiB: too large for a spec",
                span=span,
                hint="repeat layers with `* N` or `repeat N { … }` instead of writing each one out",
            )
        )
        return None
    try:
        return data.decode("utf-8-sig")  # a byte-order mark, as some Windows editors write, is not text
    except UnicodeDecodeError as error:
        errors.append(
            SpecError(
                code="E200",
                message=f"{path} is not UTF-8 text (byte {error.start})",
                span=span,
                hint="save the spec as UTF-8",
            )
        )
        return None


def _not_found(path: Path) -> str:
    """The hint for a spec named on the command line (or to `check_spec`) that is not there: a file of
    a like name beside it, else where a relative path was looked for."""
    folder = path.parent
    if folder.is_dir():
        try:
            # by stem: the ".cram" every name shares would make any two short names look alike
            guess = nearest(path.stem, [p.stem for p in folder.iterdir() if p.suffix == ".cram"])
        except OSError:  # a folder that cannot be listed: no guess
            guess = None
        if guess:
            return f"did you mean {str(folder / (guess + '.cram'))!r}?"
    elif str(folder) not in ("", "."):
        return f"there is no folder {folder}" + ("" if path.is_absolute() else f" in {Path.cwd()}")
    return "check the spelling" + ("" if path.is_absolute() else f"; a relative path is read from {Path.cwd()}")


def load_program(source: str, path: str, files: Mapping[str, str] | None = None) -> Program:
    """Parse `source` (the text of `path`) and every file it uses; raise SpecErrors on any mistake.

    With `files` (resolved path -> text), used files come from that mapping alone and the disk is
    never read: a run directory's spec loads only from the copies the run keeps.
    """
    sources: dict[str, str] = {path: source}
    errors: list[SpecError] = []
    loaded: dict[str, SpecModule] = {}
    root = _load(source, path, sources, errors, loaded, [], files)
    if errors or root is None:
        raise SpecErrors(errors, sources)
    return Program(root=root, sources=sources)


def _load(source, path, sources, errors, loaded, in_progress, files) -> SpecModule | None:
    try:
        tree = parse(source, path)
    except SpecErrors as failure:
        errors.extend(failure.errors)
        return None
    module = SpecModule(path=path, tree=tree)
    key = _key(path)
    loaded[key] = module
    in_progress.append(key)
    for decl in tree.declarations:
        if isinstance(decl, ast.Use):
            used = _load_use(decl, path, sources, errors, loaded, in_progress, files)
            if used is not None and used not in module.uses:  # a file used twice is one file, not a clash
                module.uses.append(used)
        else:
            _declare(module, decl, errors)
    in_progress.pop()
    return module


MAX_USE_DEPTH = MAX_NESTING  # a file that uses a file that uses a file … (E218)


def _load_use(decl: ast.Use, from_path: str, sources, errors, loaded, in_progress, files) -> SpecModule | None:
    refused = _refuse_use(decl, in_progress)
    if refused is not None:
        errors.append(refused)
        return None
    try:
        target = resolve_use_path(decl.path, from_path)
        found = target is not None and (files is not None or target.exists())  # a folder: read_source says so
    except (OSError, ValueError) as error:  # a name too long for the file system, a NUL byte
        errors.append(
            SpecError(code="E201", message=f"cannot use {_shown(decl.path)}: {_reason(error)}", span=decl.span)
        )
        return None
    if target is None:
        available = sorted(p.stem for p in STD_DIR.glob("*.cram"))
        name = decl.path.removeprefix("std:")
        hint = did_you_mean(name, available) or f"the standard library has: {', '.join(available)}"
        errors.append(
            SpecError(code="E201", message=f"no standard library file '{decl.path}'", span=decl.span, hint=hint)
        )
        return None
    key = _key(str(target))
    if key in in_progress:
        chain = " -> ".join(Path(p).name for p in in_progress[in_progress.index(key) :] + [key])
        itself = key == in_progress[-1]
        errors.append(
            SpecError(
                code="E202",
                message=f"`use` cycle: {chain}" + (" (a file cannot use itself)" if itself else ""),
                span=decl.span,
                hint="remove this line" if itself else "move the shared blocks into a third file that both use",
            )
        )
        return None
    if key in loaded:
        return loaded[key]
    if files is not None and not decl.path.startswith("std:"):
        if key not in files:
            errors.append(
                SpecError(
                    code="E201",
                    message=f"used file not kept with the run: {decl.path}",
                    span=decl.span,
                    hint="the run directory keeps copies of the files its spec used; this one is missing",
                )
            )
            return None
        sources[key] = files[key]
        return _load(files[key], key, sources, errors, loaded, in_progress, files)
    refused = _refuse_target(decl, target) if found else None
    if refused is not None:
        errors.append(refused)
        return None
    if not found:
        errors.append(
            SpecError(
                code="E201",
                message=f"used file not found: {_shown(decl.path)} (looked for {_shown(str(target))})",
                span=decl.span,
                hint=f"there is no folder {_shown(str(target.parent))}"
                if not target.parent.is_dir()
                else "check the file name"
                if Path(decl.path).is_absolute()
                else "`use` paths are relative to the file that uses them",
            )
        )
        return None
    text = read_source(target, errors, decl.span)
    if text is None:
        return None
    sources[key] = text
    return _load(text, key, sources, errors, loaded, in_progress, files)


def _refuse_use(decl: ast.Use, in_progress: list[str]) -> SpecError | None:
    """A `use` refused before any file is touched: too deep a chain, or a file that is not a spec
    (an error excerpt of `use "/etc/shadow"` would print that file's first line)."""
    if len(in_progress) >= MAX_USE_DEPTH:
        return SpecError(
            code="E218",
            message=f"`use` chains more than {MAX_USE_DEPTH} files deep here",
            span=decl.span,
            hint="use the files that define the blocks directly, not through a long chain",
        )
    if not decl.path.startswith("std:") and not decl.path.endswith(".cram"):
        return SpecError(
            code="E201",
            message=f"`use` reads spec files ending in .cram, not {_shown(decl.path)}",
            span=decl.span,
            hint=_USE_HINT,
        )
    return None


_USE_HINT = 'write use "path/to/blocks.cram" (relative to this file), or use "std:NAME"'


def _refuse_target(decl: ast.Use, target: Path) -> SpecError | None:
    """A used file refused once its path is resolved: a link named .cram to a file that is not one (an
    excerpt would print that file), or a pipe or a device (reading one waits, or never ends)."""
    if target.suffix != ".cram":
        return SpecError(
            code="E201",
            message=f"`use` reads spec files ending in .cram: {_shown(decl.path)} is a link to {_shown(str(target))}",
            span=decl.span,
            hint=_USE_HINT,
        )
    if not target.is_file() and not target.is_dir():  # a folder: read_source says so
        return SpecError(
            code="E201",
            message=f"cannot use {_shown(decl.path)}: not a regular file (a pipe, socket or device)",
            span=decl.span,
            hint="save the blocks in a .cram file and use that: a pipe or a device is never read",
        )
    return None


def _shown(path: str, limit: int = 120) -> str:
    """A path as a message shows it: in full unless absurdly long."""
    return path if len(path) <= limit else path[: limit // 2] + "…" + path[-limit // 2 :]


def _reason(error: Exception) -> str:
    return getattr(error, "strerror", None) or "not a valid path"


def _key(path: str) -> str:
    """One name per file, however it was reached (as typed on the command line, or by `use`)."""
    return path if path.startswith("<") else str(Path(path).resolve())


def resolve_use_path(spec: str, from_path: str) -> Path | None:
    if spec.startswith("std:"):
        target = STD_DIR / f"{spec[4:]}.cram"
        return target if target.is_file() else None
    base = Path(from_path).parent if not from_path.startswith("<") else Path.cwd()
    return (base / spec).resolve()


def _declare(module: SpecModule, decl, errors: list[SpecError]) -> None:
    kind = {ast.Let: "lets", ast.BlockDef: "blocks", ast.ModelDef: "models"}[type(decl)]
    table = getattr(module, kind)
    if decl.name in table:
        first = table[decl.name]
        errors.append(
            SpecError(
                code="E203",
                message=f"'{decl.name}' is defined twice in this file",
                span=decl.name_span,
                notes=((first.name_span, "first defined here"),),
            )
        )
        return
    table[decl.name] = decl
    if isinstance(decl, ast.BlockDef):
        _check_params(decl, errors)


def _check_params(block: ast.BlockDef, errors: list[SpecError]) -> None:
    """`block f(d, d)`: the second `d` would silently shadow the first."""
    seen: dict[str, ast.Param] = {}
    for param in block.params:
        if param.name in seen:
            errors.append(
                SpecError(
                    code="E203",
                    message=f"block '{block.name}' has two parameters named '{param.name}'",
                    span=param.span,
                    hint="give each parameter its own name",
                    notes=((seen[param.name].span, "first named here"),),
                )
            )
        seen.setdefault(param.name, param)
