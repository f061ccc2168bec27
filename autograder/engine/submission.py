"""Turn a submitted Jupyter notebook into a submission folder the worker can grade.

The grader keeps only the definitions of the notebook's code cells (imports, classes, functions,
constant assignments) and never runs its experiments. ``extract`` writes ``_notebook.py``, which
runs the kept statements of every cell in one namespace (as the notebook does), and one stub per
lab module (``resnet.py``, ...) that re-exports that namespace. The statements are compiled under
the file name ``<folder>/notebook cell N``, so tracebacks name the cell and show its lines.
"""
from __future__ import annotations
import __future__

import ast
import copy
import json
import re
import warnings
from pathlib import Path

from autograder.i18n import _
from autograder.runtime.worker import LAB_MODULES


class NotebookError(ValueError):
    """The notebook cannot be graded at all; the message says why, for the student."""


NOT_IMPORTED = ("experiments",)
"""Kit packages whose imports the grader skips: the notebook's experiment cells use them, and the
grader never runs those cells (nor can the worker, which keeps the kit off its import path, import them)."""
SAFE_CALLS = frozenset({"device", "is_available", "dict", "list", "tuple", "set", "frozenset", "range", "int",
                        "float", "str", "bool", "Path", "get", "getenv", "namedtuple"})
"""Callees (by the last name of the called expression) a kept assignment or ``if`` test may call."""
_CONSTANT_NODES = (ast.Constant, ast.Name, ast.Attribute, ast.Tuple, ast.List, ast.Set, ast.Dict, ast.Subscript,
                   ast.Slice, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.ListComp, ast.SetComp,
                   ast.DictComp, ast.GeneratorExp, ast.comprehension, ast.JoinedStr, ast.FormattedValue, ast.Starred,
                   ast.keyword, ast.expr_context, ast.operator, ast.unaryop, ast.boolop, ast.cmpop)
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_PYTHON_CELL_MAGICS = ("time", "timeit", "capture")
_SHELL_ASSIGNMENT = re.compile(r"[A-Za-z_][\w.]*(\s*,\s*[A-Za-z_][\w.]*)*\s*=\s*[!%]")


def extract(notebook: Path, folder: Path) -> list[str]:
    """Write ``folder/_notebook.py`` and one module per lab module name (resnet.py, ...) into
    ``folder`` (created if needed); return notes for the report (one line each)."""
    notebook, folder = Path(notebook), Path(folder)
    cells, notes = _read(notebook)
    used, flags, defines = [], 0, False
    for number, source in cells:
        parsed = _parse(number, source, notes)
        if parsed is None:
            continue
        cleaned, tree = parsed
        flags |= _future_flags(tree)
        kept = [index for index, node in enumerate(tree.body) if _keep(node)]
        defines = defines or any(isinstance(n, _DEFINITIONS) for i in kept for n in ast.walk(tree.body[i]))
        if kept:
            used.append((f"notebook cell {number}", cleaned, kept))
    if not defines:
        reasons = "".join(f"; {note}" for note in notes)
        raise NotebookError(_("{notebook} has no class or function definitions the grader can use").format(
            notebook=notebook.name) + reasons)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "_notebook.py").write_text(_loader(notebook.name, used, flags), encoding="utf-8")
    for name in LAB_MODULES:
        (folder / f"{name}.py").write_text(_stub(name, notebook.name), encoding="utf-8")
    return notes


def code_cells(notebook: Path) -> str:
    """The notebook's code cells that parse, magics neutralised, each under a ``# %% cell N`` line
    (for the clean-code report; nothing is run). Raises NotebookError for an unreadable notebook."""
    cells, notes = _read(Path(notebook))
    parts = []
    for number, source in cells:
        parsed = _parse(number, source, notes)
        if parsed is not None:
            parts.append(f"# %% cell {number}\n{parsed[0].rstrip()}\n")
    return "\n\n".join(parts)


def _read(notebook: Path) -> tuple[list[tuple[int, str]], list[str]]:
    """The code cells as (1-based position among all cells, source), and notes on what was skipped."""
    name = notebook.name
    try:
        text = notebook.read_bytes().decode("utf-8-sig")
    except OSError as error:
        raise NotebookError(_("{notebook} cannot be read: {error}").format(
            notebook=name, error=error.strerror or error)) from None
    except UnicodeDecodeError as error:
        raise NotebookError(_("{notebook} is not UTF-8 text (byte {position}): {reason}").format(
            notebook=name, position=error.start, reason=error.reason)) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise NotebookError(_("{notebook} is not valid JSON (line {line}, column {column}): {error}").format(
            notebook=name, line=error.lineno, column=error.colno, error=error.msg)) from None
    except RecursionError:
        raise NotebookError(_("{notebook} is not valid JSON: it is nested too deeply").format(notebook=name)) from None
    if not isinstance(data, dict):
        raise NotebookError(_("{notebook} is not a Jupyter notebook: its JSON is a {type}, not an object").format(
            notebook=name, type=type(data).__name__))
    if not isinstance(data.get("cells"), list):
        if "worksheets" in data:
            raise NotebookError(_("{notebook} is an nbformat 3 notebook, which the grader does not read; "
                                  "open and save it in a current Jupyter").format(notebook=name))
        raise NotebookError(_("{notebook} is not a Jupyter notebook: it has no list of cells").format(notebook=name))
    notes = _validation_notes(data)
    cells = []
    for number, cell in enumerate(data["cells"], 1):
        if not isinstance(cell, dict) or not isinstance(cell.get("cell_type"), str):
            notes.append(_("cell {number}: not a notebook cell (no cell_type); skipped").format(number=number))
            continue
        if cell["cell_type"] != "code":
            continue
        source = cell.get("source")
        if isinstance(source, list) and all(isinstance(line, str) for line in source):
            source = "".join(source)
        if not isinstance(source, str):
            notes.append(_("cell {number}: a code cell without readable source; skipped").format(number=number))
            continue
        cells.append((number, source))
    if not cells:
        raise NotebookError(_("{notebook} has no code cells").format(notebook=name))
    return cells, notes


def _validation_notes(data: dict) -> list[str]:
    """One note when nbformat (if installed) finds the notebook does not follow nbformat 4."""
    try:
        import nbformat
    except ImportError:
        return []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nbformat.validate(copy.deepcopy(data), version=4)  # validate may repair cell ids in place
    except Exception as error:  # noqa: BLE001 - any failure means the notebook is off the format
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        return [_("the notebook does not follow nbformat 4 ({error}); its cells were read anyway").format(error=first)]
    return []


def _parse(number: int, source: str, notes: list[str]) -> tuple[str, ast.Module] | None:
    """(source, tree) of a code cell, IPython syntax neutralised if needed; None to skip the cell."""
    try:
        return source, ast.parse(source)
    except (SyntaxError, ValueError):
        pass
    cleaned = _neutralise(source)
    if cleaned is None:
        return None
    try:
        return cleaned, ast.parse(cleaned)
    except (SyntaxError, ValueError) as error:
        message = getattr(error, "msg", None) or str(error)
        if getattr(error, "lineno", None):
            notes.append(_("cell {number}: syntax error at line {line}: {error}; "
                           "its definitions are not graded").format(number=number, line=error.lineno, error=message))
        else:
            notes.append(_("cell {number}: syntax error: {error}; its definitions are not graded").format(
                number=number, error=message))
        return None


def _neutralise(source: str) -> str | None:
    """The cell with its magics and shell lines made harmless, line numbers kept; None for a cell
    magic whose body is not Python (%%bash, %%html, ...)."""
    lines = source.split("\n")
    if lines[0].lstrip().startswith("%%"):
        magic, *args = lines[0].lstrip()[2:].split() or [""]
        python = magic in _PYTHON_CELL_MAGICS or (magic == "writefile" and args and args[-1].endswith(".py"))
        if not python:
            return None  # its first line, like any magic line, becomes ``pass`` below
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")) or _SHELL_ASSIGNMENT.match(stripped):
            lines[i] = line[: len(line) - len(stripped)] + "pass"
    return "\n".join(lines)


def _future_flags(tree: ast.Module) -> int:
    flags = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            for alias in node.names:
                flags |= getattr(getattr(__future__, alias.name, None), "compiler_flag", 0)
    return flags


def _keep(node: ast.stmt) -> bool:
    """Whether the grader runs a top-level statement: imports (but of the lab modules), definitions,
    constant assignments to names, and ``if``/``try`` statements made only of such statements."""
    if isinstance(node, ast.Import):
        return not any(alias.name.split(".")[0] in LAB_MODULES + NOT_IMPORTED for alias in node.names)
    if isinstance(node, ast.ImportFrom):  # the lab modules are this notebook itself
        return node.level == 0 and (node.module or "").split(".")[0] not in LAB_MODULES + NOT_IMPORTED
    if isinstance(node, _DEFINITIONS):
        return True
    if isinstance(node, ast.Assign):
        return all(_names(target) for target in node.targets) and _constant(node.value)
    if isinstance(node, ast.AnnAssign):
        return node.value is not None and _names(node.target) and _constant(node.value) and _constant(node.annotation)
    if isinstance(node, ast.If):
        main = any(isinstance(n, ast.Name) and n.id == "__name__" for n in ast.walk(node.test))
        return not main and _constant(node.test) and all(_keep_or_pass(s) for s in node.body + node.orelse)
    if isinstance(node, (ast.Try, ast.TryStar)):
        handlers = node.handlers
        return (all(_keep_or_pass(s) for s in node.body + node.orelse + node.finalbody)
                and all(_keep_or_pass(s) for h in handlers for s in h.body)
                and all(h.type is None or _constant(h.type) for h in handlers))
    return False


def _keep_or_pass(node: ast.stmt) -> bool:
    return isinstance(node, ast.Pass) or _keep(node)


def _names(target: ast.expr) -> bool:
    """Whether an assignment target binds plain names only."""
    if isinstance(target, (ast.Tuple, ast.List)):
        return all(_names(element) for element in target.elts)
    if isinstance(target, ast.Starred):
        return _names(target.value)
    return isinstance(target, ast.Name)


def _constant(node: ast.AST) -> bool:
    """Whether evaluating an expression runs no code but the allowed calls."""
    if isinstance(node, ast.Lambda):  # only its defaults run now
        return all(_constant(d) for d in node.args.defaults + node.args.kw_defaults if d is not None)
    if isinstance(node, ast.Call):
        func = node.func
        callee = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        if callee not in SAFE_CALLS:
            return False
    elif not isinstance(node, _CONSTANT_NODES):
        return False
    return all(_constant(child) for child in ast.iter_child_nodes(node))


_LOADER = '''

def __load_cells__():
    """Run the kept statements of every cell, each compiled on its own under the cell's name."""
    import ast
    import linecache
    import os

    folder = os.path.dirname(os.path.realpath(__file__))
    namespace, errors, flags = globals(), __notebook_errors__, __future_flags__
    for name, source, kept in __cells__:
        filename = os.path.join(folder, name)
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        body = ast.parse(source, filename).body
        for index in kept:
            node = body[index]
            try:
                module = ast.Module(body=[node], type_ignores=[])
                exec(compile(module, filename, "exec", flags, dont_inherit=True), namespace)
            except Exception as error:  # the notebook goes on after a failing cell; so does the grader
                try:
                    message = f"{type(error).__name__}: {error}"
                except Exception:
                    message = type(error).__name__
                errors.append(f"{name[len('notebook '):]}, line {node.lineno}: {message}")


__load_cells__()
'''


def _loader(notebook: str, used: list[tuple[str, str, list[int]]], flags: int) -> str:
    doc = f"Generated from the notebook {notebook} by the grader: the definitions of its code cells. Do not edit."
    cells = "".join(f"    {cell!r},\n" for cell in used)
    return (f"{doc!r}\n\n__cells__ = [\n{cells}]\n__future_flags__ = {flags!r}\n"
            f"__notebook_errors__ = []\n{_LOADER}")


def _stub(module: str, notebook: str) -> str:
    doc = (f"The lab module {module}, generated from the notebook {notebook} by the grader: it re-exports "
           "the notebook's definitions, which all live in _notebook (one namespace, as in the notebook).")
    return f'''{doc!r}
import _notebook

globals().update({{k: v for k, v in vars(_notebook).items() if not (k.startswith("__") and k.endswith("__"))}})
__lab_source__ = {"the notebook " + notebook!r}


def __notebook_errors__():
    return list(_notebook.__notebook_errors__)
'''
