"""The translation catalogues of ``autograder.i18n``: ``python -m autograder catalogues [--check]``.

Extracts the marked messages (``_("...")``) of the grader, the student tests and the experiments
with Babel into ``autograder/locale/lab3.pot``, merges them into each language's ``.po`` (new
messages come in untranslated, gone ones leave) and compiles its ``.mo``. ``problems`` lists what
a release cannot ship: a message without a translation, a translation whose placeholders differ
from the original's, a file that is not what these steps write.
"""
from __future__ import annotations

import datetime
import io
import re

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from autograder import paths
from autograder.i18n import DOMAIN, LANGUAGES, LOCALES
from autograder.tools.localize import todo_comments

NOTEBOOK = paths.ROOT / "notebooks" / "source" / "lab3" / "lab3.ipynb"
"""The source notebook, whose markdown cells are messages (as nbgrader releases them: unchanged)."""

SOURCES = ("autograder", "student", "experiments")
"""Folders whose Python files hold marked messages."""
FIXED_DATE = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
"""The catalogues' header dates: fixed, so that extracting again changes nothing."""
PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def template() -> Catalog:
    """Every marked message of ``SOURCES``, with the files it comes from."""
    catalog = Catalog(project="lab3-kit", domain=DOMAIN, creation_date=FIXED_DATE, revision_date=FIXED_DATE,
                      fuzzy=False)
    for folder in SOURCES:
        found = extract_from_dir(paths.ROOT / folder, method_map=[("**.py", "python")],
                                 keywords={"_": None, "N_": None},
                                 comment_tags=("TRANSLATORS:",), strip_comment_tags=True)
        for filename, line, message, comments, _context in found:
            catalog.add(message, locations=[(f"{folder}/{filename}", line)], auto_comments=comments)
    for path in sorted(paths.SOLUTIONS.glob("*.py")):
        for start, _end, _indent, text in todo_comments(path.read_text(encoding="utf-8")):
            catalog.add(text, locations=[(f"solutions/{path.name}", start + 1)],
                        auto_comments=["A TODO comment of the skeletons (code names stay as they are)."])
    import nbformat

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    for number, cell in enumerate(notebook.cells, start=1):
        if (cell.cell_type == "markdown" and cell.source.strip()
                and not cell.metadata.get("nbgrader", {}).get("solution")):
            catalog.add(cell.source, locations=[(NOTEBOOK.relative_to(paths.ROOT).as_posix(), number)],
                        auto_comments=["A markdown cell of the lab notebook, whole (Markdown and LaTeX kept)."])
    return catalog


def _po_path(language: str):
    return LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def _bytes(write, catalog: Catalog, **options) -> bytes:
    buffer = io.BytesIO()
    write(buffer, catalog, **options)
    return buffer.getvalue()


def built() -> dict:
    """Path -> bytes of the template and of each language's merged ``.po`` and compiled ``.mo``."""
    pot = template()
    files = {LOCALES / f"{DOMAIN}.pot": _bytes(write_po, pot, include_lineno=False, width=100)}
    for language in LANGUAGES[1:]:
        path = _po_path(language)
        if path.is_file():
            with path.open("rb") as existing:
                catalog = read_po(existing, locale=language, domain=DOMAIN)
        else:
            catalog = Catalog(locale=language, domain=DOMAIN, project="lab3-kit")
        catalog.update(pot, no_fuzzy_matching=True, update_creation_date=False)
        catalog.creation_date = catalog.revision_date = FIXED_DATE
        catalog.obsolete.clear()
        files[path] = _bytes(write_po, catalog, include_lineno=False, width=100, ignore_obsolete=True)
        files[path.with_suffix(".mo")] = _bytes(write_mo, catalog)
    return files


def write() -> list:
    """Write the catalogues; returns their paths."""
    files = built()
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return sorted(files)


def problems() -> list[str]:
    """What is stale, untranslated or wrongly translated in the committed catalogues (empty: none)."""
    found = [f"{path.relative_to(paths.ROOT)}: not what `python -m autograder catalogues` writes"
             for path, data in built().items() if not path.is_file() or path.read_bytes() != data]
    for language in LANGUAGES[1:]:
        with _po_path(language).open("rb") as po:
            found += translation_problems(read_po(po, locale=language, domain=DOMAIN), language)
    return found


def translation_problems(catalog: Catalog, language: str) -> list[str]:
    """The messages of ``catalog`` without a translation, or whose translation's placeholders
    (``{name}``, and any other brace group) differ from the original's."""
    found = []
    for message in catalog:
        if not message.id:
            continue
        where = f"{language}: {message.id[:60]!r}"
        if not message.string or message.fuzzy:
            found.append(f"{where}: no translation")
        elif sorted(PLACEHOLDER.findall(message.id)) != sorted(PLACEHOLDER.findall(message.string)):
            found.append(f"{where}: placeholders {sorted(PLACEHOLDER.findall(message.id))} in the original, "
                         f"{sorted(PLACEHOLDER.findall(message.string))} in the translation")
    return found
