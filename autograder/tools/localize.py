"""Student files in the course's language: the skeletons' TODO comments and the notebook's markdown.

``release`` writes them translated from the catalogues (``autograder.i18n``); code, identifiers and
docstrings stay as they are. A TODO comment is the ``# TODO:`` line and the comment lines right
under it at the same indentation, translated as one message and wrapped again; a markdown cell is
one message, whole.
"""
from __future__ import annotations

import re
import textwrap
from typing import Callable, Iterator

TODO = re.compile(r"^(?P<indent>\s*)# TODO: ?(?P<text>.*)$")
WIDTH = 110
"""Characters a translated TODO comment's lines may take."""


def todo_comments(source: str) -> Iterator[tuple[int, int, str, str]]:
    """(first line index, end line index, indentation, text) of each TODO comment of ``source``."""
    lines = source.splitlines()
    index = 0
    while index < len(lines):
        match = TODO.match(lines[index])
        if match is None:
            index += 1
            continue
        indent, parts, end = match["indent"], [match["text"].strip()], index + 1
        while end < len(lines) and lines[end].startswith(indent + "# ") and not TODO.match(lines[end]) \
                and not lines[end].strip().startswith("# YOUR CODE HERE"):
            parts.append(lines[end].strip()[2:].strip())
            end += 1
        yield index, end, indent, " ".join(parts)
        index = end


def translate_todos(source: str, translate: Callable[[str], str]) -> str:
    """``source`` with each TODO comment's text replaced by ``translate(text)``, wrapped at ``WIDTH``."""
    lines = source.splitlines(keepends=True)
    for start, end, indent, text in reversed(list(todo_comments(source))):
        wrapped = textwrap.wrap(translate(text), WIDTH, initial_indent=f"{indent}# TODO: ",
                                subsequent_indent=f"{indent}# ", break_on_hyphens=False)
        lines[start:end] = [line + "\n" for line in wrapped]
    return "".join(lines)


def translate_markdown(notebook, translate: Callable[[str], str]) -> None:
    """Every markdown cell of ``notebook`` (nbformat) replaced, in place, by ``translate(source)``."""
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and cell.source.strip():
            cell.source = translate(cell.source)
