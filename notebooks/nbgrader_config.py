"""nbgrader's configuration for the Lab 3 course folder (this folder, ``notebooks/``).

Run nbgrader from here: ``nbgrader generate_assignment lab3`` writes the student version to
``release/lab3/``; submissions collected into ``submitted/<student>/lab3/`` are graded with
``nbgrader autograde lab3``, and ``nbgrader export`` writes ``grades.csv``.

Autograding runs the notebook in a kernel of the Python that runs nbgrader (the kit's environment).
Its test cells import ``autograder`` and grade against the reference solutions, so the kit's root
is put on the kernel's ``PYTHONPATH``; its experiments run at their smoke-test size
(``LAB3_SMOKE=1``) unless the environment already sets ``LAB3_SMOKE``.
"""
import os
from pathlib import Path

KIT = Path(__file__).resolve().parent.parent

c = get_config()  # noqa: F821 (nbgrader provides get_config)

c.CourseDirectory.course_id = "lab3"

# The kernel inherits nbgrader's environment.
os.environ.setdefault("LAB3_SMOKE", "1")
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(KIT), os.environ.get("PYTHONPATH", "")) if p)

# Seconds per cell: the training smoke tests' cell takes about 15 s on a 2-core CPU, more on a busy one.
c.Execute.timeout = 300
# nbgrader scores a test cell 0 when it writes to stderr. Output written by C libraries straight to the
# process's stderr (torch's profiler logs a line per profiled step) goes to nbgrader's log instead.
c.Execute.extra_arguments = ["--IPKernelApp.capture_fd_output=False"]
