"""Where the kit's folders are, relative to the repository root."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
SKELETONS = ROOT / "skeletons"
GOLDEN = ROOT / "golden"
"""The reference's recorded values for the visible checks (``autograder.checks.golden``)."""
INSTRUCTOR_TOOLS = (Path("autograder/release.py"), Path("autograder/lab_notebook.py"), Path("autograder/model_table.py"),
                    Path("autograder/catalogues.py"))
"""Kit files (relative to ``ROOT``) that only instructors run: they need nbgrader or solutions/, and
neither the Gradescope package nor the student bundle carries them."""
