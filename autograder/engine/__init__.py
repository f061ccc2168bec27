"""Running a submission, grader side: start a confined worker (``sandbox``, ``client``), talk to it
(``remote``), read its memory (``meter``), turn a notebook into a submission folder
(``submission``), choose the device (``device``), and the from-scratch rule (``forbidden``).
The checks, the orchestration and ``experiments/`` build on it; it imports neither of them."""
