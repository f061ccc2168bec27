"""The checks' instructor-only code: the checks graded after the due date (``hidden``) and the code
of the known mistakes (``alternatives``). The student bundle leaves this folder out."""
