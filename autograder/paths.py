"""Where the kit's folders are, relative to the repository root."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
SKELETONS = ROOT / "skeletons"
GOLDEN = ROOT / "golden"
"""The reference's recorded values for the visible checks (``autograder.checks.golden``)."""
TOOLS = ROOT / "autograder" / "tools"
"""What only instructors run (``autograder.tools``): neither the Gradescope package nor the student
bundle carries it."""
INSTRUCTOR_CHECKS = ROOT / "autograder" / "checks" / "instructor"
"""The hidden checks and the known mistakes' code: the Gradescope package carries them, the student bundle does not."""
