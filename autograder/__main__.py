"""Command line: ``python -m autograder COMMAND``. Commands are registered in ``COMMANDS``."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable, Optional

from autograder import paths


def command_models(args: argparse.Namespace) -> int:
    """Print a table of every reference model: shapes, parameters, FLOPs."""
    from autograder.tools.model_table import MODELS, format_table, measure

    rows = []
    for spec in MODELS:
        rows.append(measure(spec))
        print(f"measured {spec.name} in {rows[-1].seconds:.1f} s", file=sys.stderr, flush=True)
    print(format_table(rows, markdown=args.markdown))
    return 0


def command_skeletons(args: argparse.Namespace) -> int:
    """Regenerate skeletons/ from solutions/, or with --check report drift and exit 1."""
    from autograder.tools.skeletons import drifted, write_skeletons

    if args.check:
        problems = drifted(paths.SOLUTIONS, paths.SKELETONS)
        for problem in problems:
            print(f"skeletons/{problem}: run `python -m autograder skeletons` to regenerate")
        if not problems:
            print("skeletons/ matches solutions/")
        return 1 if problems else 0
    for skeleton in write_skeletons(paths.SOLUTIONS, paths.SKELETONS):
        print(f"skeletons/{skeleton.name}: {skeleton.regions} region(s) to implement")
    return 0


def command_golden(args: argparse.Namespace) -> int:
    """Record golden/ from solutions/, or with --check report stale files and exit 1."""
    from autograder.tools.record_golden import record, stale

    rubric = _rubric(args)
    if rubric is None:
        return 2
    if args.check:
        problems = stale(rubric)
        for problem in problems[:30]:
            print(f"golden/{problem}")
        print("golden/ is stale: run `python -m autograder golden` to record it" if problems else
              "golden/ matches the reference solutions")
        return 1 if problems else 0
    written = record(rubric)
    size = sum(path.stat().st_size for path in written)
    print(f"golden/: {len(written)} files, {size / 1024:.0f} kB")
    return 0


def command_catalogues(args: argparse.Namespace) -> int:
    """Extract, merge and compile the translation catalogues, or with --check report what is wrong."""
    from autograder.tools.catalogues import problems, write

    if not args.check:
        for path in write():
            print(f"wrote {path.relative_to(paths.ROOT)}")
    found = problems()
    for problem in found[:40]:
        print(problem)
    if len(found) > 40:
        print(f"... and {len(found) - 40} more")
    print(f"{len(found)} problem(s) in the catalogues" if found else "the catalogues are complete and up to date")
    return 1 if found else 0


def command_check(args: argparse.Namespace) -> int:
    """Grade a folder or notebook with the visible checks, the reference's values from golden/."""
    inputs = _grading_inputs(args)
    if inputs is None:
        return 2
    submission, rubric, device = inputs
    from autograder.grade import grade
    from autograder.i18n import _, course_language, use
    from autograder.lanes import auto_lanes
    from autograder.report import format_report
    from autograder.selection import SelectionError, selected

    use(args.lang or course_language(rubric.language))
    visible = rubric.visible()
    try:
        chosen = selected(visible, args.only)
    except SelectionError as error:
        print(f"error: --only {error}", file=sys.stderr)
        return 2
    what = (_("{count} of the visible checks").format(count=len(chosen.checks)) if args.only
            else _("the visible checks"))
    graded = grade(submission, chosen, device, sandbox="off", reference="replay", threads=args.threads,
                   lanes=args.lanes or auto_lanes(), progress=_progress_printer(args.progress), show_prints=True,
                   style=not args.only, language=args.lang)
    title = _("Lab 3 self-check: {submission} ({device}), {what}").format(
        submission=submission, device=device, what=what)
    print(format_report(graded.reported, title, graded.notes, show_prints=True))
    hidden = len(rubric.checks) - len(visible.checks)
    if hidden:
        print(_("{count} more checks run when instructors grade, after the due date.").format(count=hidden))
    elif student_copy():
        print(_("More checks run when instructors grade, after the due date."))
    return 0


def _progress_printer(wanted: Optional[bool]):
    """A ``grade`` progress callback writing a line per finished check to stderr: when ``wanted``,
    or (None) when stderr is a terminal; else None."""
    if wanted is False or (wanted is None and not sys.stderr.isatty()):
        return None

    def show(result, done: int, total: int) -> None:
        mark = "PASS" if result.passed else "FAIL"
        print(f"[{done:>{len(str(total))}}/{total}] {mark} {result.score:.2f}/{result.max_score:.2f} {result.id} "
              f"({result.seconds:.1f} s)", file=sys.stderr, flush=True)
    return show


def command_notebook(args: argparse.Namespace) -> int:
    """Build the lab notebook (nbgrader source) from notebooks/lab3.py, solutions/ and grading.yml,
    or with --check report drift and exit 1."""
    from autograder.tools.lab_notebook import TemplateError, drifted, write_notebook

    try:
        if args.check:
            problems = drifted()
            for problem in problems:
                print(f"{problem}: run `python -m autograder notebook` to rebuild it")
            if not problems:
                print("the lab notebook matches notebooks/lab3.py, solutions/ and grading.yml")
            return 1 if problems else 0
        print(f"wrote {write_notebook().relative_to(paths.ROOT)}")
    except TemplateError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def command_release(args: argparse.Namespace) -> int:
    """Write the student bundle (no solutions, no hidden checks) into OUT."""
    from autograder.tools.release import ReleaseError, release

    rubric = _rubric(args)
    if rubric is None:
        return 2
    try:
        files = release(Path(args.out), rubric, Path(args.rubric).read_text(encoding="utf-8"), kit_url=args.kit_url,
                        language=args.lang or "")
    except ReleaseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{args.out}: the student bundle, {len(files)} files; try it there with `pytest` "
          "and `python -m autograder check`")
    return 0


def _submission_problem(submission: Path) -> str:
    """Why ``submission`` cannot be graded ("" when it can be): it must be a folder or a notebook."""
    if not submission.exists():
        return f"{submission} does not exist (expected a folder laid out like skeletons/, or a .ipynb notebook)"
    if not submission.is_dir() and submission.suffix != ".ipynb":
        return f"{submission} is a file, not a folder laid out like skeletons/ or a .ipynb notebook"
    return ""


def _grading_inputs(args: argparse.Namespace, problem: str = ""):
    """(submission, rubric, device) for ``grade`` and ``check``; None after printing why one is unusable.

    ``problem``: the command's own complaint about its other options, told after the path's. Paths
    are checked before the rubric and device, whose modules import torch: a mistyped path should not
    wait for it.
    """
    submission = Path(args.path)
    problem = _submission_problem(submission) or problem
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return None
    rubric, device = _rubric_and_device(args)
    if rubric is None:
        return None
    return submission, rubric, device


def _rubric(args: argparse.Namespace):
    """The rubric named by ``--rubric``; None after printing why when it is unusable."""
    from autograder.checks import CHECKS
    from autograder.rubric import RubricError, load_rubric

    try:
        return load_rubric(args.rubric, CHECKS)
    except RubricError as error:
        print(f"error: {error}", file=sys.stderr)
        return None


def _rubric_and_device(args: argparse.Namespace):
    """The rubric and the device named by ``--rubric`` and ``--device``; (None, None) after printing why
    when either is unusable."""
    from autograder.engine.device import resolve_device

    rubric = _rubric(args)
    if rubric is None:
        return None, None
    try:
        return rubric, resolve_device(args.device)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return None, None


def command_grade(args: argparse.Namespace) -> int:
    """Grade one submission folder; exit 0 whenever grading ran, 2 when it cannot run."""
    results_problem = (f"--results {args.results} is a folder; give the path of the JSON file to write"
                       if Path(args.results).is_dir() else "")
    inputs = _grading_inputs(args, results_problem)
    if inputs is None:
        return 2
    submission, rubric, device = inputs
    from autograder.engine.sandbox import SandboxUnavailable
    from autograder.grade import grade
    from autograder.lanes import auto_lanes
    from autograder.report import format_report, write_results

    start = time.perf_counter()
    try:
        graded = grade(submission, rubric, device, args.sandbox, reference=args.reference, threads=args.threads,
                       lanes=args.lanes or auto_lanes(), language=args.lang)
    except SandboxUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - start
    from autograder.i18n import course_language, use

    use(args.lang or course_language(rubric.language))
    print(format_report(graded.reported, f"Lab 3 autograder: {submission} ({device})", graded.notes))
    write_results(args.results, graded.results_json(elapsed))
    print(f"results written to {args.results} in {elapsed:.1f} s")
    return 0


def command_batch(args: argparse.Namespace) -> int:
    """Grade every submission (folder or notebook) of DIR into OUT (resumable), then write OUT/gradebook.csv and
    the class report, OUT/report.html."""
    from autograder.batch import Shard, grade_class, write_gradebook
    from autograder.engine.sandbox import Limits, Sandbox, SandboxUnavailable

    folder, out = Path(args.dir), Path(args.out)
    if not folder.is_dir():
        print(f"error: {folder} is not a folder of submissions", file=sys.stderr)
        return 2
    rubric, device = _rubric_and_device(args)
    if rubric is None:
        return 2
    try:
        shard = Shard.parse(args.shard) if args.shard else None
        note = Sandbox(args.sandbox, Limits.of(rubric.sandbox)).note(device)
    except (ValueError, SandboxUnavailable) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    settings = _export_settings(args, out)
    if settings is None:
        return 2
    if args.rescore:
        if not _rescore(folder, out, rubric, shard):
            return 2
    else:
        print(note, flush=True)
        grade_class(folder, out, rubric, device, args.jobs, shard, args.sandbox,
                    log=lambda line: print(line, flush=True), threads=args.threads, reference=args.reference)
    print(f"gradebook: {write_gradebook(out, rubric)}")
    if args.similarity:
        problem = _similarity(folder, out, rubric)
        if problem:
            print(f"similarity report: none, {problem}", file=sys.stderr)
    if not _write_exports(out, rubric, settings):
        return 2
    from autograder.tools.class_report import NoResults, write_report

    try:
        print(f"class report: {write_report(out)}")
    except NoResults:
        print("class report: none, as no submission has results")
    return 0


def _rescore(folder: Path, out: Path, rubric, shard) -> bool:
    """``batch --rescore``: every results.json in OUT scored again with the rubric's points; False after
    printing why it cannot be."""
    from autograder.rescore import RescoreError, rescore_class

    if shard is not None:
        print("error: --rescore rescores every result in OUT at once (in seconds); leave out --shard", file=sys.stderr)
        return False
    start = time.perf_counter()
    try:
        rescore_class(out, rubric, folder, log=lambda line: print(line, flush=True))
    except RescoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return False
    print(f"rescored in {time.perf_counter() - start:.2f} s")
    return True


def _export_settings(args: argparse.Namespace, out: Path):
    """The exports' roster and identifier column (``--roster``, ``--id-column``, else those kept in OUT);
    None after printing why they are unusable."""
    from autograder.exports import ExportError, export_settings

    try:
        return export_settings(out, Path(args.roster) if args.roster else None, args.id_column)
    except ExportError as error:
        print(f"error: {error}", file=sys.stderr)
        return None


def _write_exports(out: Path, rubric, settings) -> bool:
    """Write the Moodle and Canvas exports (and the final grades once merged) and say what they lack;
    False after printing why they cannot be written."""
    from autograder.exports import ExportError, write_exports

    try:
        written, warnings = write_exports(out, rubric, settings)
    except ExportError as error:
        print(f"error: {error}", file=sys.stderr)
        return False
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"exports: {', '.join(str(path) for path in written)}")
    return True


def command_merge(args: argparse.Namespace) -> int:
    """Read the hand-graded scores into OUT: the final grades (OUT/final.csv) and the exports with them."""
    from autograder.exports import ExportError, merge

    out = Path(args.out)
    if not out.is_dir():
        print(f"error: {out} is not a folder batch graded into", file=sys.stderr)
        return 2
    rubric = _rubric(args)
    settings = _export_settings(args, out) if rubric is not None else None
    if settings is None:
        return 2
    try:
        written, warnings = merge(out, rubric, Path(args.manual), settings)
    except ExportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"final grades and exports: {', '.join(str(path) for path in written)}")
    return 0


def command_report(args: argparse.Namespace) -> int:
    """Write OUT/report.html (its figures embedded) from the results batch wrote into OUT."""
    from autograder.tools.class_report import NoResults, write_report

    try:
        print(f"class report: {write_report(Path(args.out))}")
    except NoResults as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def command_similarity(args: argparse.Namespace) -> int:
    """Compare the code of every submission of DIR with every other's: OUT/similarity.csv and similarity.html."""
    from autograder.batch import submissions

    folder = Path(args.dir)
    if not folder.is_dir():
        print(f"error: {folder} is not a folder of submissions", file=sys.stderr)
        return 2
    found = len(submissions(folder))
    if found < 2:
        print(f"error: {folder} holds {found} submission(s) (folders laid out like skeletons/, .ipynb notebooks); "
              "comparing needs at least 2", file=sys.stderr)
        return 2
    rubric = _rubric(args)
    if rubric is None:
        return 2
    problem = _similarity(folder, Path(args.out), rubric)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    return 0


def _similarity(folder: Path, out: Path, rubric) -> str:
    """Write the similarity report of ``folder``'s submissions into ``out`` and say where and how many pairs
    are flagged; returns why there is no report ("" when it was written)."""
    from autograder.tools.similarity import compare_class, write_report

    start = time.perf_counter()
    report = compare_class(folder, rubric.similarity)
    for skipped in report.skipped:
        print(f"similarity: skipped {skipped.id}: {skipped.reason}")
    if len(report.documents) < 2:
        return f"{len(report.documents)} readable submission(s) in {folder}; comparing needs at least 2"
    csv_path, html_path = write_report(report, out)
    print(f"similarity: {len(report.documents)} submissions, {len(report.pairs)} pairs compared in "
          f"{time.perf_counter() - start:.1f} s; {len(report.flagged)} pair(s) flagged "
          f"(similarity at least {rubric.similarity.threshold:g})")
    print(f"similarity report: {html_path} (flagged pairs side by side), {csv_path} (every pair, ranked)")
    return ""


def command_gradescope(args: argparse.Namespace) -> int:
    """Build the Gradescope autograder package (a zip to upload)."""
    from autograder.tools.gradescope_package import build

    names = build(Path(args.zip))
    print(f"{args.zip}: {len(names)} files (setup.sh, run_autograder, requirements.txt, kit/); "
          f"upload it as the assignment's autograder")
    return 0


def rubric_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rubric", default=str(paths.ROOT / "grading.yml"), help="rubric file (default: grading.yml)")


def _report_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", help="the folder batch graded into (OUT/<id>/results.json)")


def _similarity_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir",
                        help="folder holding the submissions: folders laid out like skeletons/, .ipynb notebooks")
    parser.add_argument("--out", required=True, help="where similarity.csv and similarity.html go")
    rubric_option(parser)


def _gradescope_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("zip", help="where to write the package, e.g. out/gradescope.zip")


def _batch_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir",
                        help="folder holding the submissions: folders laid out like skeletons/, .ipynb notebooks")
    parser.add_argument("--out", required=True, help="where results (OUT/<name>/results.json) and gradebook.csv go")
    parser.add_argument("--jobs", type=int, default=1, help="submissions graded in parallel")
    parser.add_argument("--shard", help="grade only the K-th of N slices of the class, e.g. 2/4")
    parser.add_argument("--similarity", action="store_true",
                        help="then also write the similarity report of the whole of DIR (whatever --shard) into "
                             "OUT: similarity.csv and similarity.html, as the similarity command does")
    parser.add_argument("--rescore", action="store_true",
                        help="grade nothing: score every OUT/<id>/results.json again with the rubric's points "
                             "(after a change of points or visibility), then rewrite the gradebook and exports")
    _rubric_and_device_options(parser)
    _export_options(parser)


def _export_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--roster", help="CSV mapping each submission id (column id) to the students' Moodle fields "
                                         "(email, idnumber, username) and Canvas's (Student, ID, SIS User ID, "
                                         "SIS Login ID, Section); kept in OUT/exports.json for later commands")
    parser.add_argument("--id-column", choices=["email", "idnumber", "username"],
                        help="the user field moodle.csv identifies students by, as Moodle's import maps it "
                             "(default: as kept in OUT, else username; without a roster, the submission ids)")


def _merge_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", help="the folder batch graded into (OUT/<id>/results.json)")
    parser.add_argument("--manual", required=True,
                        help="the hand-graded scores: a CSV of id,report,demo,bonus, or OUT/moodle.csv or "
                             "OUT/canvas.csv filled in")
    rubric_option(parser)
    _export_options(parser)


def _rubric_and_device_options(parser: argparse.ArgumentParser) -> None:
    rubric_option(parser)
    parser.add_argument("--reference", choices=["auto", "live"], default="auto",
                        help="where the reference's values come from: auto (default) replays them from golden/ where "
                             "it was recorded from the sources as they are, and computes the rest; live computes all")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    _threads_option(parser)
    parser.add_argument("--sandbox", default="auto", choices=["auto", "namespaces", "limits", "off"],
                        help="how workers are confined (default auto: Linux namespaces where available, "
                             "else resource limits only)")


def _language_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lang", choices=["en", "es"], default=None,
                        help="language of the feedback and reports (default: the rubric's `language`)")


def _threads_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=_positive_int, default=1,
                        help="torch threads of each grading (grader and worker; default 1: the checks' models are "
                             "small, and gradings run side by side then do not slow each other down)")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _grade_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="submission: a folder laid out like skeletons/, or a .ipynb notebook")
    parser.add_argument("--results", default="results.json", help="Gradescope results file to write")
    _rubric_and_device_options(parser)
    _lanes_option(parser)
    _language_option(parser)


def _lanes_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lanes", type=_positive_int, default=None,
                        help="workers that run the checks side by side, each with a share of them (default: 2 on a "
                             "machine with 2 cores or more, else 1); the grade is the same with any number")


def _check_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", default="skeletons",
                        help="your work: a folder laid out like skeletons/ (default: skeletons), or a .ipynb notebook")
    parser.add_argument("--only", action="append", default=[], metavar="PART",
                        help="check only this part or component (repeatable): a check id or its start (part3.mha), "
                             "a name in it (mha, basic_block), or a class (MultiHeadAttention)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="a line per check as it finishes (default: when the terminal shows it)")
    _language_option(parser)
    rubric_option(parser)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    _threads_option(parser)
    _lanes_option(parser)


def _golden_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--check", action="store_true", help="only report whether golden/ is up to date")
    rubric_option(parser)


def _catalogues_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--check", action="store_true", help="only report missing translations and stale files")


def _notebook_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--check", action="store_true", help="only report whether the notebook is up to date")


def _release_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", help="a new (or empty) folder for the student bundle")
    parser.add_argument("--kit-url", default="", help="where students will download the bundle as a .zip: the "
                                                       "released notebook's first cell fetches it on Colab")
    _language_option(parser)
    rubric_option(parser)


def _models_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")


def _skeletons_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--check", action="store_true", help="only report whether skeletons/ is up to date")


# name -> (handler, argument setup, help)
COMMANDS: dict[str, tuple[Callable[[argparse.Namespace], int], Callable[[argparse.ArgumentParser], None], str]] = {
    "grade": (command_grade, _grade_parser,
              "grade one submission (a folder laid out like skeletons/, or a notebook) against the reference"),
    "batch": (command_batch, _batch_parser,
              "grade a folder of submissions (folders or notebooks) into a gradebook (resumable)"),
    "merge": (command_merge, _merge_parser,
              "merge the hand-graded scores (report, demo, bonus) into final grades and the Moodle/Canvas exports"),
    "report": (command_report, _report_parser,
               "write OUT/report.html from batch's results: scores, checks, alternatives, problems, time"),
    "similarity": (command_similarity, _similarity_parser,
                   "compare the code of every pair of submissions (plagiarism screening, as MOSS): ranked CSV and "
                   "HTML report"),
    "check": (command_check, _check_parser, "self-check: the visible checks, without solutions/ (from golden/)"),
    "golden": (command_golden, _golden_parser, "record golden/ (the reference's values for the visible checks)"),
    "catalogues": (command_catalogues, _catalogues_parser,
                   "extract, merge and compile the translations (autograder/locale)"),
    "gradescope": (command_gradescope, _gradescope_parser, "build the Gradescope autograder package (zip)"),
    "notebook": (command_notebook, _notebook_parser, "build the lab notebook (nbgrader source) in notebooks/source/"),
    "release": (command_release, _release_parser, "write the student bundle: skeletons, notebook, golden files, tests"),
    "models": (command_models, _models_parser, "table of the reference models (shapes, parameters, FLOPs)"),
    "skeletons": (command_skeletons, _skeletons_parser, "generate student skeletons from solutions/"),
}


STUDENT_COMMANDS = ("check",)
"""What works in a student copy: every other command grades against, or builds from, solutions/."""


def student_copy() -> bool:
    """Whether this is a student's bundle: the instructor's tools are not in it. (A look at the files:
    where the kit is also pip-installed, an import could find the installed copy's tools.)"""
    return not (paths.TOOLS / "__init__.py").is_file()


def main(argv: list[str] | None = None) -> int:
    student = student_copy()
    description = ("Lab 3 self-check (a student copy: grading and the instructors' tools need the reference "
                   "solutions, which it does not have)" if student else "Lab 3 kit tools")
    parser = argparse.ArgumentParser(prog="python -m autograder", description=description)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_, setup, help_text) in COMMANDS.items():
        if name in STUDENT_COMMANDS or not student:
            setup(sub.add_parser(name, help=help_text))
    args = parser.parse_args(argv)
    return COMMANDS[args.command][0](args)


if __name__ == "__main__":
    sys.exit(main())
