"""The Lab 3 kit's grader and instructor tools, laid out by what each part may do (README, "What is where").

- ``runtime/``: the only code inside the jail, next to a submission; imports nothing else of the kit.
- ``engine/``: running a submission from the grader's side: a confined worker and the requests to it.
- ``checks/``: the checks, by lab file; ``checks/instructor/`` stays out of the student bundle.
- ``tools/``: what only instructors run (release, notebook, golden/, skeletons, catalogues).
- here: the command line, the rubric, reports, and the orchestration of a grade, a class, a self-check.
"""
import os

# Torch's profiler (Kineto) prints USDT and "ERROR: gpuGetDeviceCount failed" lines on machines
# without a GPU; the memory measurement runs it in every grading. Level 6 keeps it quiet; it is
# read when the profiler first starts, and a value set by the user wins.
os.environ.setdefault("KINETO_LOG_LEVEL", "6")
