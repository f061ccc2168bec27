"""The language of what students read: English in the code, other languages in gettext catalogues.

Student-facing messages are written in English and marked ``_("...")``; placeholders are written
in braces and filled with ``.format`` after translation, so that a translation may move them.
``python -m autograder catalogues`` (``autograder.tools.catalogues``, with Babel) extracts them into
``autograder/locale/lab3.pot``, merges that into each language's ``<lang>/LC_MESSAGES/lab3.po`` and
compiles ``lab3.mo``, which Python's ``gettext`` reads here. Code identifiers, docstrings and the
slides' own words (``autograder.checks.slides``) are not translated.
"""
from __future__ import annotations

import contextlib
import gettext
import os
from pathlib import Path
from typing import Iterator

DOMAIN = "lab3"
LOCALES = Path(__file__).resolve().parent / "locale"
"""The catalogues: ``<language>/LC_MESSAGES/lab3.po`` (and its compiled ``.mo``)."""
LANGUAGES = ("en", "es")
"""English (the code's own) first."""


LANGUAGE_VARIABLE = "LAB3_LANG"
"""An environment variable that, when set, overrides the rubric's language (``--lang`` overrides both)."""


def course_language(rubric_language: str) -> str:
    """The language to speak: ``LAB3_LANG`` when set, else the rubric's."""
    chosen = os.environ.get(LANGUAGE_VARIABLE) or rubric_language
    if chosen not in LANGUAGES:
        raise ValueError(f"{LANGUAGE_VARIABLE}={chosen!r}: the kit speaks {', '.join(LANGUAGES)}")
    return chosen


class _State:
    language = "en"
    translations: gettext.NullTranslations = gettext.NullTranslations()


_STATE = _State()


def use(language: str) -> None:
    """Speak ``language`` from now on in this process."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; the kit speaks {', '.join(LANGUAGES)}")
    _STATE.translations = (gettext.NullTranslations() if language == LANGUAGES[0]
                           else gettext.translation(DOMAIN, LOCALES, [language]))
    _STATE.language = language


def language() -> str:
    """The language spoken now."""
    return _STATE.language


@contextlib.contextmanager
def speaking(language: str) -> Iterator[None]:
    """Speak ``language`` inside the block, then the language spoken before."""
    previous = _STATE.language
    use(language)
    try:
        yield
    finally:
        use(previous)


def _(message: str) -> str:
    """``message`` in the language spoken now (itself in English, or where no translation exists)."""
    return _STATE.translations.gettext(message)


def N_(message: str) -> str:
    """Marks ``message`` for the catalogues where it is defined; ``_`` translates it where it is shown."""
    return message
