"""The self-check's report in the terminal: one line per failing check, its feedback's first line."""
from __future__ import annotations

from autograder.i18n import _


def pytest_terminal_summary(terminalreporter) -> None:
    failed = [report for report in terminalreporter.stats.get("failed", []) if "[" in report.nodeid]
    if not failed:
        return
    terminalreporter.section(_("checks to fix"), sep="-")
    for report in failed:
        check_id = report.nodeid.rsplit("[", 1)[1].rstrip("]")
        terminalreporter.write_line(f"FAIL {check_id}: {report.longreprtext.strip()}")
    parts = sorted({".".join(report.nodeid.rsplit("[", 1)[1].split(".")[:2]) for report in failed})
    only = parts[0] if len(parts) == 1 else _("PART (e.g. {part})").format(part=parts[0])
    terminalreporter.write_line(_("All the feedback, and what your code printed: {command}").format(
        command=f"python -m autograder check --only {only}"))
