"""The whole suite reads the grader's English: ``LAB3_LANG=en`` overrides the rubric's language
(Spanish, the course's) here and in every process the tests start. The tests of the Spanish texts
ask for Spanish themselves (``autograder/i18n.py``)."""
import pytest


@pytest.fixture(scope="session", autouse=True)
def english():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAB3_LANG", "en")
        yield
