"""The course's language: complete catalogues, feedback in the rubric's language, translated files.

Messages are English in the code and Spanish in ``autograder/locale/es``; a missing translation or
one whose placeholders differ from the original's fails here, as does a catalogue that is not what
``python -m autograder catalogues`` writes from the code.
"""
from __future__ import annotations

import dataclasses

import pytest
from babel.messages.catalog import Catalog

from autograder import paths
from autograder.checks import CHECKS
from autograder.grade import grade
from autograder.i18n import _, language, speaking, use
from autograder.rubric import RubricError, load_rubric
from autograder.tools.catalogues import problems, translation_problems
from autograder.tools.localize import todo_comments, translate_todos

RUBRIC = load_rubric(paths.ROOT / "grading.yml", CHECKS)


def test_the_catalogues_are_complete_and_up_to_date():
    assert problems() == []


def test_a_missing_translation_or_changed_placeholder_is_reported():
    catalog = Catalog(locale="es")
    catalog.add("{case}: expected output {expected}, got {got}", "{case}: se esperaba {expected}, se obtuvo {obtenido}")
    catalog.add("Total: {points}", "")
    catalog.add("a tensor", "un tensor")
    found = translation_problems(catalog, "es")
    assert len(found) == 2
    assert "placeholders" in found[0] and "{obtenido}" in found[0] and "no translation" in found[1]


def test_speaking_a_language_translates_and_restores():
    assert language() == "en" and _("Total: {points}") == "Total: {points}"
    with speaking("es"):
        spanish = _("{component}: not implemented yet{where}")
        assert spanish != "{component}: not implemented yet{where}" and "{component}" in spanish
    assert language() == "en"
    with pytest.raises(ValueError, match="unknown language"):
        use("fr")


def test_the_rubric_sets_the_language(tmp_path):
    text = (paths.ROOT / "grading.yml").read_text(encoding="utf-8")
    assert RUBRIC.language == "es"  # the slides' language
    for value, ok in (("es", True), ("en", True), ("fr", False)):
        path = tmp_path / f"{value}.yml"
        path.write_text(text.replace("\nlanguage: es\n", f"\nlanguage: {value}\n", 1))
        if ok:
            assert load_rubric(path, CHECKS).language == value
        else:
            with pytest.raises(RubricError, match="language must be one of en, es"):
                load_rubric(path, CHECKS)


def test_feedback_speaks_the_language_asked_for():
    one = dataclasses.replace(RUBRIC, checks={"part3.mha.shapes": RUBRIC.checks["part3.mha.shapes"]})
    english = grade(paths.SKELETONS, one, "cpu", sandbox="off", reference="replay", language="en", style=False)
    spanish = grade(paths.SKELETONS, one, "cpu", sandbox="off", reference="replay", language="es", style=False)
    assert "not implemented yet" in english.results[0].output and "See the slides" in english.results[0].output
    assert "not implemented yet" not in spanish.results[0].output and "See the slides" not in spanish.results[0].output
    assert "3.2 Autoatención Multi-Cabeza" in spanish.results[0].output  # the slides cited in their own words
    assert language() == "en"


def test_todo_comments_are_translated_as_blocks_and_wrapped():
    source = ("class A:\n    def f(self):\n        # TODO: first part\n        # and its continuation.\n"
              "        # YOUR CODE HERE\n        raise NotImplementedError()\n")
    assert [(start, end, text) for start, end, _indent, text in todo_comments(source)] == \
        [(2, 4, "first part and its continuation.")]
    translated = translate_todos(source, lambda text: "parte " * 40 + text.upper())
    lines = translated.splitlines()
    assert lines[2].startswith("        # TODO: parte") and all(len(line) <= 110 for line in lines)
    assert "FIRST PART AND ITS CONTINUATION." in " ".join(lines) and lines[-2:] == source.splitlines()[-2:]
    with speaking("es"):
        for path in sorted(paths.SOLUTIONS.glob("*.py")):
            for _start, _end, _indent, text in todo_comments(path.read_text(encoding="utf-8")):
                assert _(text) != text, f"{path.name}: no Spanish for the TODO {text!r}"
