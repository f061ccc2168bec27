"""The class's grades for the course platform: Moodle's and Canvas's grade imports, and the final grades.

From the results ``batch`` wrote into OUT, ``write_exports`` writes

- ``OUT/moodle.csv``, for Moodle's "Import grades > CSV file": one identifier column, named after the
  user field it is mapped to at import (``email``, ``idnumber`` or ``username``), then one column per
  grade item: the code grade (out of the rubric's ``code_points``), the hand-graded items (``report``,
  ``demo``, ``bonus``: empty, to fill in) and, once merged, the final grade;
- ``OUT/canvas.csv``, for Canvas's gradebook import: ``Student``, ``ID``, ``SIS User ID``,
  ``SIS Login ID``, ``Section``, then one column per assignment (the same items, each a new
  assignment unless renamed ``Name (assignment id)``), and a ``Points Possible`` row;
- ``OUT/final.csv``, once ``merge`` has read the hand-graded scores (``OUT/manual.csv`` keeps them):
  code + report + demo + bonus, out of ``total`` plus the bonus.

Whom a row is for comes from a roster (``--roster``: a CSV of the submission ``id`` and the students'
fields for Moodle and Canvas), else the submission id itself. The roster and the identifier column are
kept in ``OUT/exports.json`` for the commands that rewrite the exports later (``merge``,
``batch --rescore``). Every number is a plain decimal (a point, no exponent); every text a spreadsheet
could take for a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) is
neutralised with a leading ``'``, and read back without it.
"""
from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from autograder.batch import NOT_GRADED, graded
from autograder.report import write_atomically
from autograder.rubric import Rubric

ASSIGNMENT = "Lab 3"
"""The grade columns' names start with it: ``Lab 3 code``, ``Lab 3 report``, ... (the grade item or the
assignment each becomes)."""
CODE, FINAL = "code", "final"
ID = "id"
"""The submission id's column, in a roster, in ``final.csv`` and in a plain file of hand-graded scores."""
ID_COLUMNS = {"email": ("email", "email address"), "idnumber": ("idnumber", "id number"),
              "username": ("username",)}
"""Moodle's user fields a grade import maps its identifier column to -> the names a roster's column may
have for it (any case)."""
DEFAULT_ID_COLUMN = "username"
CANVAS_FIELDS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
"""The columns Canvas's gradebook import expects first, before the assignments."""
CANVAS_MATCHED_BY = ("ID", "SIS User ID", "SIS Login ID", "Student")
"""The fields a filled canvas.csv's rows are told apart by, the surest first."""
POINTS_POSSIBLE = "Points Possible"
MOODLE, CANVAS, FINAL_CSV, MANUAL, SETTINGS = "moodle.csv", "canvas.csv", "final.csv", "manual.csv", "exports.json"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet reads as the start of a formula (CSV injection): a text starting so gets a ``'`` first."""
EMPTY = ("", "-")
"""A hand-graded score not given: an empty cell, or Moodle's ``-`` for no grade."""


class ExportError(ValueError):
    """A roster or a file of hand-graded scores is missing or invalid; the message names the file, row and column."""


@dataclass(frozen=True)
class Settings:
    """Whom the exports' rows are for: the identifier column's Moodle field, and the roster (None: the
    submission ids themselves)."""

    id_column: str = DEFAULT_ID_COLUMN
    roster: Optional[dict[str, dict[str, str]]] = None
    """Submission id -> field (``email``, ``idnumber``, ``username`` and ``CANVAS_FIELDS``) -> value."""

    def moodle(self, name: str) -> dict[str, str]:
        """The Moodle fields of submission ``name`` as the exports write them (its id where the roster has none)."""
        person = (self.roster or {}).get(name, {})
        return {field: person.get(field) or name for field in ID_COLUMNS}

    def canvas(self, name: str) -> dict[str, str]:
        """The Canvas fields of submission ``name`` as canvas.csv writes them (its id as the Student where
        the roster does not say)."""
        person = (self.roster or {}).get(name, {})
        return {field: person.get(field, "") or (name if field == "Student" else "") for field in CANVAS_FIELDS}


# -- the settings: the roster and the identifier column -------------------------------------------


def read_roster(path: Path) -> dict[str, dict[str, str]]:
    """Submission id -> the student's fields, from a roster CSV with an ``id`` column."""
    header, rows, _ = _read_csv(path, "roster")
    if ID not in header:
        raise ExportError(f"{path}: the roster needs a column {ID!r} (the submission id: its folder or notebook name "
                          f"in DIR); its columns are {', '.join(header) or 'none'}")
    columns: dict[str, int] = {}
    for index, name in enumerate(header):
        field = next((f for f, aliases in ID_COLUMNS.items() if name.lower() in aliases), None)
        field = field or (name if name in CANVAS_FIELDS else None)
        if field is not None:
            if field in columns:
                raise ExportError(f"{path}: two columns give the {field}: {header[columns[field]]!r} and {name!r}")
            columns[field] = index
    people: dict[str, dict[str, str]] = {}
    for line, row in rows:
        name = _unquoted(_cell(row, header.index(ID)))
        if not name:
            raise ExportError(f"{path}, row {line}: no submission id in column {ID!r}")
        if name in people:
            raise ExportError(f"{path}, row {line}: submission id {name!r} is given twice")
        people[name] = {field: _unquoted(_cell(row, index)) for field, index in columns.items()}
    return people


def export_settings(out: Path, roster: Optional[Path] = None, id_column: Optional[str] = None) -> Settings:
    """The settings to write ``out``'s exports with: ``roster`` and ``id_column`` where given (then kept in
    ``OUT/exports.json``), else those kept there, else the submission ids under ``username``."""
    kept = out / SETTINGS
    stored = Settings()
    if kept.is_file():
        try:
            data = json.loads(kept.read_text(encoding="utf-8"))
            stored = Settings(data["id_column"], data["roster"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ExportError(f"{kept}: unreadable ({error}); delete it and give --roster and --id-column again") \
                from None
    if roster is None and id_column is None:
        return stored
    if id_column is not None and id_column not in ID_COLUMNS:
        raise ExportError(f"--id-column must be one of {', '.join(ID_COLUMNS)}, got {id_column!r}")
    chosen = Settings(id_column or stored.id_column, read_roster(roster) if roster is not None else stored.roster)
    if chosen.roster and not any(chosen.id_column in p for p in chosen.roster.values()):
        where = roster if roster is not None else kept
        raise ExportError(f"{where}: the roster has no {chosen.id_column} column (--id-column {chosen.id_column}; "
                          f"it may be named {' or '.join(repr(a) for a in ID_COLUMNS[chosen.id_column])})")
    out.mkdir(parents=True, exist_ok=True)
    write_atomically(kept, json.dumps({"id_column": chosen.id_column, "roster": chosen.roster}, indent=1,
                                      ensure_ascii=False) + "\n")
    return chosen


# -- the exports ------------------------------------------------------------------------------------


def write_exports(out: Path, rubric: Rubric, settings: Settings) -> tuple[list[Path], list[str]]:
    """``OUT/moodle.csv`` and ``OUT/canvas.csv``, and ``OUT/final.csv`` once hand-graded scores were merged;
    (the files written, warnings: students the roster lacks, grades left empty and why)."""
    codes = code_grades(out, rubric)
    stored = out / MANUAL
    manual = read_manual(stored, rubric, settings, set(codes) | set(settings.roster or {})) if stored.is_file() \
        else None
    names = sorted(set(codes) | set(settings.roster or {}))
    items = list(rubric.manual)
    merged = manual is not None
    finals = final_grades(rubric, names, codes, manual or {}) if merged else {}
    columns = [_column(CODE)] + [_column(item) for item in items] + ([_column(FINAL)] if merged else [])
    points = [rubric.code_points] + [rubric.manual[item].points for item in items] + ([rubric.total] if merged else [])

    def grades(name: str) -> list[Optional[float]]:
        given = (manual or {}).get(name, {})
        return [codes.get(name)] + [given.get(item) for item in items] + ([finals[name][0]] if merged else [])

    moodle = [[settings.id_column, *columns]] + [[settings.moodle(name)[settings.id_column], *grades(name)]
                                                   for name in names]
    canvas = ([[*CANVAS_FIELDS, *columns], [POINTS_POSSIBLE] + [""] * (len(CANVAS_FIELDS) - 1) + points]
              + [[*settings.canvas(name).values(), *grades(name)] for name in names])
    written = [_write_csv(out / MOODLE, moodle), _write_csv(out / CANVAS, canvas)]
    if merged:
        final = [[ID, CODE, *items, FINAL, "missing"]] + [
            [name, codes.get(name), *[manual.get(name, {}).get(item) for item in items], *finals[name]]
            for name in names]
        written.append(_write_csv(out / FINAL_CSV, final))
    return written, _warnings(out, settings, codes, finals)


def code_grades(out: Path, rubric: Rubric) -> dict[str, Optional[float]]:
    """Submission id -> its code grade out of the rubric's ``code_points`` (None: not graded), for every
    submission in ``out`` (graded, or not graded with a reason), by id."""
    grades: dict[str, Optional[float]] = {}
    for name, data in graded(out) if out.is_dir() else ():
        share = float(data["score"]) / float(data["max_score"]) if float(data["max_score"]) > 0 else 0.0
        grades[name] = round(share * rubric.code_points, 4)
    for reason in out.glob(f"*/{NOT_GRADED}"):
        if not reason.parent.name.startswith("."):
            grades.setdefault(reason.parent.name, None)
    return dict(sorted(grades.items()))


def final_grades(rubric: Rubric, names: list[str], codes: dict[str, Optional[float]],
                 manual: dict[str, dict[str, Optional[float]]]) -> dict[str, tuple[Optional[float], str]]:
    """Submission id -> (final grade, what is missing): code + every hand-graded item, the bonus's absence
    counting 0; None (and what is missing) where the code grade or a non-bonus item is not given."""
    finals = {}
    for name in names:
        given = manual.get(name, {})
        missing = [] if codes.get(name) is not None else [CODE]
        missing += [item for item, spec in rubric.manual.items() if not spec.bonus and given.get(item) is None]
        total = None if missing else round(math.fsum([codes[name] or 0.0] + [v or 0.0 for v in given.values()]), 4)
        finals[name] = (total, ", ".join(missing))
    return finals


def _warnings(out: Path, settings: Settings, codes: dict[str, Optional[float]],
              finals: dict[str, tuple[Optional[float], str]]) -> list[str]:
    warnings = []
    if settings.roster is not None:
        unlisted = sorted(name for name in codes if settings.id_column not in settings.roster.get(name, {})
                          or not settings.roster[name][settings.id_column])
        if unlisted:
            warnings.append(f"{_count(unlisted, 'submission')} not in the roster (or without their "
                            f"{settings.id_column} there), so their rows carry the submission id instead: "
                            f"{_some(unlisted)}")
        absent = sorted(set(settings.roster) - set(codes))
        if absent:
            warnings.append(f"{_count(absent, 'student')} of the roster without a submission in {out}, their code "
                            f"grade left empty: {_some(absent)}")
    not_graded = sorted(name for name, grade in codes.items() if grade is None)
    if not_graded:
        warnings.append(f"{_count(not_graded, 'submission')} not graded (see {NOT_GRADED}; rerun batch), their code "
                        f"grade left empty: {_some(not_graded)}")
    incomplete = sorted(name for name, (final, _) in finals.items() if final is None)
    if incomplete:
        warnings.append(f"{_count(incomplete, 'final grade')} left empty for want of a score: "
                        + _some([f"{name} ({finals[name][1]})" for name in incomplete]))
    return warnings


# -- the hand-graded scores -------------------------------------------------------------------------


def merge(out: Path, rubric: Rubric, manual: Path, settings: Settings) -> tuple[list[Path], list[str]]:
    """Read the hand-graded scores in ``manual`` (a plain ``id,report,demo,bonus`` CSV, or a filled moodle.csv
    or canvas.csv) into ``OUT/manual.csv`` (a student's row replaces the scores an earlier merge kept for
    them; the students the file leaves out keep theirs), and write the final grades and the exports with them."""
    codes = code_grades(out, rubric)
    known = set(codes) | set(settings.roster or {})
    scores = read_manual(out / MANUAL, rubric, settings, known) if (out / MANUAL).is_file() else {}
    scores.update(read_manual(manual, rubric, settings, known))
    items = list(rubric.manual)
    _write_csv(out / MANUAL, [[ID, *items]] + [[name, *[scores[name][item] for item in items]]
                                                for name in sorted(scores)])
    return write_exports(out, rubric, settings)


def read_manual(path: Path, rubric: Rubric, settings: Settings,
                known: set[str]) -> dict[str, dict[str, Optional[float]]]:
    """Submission id -> hand-graded item -> score (None: not given) from ``path``; ExportError naming the row
    and column of an unknown student, a student given twice, a score that is not a number or not from 0 to
    the item's points, or a missing column."""
    header, rows, delimiter = _read_csv(path, "hand-graded scores")
    whose = _identify(path, header, settings, known)
    columns: dict[str, int] = {}
    for index, name in enumerate(header):
        item = _item(name)
        if item in rubric.manual:
            if item in columns:
                raise ExportError(f"{path}: two columns give the {item}: {header[columns[item]]!r} and {name!r}")
            columns[item] = index
    absent = [item for item, spec in rubric.manual.items() if item not in columns and not spec.bonus]
    if absent:
        raise ExportError(f"{path}: no column for {', '.join(absent)} (named {absent[0]!r} or "
                          f"{_column(absent[0])!r}); its columns are {', '.join(header)}")
    decimal_comma = delimiter == ";"
    scores: dict[str, dict[str, Optional[float]]] = {}
    for line, row in rows:
        if not any(cell.strip() for cell in row) or _cell(row, 0).strip() == POINTS_POSSIBLE:
            continue
        name, label = whose(row, line)
        if name in scores:
            raise ExportError(f"{path}, row {line}: {label} is given twice")
        scores[name] = {item: _score(path, line, label, _column_name(header, columns, item), _cell(row, index),
                                     rubric.manual[item].points, decimal_comma)
                        for item, index in columns.items()}
        scores[name].update({item: None for item in rubric.manual if item not in columns})
    return scores


def _identify(path: Path, header: list[str], settings: Settings, known: set[str]):
    """A function (row, line) -> (submission id, how the row names it) for the rows of ``path``: by the
    ``id`` column, Canvas's fields, or a Moodle identifier column, as the exports wrote them."""
    if ID in header:
        fields = [(ID, header.index(ID))]
        written = {(ID, name): {name} for name in known}
    elif all(field in header for field in CANVAS_FIELDS):
        fields = [(field, header.index(field)) for field in CANVAS_MATCHED_BY]
        written = _index(known, settings.canvas)
    else:
        found = [(field, index) for index, name in enumerate(header)
                 for field, aliases in ID_COLUMNS.items() if name.lower() in aliases]
        if len(found) != 1:
            raise ExportError(f"{path}: cannot tell whose scores the rows are: expected one column named {ID!r} "
                              f"(submission ids), {' or '.join(ID_COLUMNS)} (as in {MOODLE}), or Canvas's "
                              f"{', '.join(CANVAS_FIELDS)} (as in {CANVAS}); its columns are {', '.join(header)}")
        fields = found
        written = _index(known, settings.moodle)

    def whose(row: list[str], line: int) -> tuple[str, str]:
        for field, index in fields:
            value = _unquoted(_cell(row, index))
            if value and len(written.get((field, value), ())) == 1:
                return next(iter(written[(field, value)])), f"{field} {value!r}"
        shown = ", ".join(f"{field} {_unquoted(_cell(row, index))!r}" for field, index in fields
                          if _unquoted(_cell(row, index)))
        raise ExportError(f"{path}, row {line}: unknown student ({shown or 'no identifier'}): not a submission in "
                          f"OUT nor in the roster")
    return whose


def _index(names: set[str], fields) -> dict[tuple[str, str], set[str]]:
    """(field, value) -> the submissions whose exported ``fields(name)`` give that value."""
    index: dict[tuple[str, str], set[str]] = {}
    for name in names:
        for field, value in fields(name).items():
            if value:
                index.setdefault((field, value), set()).add(name)
    return index


def _score(path: Path, line: int, label: str, column: str, text: str, points: float,
           decimal_comma: bool) -> Optional[float]:
    text = text.strip()
    if text in EMPTY:
        return None
    try:
        value = float(text.replace(",", ".") if decimal_comma else text)
    except ValueError:
        value = math.nan
    where = f"{path}, row {line} ({label}), column {column}"
    if not math.isfinite(value):
        raise ExportError(f"{where}: {text!r} is not a number (write a plain decimal such as 12.5, or leave it empty)")
    if not 0 <= value <= points:
        raise ExportError(f"{where}: {text} is not from 0 to {_plain(points)}")
    return value


# -- CSV: plain numbers, no formulas -------------------------------------------------------------------


def _column(item: str) -> str:
    return f"{ASSIGNMENT} {item}"


def _item(header: str) -> str:
    """The item a column is for: ``report``, ``Lab 3 report`` and Canvas's ``Lab 3 report (1234)`` -> ``report``."""
    name = re.sub(r"\s*\(\d+\)$", "", header.strip()).lower()
    prefix = ASSIGNMENT.lower() + " "
    return name[len(prefix):] if name.startswith(prefix) else name


def _column_name(header: list[str], columns: dict[str, int], item: str) -> str:
    return header[columns[item]] if item in columns else item


def spreadsheet_text(text: str) -> str:
    """``text`` as a spreadsheet shows it, never runs it: a leading ``'`` where it would start a formula."""
    return "'" + text if text.startswith(FORMULA_START) else text


def _unquoted(text: str) -> str:
    """A cell as written, the ``'`` that ``spreadsheet_text`` added taken off."""
    text = text.strip()
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_START) else text


def _plain(number: float) -> str:
    """``number`` as a plain decimal, at most 4 places: 12.5, 60, 0.0001 (never 1e-04)."""
    text = f"{number:.4f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _write_csv(path: Path, rows: list[list]) -> Path:
    """``rows`` as CSV at ``path``, written atomically: None as an empty cell, numbers as plain decimals,
    texts neutralised (``spreadsheet_text``)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow(["" if cell is None else _plain(cell) if isinstance(cell, (int, float))
                         else spreadsheet_text(str(cell)) for cell in row])
    write_atomically(path, buffer.getvalue())
    return path


def _read_csv(path: Path, what: str) -> tuple[list[str], list[tuple[int, list[str]]], str]:
    """The header (stripped), the rows after it as (line, cells), and the delimiter of the CSV at ``path``
    (UTF-8, with or without a byte-order mark; commas, or the semicolons a spreadsheet in a decimal-comma
    locale writes)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ExportError(f"{path}: no such file (the {what})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ExportError(f"{path}: cannot read the {what}: {error} (save it as CSV, UTF-8)") from None
    first = text.split("\n", 1)[0]
    delimiter = ";" if ";" in first and "," not in first else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    rows: list[tuple[int, list[str]]] = []
    try:
        header = [name.strip() for name in next(reader, [])]
        if not any(header):
            raise ExportError(f"{path}: empty; expected a header row and a row per student ({what})")
        for row in reader:
            rows.append((reader.line_num, row))
    except csv.Error as error:
        raise ExportError(f"{path}, row {reader.line_num}: not valid CSV: {error}") from None
    return header, rows, delimiter


def _cell(row: list[str], index: int) -> str:
    return row[index] if index < len(row) else ""


def _count(names: list[str], what: str) -> str:
    return f"{len(names)} {what}{'' if len(names) == 1 else 's'}"


def _some(names: list[str], shown: int = 10) -> str:
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")
