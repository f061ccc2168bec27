"""The grading rubric, ``grading.yml``: points, visibility, timeouts and tolerances per check.

The rubric is data. It is read with ``yaml.safe_load`` (and composed once more, without
constructing anything, to refuse duplicate keys, which PyYAML would otherwise silently merge),
never executed, and validated completely before any grading starts. Every problem raises
:class:`RubricError` naming the file and the offending key or id.

Format::

    total: 100            # points of the whole lab, bonus excluded
    code_points: 60       # the automatic checks must add up to this
    tolerances:           # rubric-wide, both dtypes, both fields
      float32: {atol: 1.0e-4, rtol: 1.0e-3}
      float64: {atol: 1.0e-9, rtol: 1.0e-7}
    forbidden: [torchvision.models, timm, torch.nn.MultiheadAttention]   # optional
    one_penalty_per_mistake: true   # optional; see Rubric.one_penalty_per_mistake
    language: es                    # optional (default en); what students read: feedback, reports, skeletons, notebook
    defaults: {...}       # optional sections of settings (SECTIONS): each setting, its default, what it must
    training: {...}       # be and what it does are declared once, in CheckDefaults, TrainingSettings,
    sandbox: {...}        # SandboxLimits, StyleSettings and SimilaritySettings below (``settings_table()``
    style: {...}          # writes the README's table of them)
    similarity: {...}
    checks:               # every registered check id, and only those
      part1.basic_block.shapes: {points: 2}
      part1.basic_block.numerics:
        points: 3
        visibility: hidden                           # visible | hidden | after_due_date
        timeout_s: 30
        tolerance: {float32: {atol: 1.0e-5}}         # merged over the rubric-wide float32 entry
    manual:               # optional; graded by hand
      report: {points: 30, description: "Analysis report"}
      demo: {points: 10, description: "Live demo"}
      bonus: {points: 5, description: "Extensions beyond the requirements", bonus: true}

Rules: ``total``, ``code_points``, ``tolerances`` and ``checks`` are required; no other keys
than those shown are accepted at any level. Points (style's may be 0), totals and timeouts are positive numbers
(``true`` is not a number); tolerances are non-negative. Write exponents with a dot
(``1.0e-4``): YAML 1.1, which PyYAML follows, reads ``1e-4`` as a string. Check points add up
to ``code_points`` with the style report's; ``code_points`` plus the non-bonus manual points add up to ``total``
(compared to within 1e-9).
"""
from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

VISIBLE = "visible"
VISIBILITIES = (VISIBLE, "hidden", "after_due_date")
"""Gradescope's visibility values a check may take."""
LANGUAGES = ("en", "es")
"""Languages the kit's student-facing text is written in (``autograder/locale``)."""
DTYPES = ("float32", "float64")
"""Dtype names a tolerance may be given for."""
EPS = 1e-9
"""Slack when comparing point sums, and a score with full marks."""

TOP_KEYS = ("total", "code_points", "defaults", "tolerances", "forbidden", "training", "sandbox", "language",
            "one_penalty_per_mistake", "style", "similarity", "checks", "manual")
REQUIRED_TOP_KEYS = ("total", "code_points", "tolerances", "checks")
CHECK_KEYS = ("points", "visibility", "timeout_s", "tolerance")
MANUAL_KEYS = ("points", "description", "bonus")
TOLERANCE_KEYS = ("atol", "rtol")
DOTTED_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


class RubricError(ValueError):
    """The rubric file is missing, unreadable or invalid; the message names the file and key."""


# -- the sections: each declared once, with its defaults, its rules and its descriptions -----------


@dataclass(frozen=True)
class Kind:
    """What a setting must be: ``means`` as an error message says it, ``valid`` tests a YAML value."""

    means: str
    valid: Callable[[Any], bool]


def _finite(value: Any) -> float | None:
    """``value`` as a finite float, or None for bools, strings, NaN, infinities and the like."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _number_that(test: Callable[[float], bool]) -> Callable[[Any], bool]:
    """A YAML value that is a finite number (not a bool, a string or NaN) passing ``test``."""
    return lambda value: (number := _finite(value)) is not None and test(number)


POSITIVE_INT = Kind("a positive integer", lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0)
POSITIVE = Kind("a positive number", _number_that(lambda n: n > 0.0))
NON_NEGATIVE = Kind("a non-negative number", _number_that(lambda n: n >= 0.0))
FRACTION = Kind("a number from 0 to 1", _number_that(lambda n: 0.0 <= n <= 1.0))
VISIBILITY = Kind(f"one of {', '.join(VISIBILITIES)}", lambda v: isinstance(v, str) and v in VISIBILITIES)


def _checked(kind: Kind, value: Any, where: str) -> Any:
    """``value``, when it is of ``kind``; else a RubricError naming ``where``."""
    if not kind.valid(value):
        raise RubricError(f"{where} must be {kind.means}, got {_show(value)}")
    return value


def setting(default: Any, kind: Kind, description: str) -> Any:
    """A field of a section: its default, what it must be, and what it does (the README's table)."""
    return field(default=default, metadata={"kind": kind, "description": description})


@dataclass(frozen=True)
class CheckDefaults:
    """``defaults``: what a check takes when ``checks`` does not say."""

    timeout_s: float = setting(60.0, POSITIVE, "Seconds the worker may spend answering one check.")
    visibility: str = setting("visible", VISIBILITY,
                              "Gradescope visibility: visible, hidden, or after_due_date (graded after the due date).")


@dataclass(frozen=True)
class TrainingSettings:
    """``training``: the training smoke tests train, stop on a validation split, and are scored on a
    held-out test split. The result depends on the code alone, never on the machine's speed: the run
    stops when the validation accuracy reaches ``target_accuracy`` or after ``max_steps``, both
    counted in steps; the CPU budget only stops runaway code."""

    max_steps: int = setting(400, POSITIVE_INT, "Most training steps (batches of 64).")
    min_accuracy: float = setting(0.8, FRACTION, "Accuracy the held-out test split must reach for full marks "
                                                 "(the loss must fall too).")
    target_accuracy: float = setting(0.9, FRACTION, "Validation accuracy at which training stops early; not below "
                                                    "min_accuracy.")
    validate_every: int = setting(25, POSITIVE_INT, "Steps between two validations.")
    cpu_budget_s: float = setting(60.0, POSITIVE, "CPU seconds the training may take in the worker before it counts "
                                                  "as runaway code (the reference needs a few).")

    def __post_init__(self) -> None:
        if self.target_accuracy < self.min_accuracy:
            raise RubricError(f"training: target_accuracy ({self.target_accuracy:g}) must not be below "
                              f"min_accuracy ({self.min_accuracy:g})")


@dataclass(frozen=True)
class SandboxLimits:
    """``sandbox``: the resource limits of each worker running a submission
    (``autograder.engine.sandbox.Limits`` enforces them)."""

    memory_mb: int = setting(4096, POSITIVE_INT, "Data segment and anonymous memory (RLIMIT_DATA), on the CPU only. "
                                                 "A full grade peaks near 1.5 GB.")
    cpu_time_s: int = setting(1800, POSITIVE_INT, "CPU seconds of the whole worker, all threads (SIGXCPU, then "
                                                  "SIGKILL 5 s later).")
    file_size_mb: int = setting(64, POSITIVE_INT, "Largest file the worker may write.")
    processes: int = setting(256, POSITIVE_INT, "Processes and threads in the worker's namespace (not set without "
                                                "namespaces).")


@dataclass(frozen=True)
class StyleSettings:
    """``style``: the clean-code report (``autograder.style``: docstring coverage and ruff findings)."""

    points: float = setting(0.0, NON_NEGATIVE, "Points of the clean-code report, counted in code_points; 0 makes it "
                                               "a report for the teaching assistant only.")


@dataclass(frozen=True)
class SimilaritySettings:
    """``similarity``: the instructors' similarity report of a class's code (``python -m autograder
    similarity``, ``autograder.tools.similarity``): copydetect's winnowed fingerprints, as MOSS takes
    them, with the given code (skeletons, notebook template) left out. It grades nothing."""

    threshold: float = setting(0.5, FRACTION, "A pair is flagged when the larger of its two similarities (the share "
                                              "of a submission's own code found in the other) reaches this.")
    noise_threshold: int = setting(25, POSITIVE_INT, "Shortest match that counts, in characters of the normalised code "
                                                     "(names become V, strings S; spaces and comments dropped).")
    guarantee_threshold: int = setting(25, POSITIVE_INT, "Matches this long are always found; not below "
                                                         "noise_threshold. Larger is faster (fewer fingerprints kept), "
                                                         "but scores may then vary slightly between runs.")

    def __post_init__(self) -> None:
        if self.guarantee_threshold < self.noise_threshold:
            raise RubricError(f"similarity: guarantee_threshold ({self.guarantee_threshold}) must not be below "
                              f"noise_threshold ({self.noise_threshold})")


SECTIONS: dict[str, type] = {"defaults": CheckDefaults, "training": TrainingSettings, "sandbox": SandboxLimits,
                             "style": StyleSettings, "similarity": SimilaritySettings}
"""grading.yml's sections of settings, by key."""


def read_section(cls: type, value: Any, where: str):
    """``value`` (a YAML mapping) as the section ``cls``: unknown keys, values of the wrong kind and
    broken cross-field rules raise RubricError naming ``where`` and the key; absent keys take the defaults."""
    given = _mapping(value, where)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    _only_keys(given, tuple(fields), where)
    converted = {}
    for key, raw in given.items():
        _checked(fields[key].metadata["kind"], raw, f"{where}: {key}")
        converted[key] = float(raw) if fields[key].type in ("float", float) else raw
    return cls(**converted)


def settings_table() -> str:
    """The sections' settings as a Markdown table (the README's), from their declarations."""
    rows = ["| setting | default | must be | what it does |", "|---|---|---|---|"]
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            default = f.default if not isinstance(f.default, float) or not f.default.is_integer() else int(f.default)
            kind, description = f.metadata["kind"].means, f.metadata["description"]
            rows.append(f"| `{section}.{f.name}` | `{default}` | {kind} | {description} |")
    return "\n".join(rows) + "\n"


@dataclass(frozen=True)
class Tolerance:
    """How close a float tensor must be to the reference (as in ``torch.testing.assert_close``)."""

    atol: float
    """Absolute tolerance."""
    rtol: float
    """Relative tolerance."""


@dataclass(frozen=True)
class CheckRule:
    """How one automatic check is scored."""

    points: float
    """Points for passing the check."""
    visibility: str
    """Gradescope visibility: ``visible``, ``hidden`` or ``after_due_date``."""
    timeout_s: float
    """Seconds the worker may spend answering this check."""
    tolerance: dict[str, Tolerance]
    """Dtype name (``float32``, ``float64``) -> tolerance; the rubric-wide ones unless overridden."""


@dataclass(frozen=True)
class ManualItem:
    """A part of the grade given by hand (report, demo)."""

    points: float
    """Points available for the item."""
    description: str
    """What is graded, as shown to graders."""
    bonus: bool
    """True when the points come on top of ``total``."""


@dataclass(frozen=True)
class Rubric:
    """The validated contents of ``grading.yml``."""

    total: float
    """Points of the whole lab, bonus excluded."""
    code_points: float
    """Points of the automatic checks together."""
    checks: dict[str, CheckRule]
    """Check id -> scoring rule, in file order; exactly the registered checks."""
    manual: dict[str, ManualItem]
    """Manual item id -> item, in file order."""
    tolerances: dict[str, Tolerance]
    """Rubric-wide tolerance per dtype name."""
    forbidden: tuple[str, ...]
    """Dotted names (modules, classes) a submission must not use."""
    training: TrainingSettings = TrainingSettings()
    """Settings of the training smoke tests."""
    sandbox: SandboxLimits = SandboxLimits()
    """Resource limits of a worker."""
    style: StyleSettings = StyleSettings()
    """The clean-code report's points."""
    defaults: CheckDefaults = CheckDefaults()
    """What a check takes when ``checks`` does not say (a check the rubric does not list, too)."""
    one_penalty_per_mistake: bool = True
    """Judge a component that uses a failing one (an encoder block and its MultiHeadAttention)
    against the reference with the same known mistake, so that the mistake costs points once;
    false: every check that the mistake reaches loses its points (its feedback still names the
    root cause first)."""
    language: str = "en"
    """The language students read (``autograder.i18n.LANGUAGES``): feedback, reports, the released
    skeletons' comments, notebook and README."""
    similarity: SimilaritySettings = SimilaritySettings()
    """The instructors' similarity report: when a pair is flagged, how matches are fingerprinted."""

    def visible(self) -> Rubric:
        """This rubric with only the checks students see before the due date (``visibility: visible``)."""
        return dataclasses.replace(self, checks={k: r for k, r in self.checks.items() if r.visibility == VISIBLE})


def whole(points: float) -> int | float:
    """Points as a rubric writes them: 4.0 -> 4, 2.5 stays 2.5."""
    return int(points) if float(points).is_integer() else points


def load_rubric(path: str | Path, known_checks: Collection[str]) -> Rubric:
    """Read and validate the rubric at ``path`` against the registered check ids ``known_checks``."""
    if isinstance(known_checks, str):
        raise TypeError("known_checks must be a collection of check ids, not one string")
    path = Path(path)
    data = _read_yaml(path)
    try:
        return _build(data, known_checks)
    except RubricError as e:
        raise RubricError(f"{path}: {e}") from None


# -- reading -----------------------------------------------------------------------------------


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RubricError(f"{path}: rubric file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise RubricError(f"{path}: cannot read the rubric: {e}") from None
    try:
        _refuse_duplicate_keys(yaml.compose(text, Loader=yaml.SafeLoader))
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = " ".join(part for part in (e.context, e.problem) if part)
        raise RubricError(f"{where}: YAML syntax error: {problem}") from None
    except yaml.YAMLError as e:
        raise RubricError(f"{path}: YAML error: {e}") from None


def _refuse_duplicate_keys(root: yaml.Node | None) -> None:
    """Raise on a mapping that repeats a scalar key (PyYAML would keep the last silently)."""
    stack, seen_nodes = [root], set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[tuple[str, str], int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    line = first.setdefault((key.tag, key.value), key.start_mark.line)
                    if line != key.start_mark.line:
                        raise yaml.MarkedYAMLError(
                            problem=f"duplicate key {key.value!r} (first given on line {line + 1})",
                            problem_mark=key.start_mark,
                        )
                stack += [key, value]
        elif isinstance(node, yaml.SequenceNode):
            stack += node.value


# -- validation --------------------------------------------------------------------------------


def _build(data: Any, known_checks: Collection[str]) -> Rubric:
    if data is None:
        raise RubricError("the file is empty; expected a mapping with total, code_points, tolerances, checks")
    top = _mapping(data, "the top level")
    _only_keys(top, TOP_KEYS, "the top level")
    missing = [key for key in REQUIRED_TOP_KEYS if key not in top]
    if missing:
        raise RubricError(f"missing required top-level key(s): {', '.join(missing)}")

    total = _positive(top["total"], "total")
    code_points = _positive(top["code_points"], "code_points")
    defaults = read_section(CheckDefaults, top.get("defaults", {}), "defaults")
    tolerances = _tolerances(top["tolerances"])
    forbidden = _forbidden(top.get("forbidden", []))
    training = read_section(TrainingSettings, top.get("training", {}), "training")
    sandbox = read_section(SandboxLimits, top.get("sandbox", {}), "sandbox")
    style = read_section(StyleSettings, top.get("style", {}), "style")
    similarity = read_section(SimilaritySettings, top.get("similarity", {}), "similarity")
    language = top.get("language", "en")
    if language not in LANGUAGES:
        raise RubricError(f"language must be one of {', '.join(LANGUAGES)}, got {_show(language)}")
    one_penalty = top.get("one_penalty_per_mistake", True)
    if not isinstance(one_penalty, bool):
        raise RubricError(f"one_penalty_per_mistake must be true or false, got {_show(one_penalty)}")
    checks = {
        check_id: _check(spec, f"check {check_id!r}", defaults, tolerances)
        for check_id, spec in _mapping(top["checks"], "checks").items()
    }
    manual = {
        item_id: _manual(spec, f"manual item {item_id!r}")
        for item_id, spec in _mapping(top.get("manual", {}), "manual").items()
    }

    both = sorted(set(checks) & set(manual))
    if both:
        raise RubricError(f"id(s) under both checks and manual: {', '.join(both)}")
    known = set(known_checks)
    unknown = sorted(set(checks) - known)
    if unknown:
        raise RubricError(f"unknown check id(s): {', '.join(unknown)}")
    unscored = sorted(known - set(checks))
    if unscored:
        raise RubricError(f"check(s) without points: {', '.join(unscored)}")

    check_sum = math.fsum([rule.points for rule in checks.values()] + [style.points])
    if not math.isclose(check_sum, code_points, rel_tol=EPS, abs_tol=EPS):
        with_style = " and the style report" if style.points else ""
        raise RubricError(
            f"the points of the checks{with_style} add up to {_num(check_sum)}, but code_points is {_num(code_points)}"
        )
    manual_sum = math.fsum(item.points for item in manual.values() if not item.bonus)
    if not math.isclose(code_points + manual_sum, total, rel_tol=EPS, abs_tol=EPS):
        raise RubricError(
            f"code_points ({_num(code_points)}) + non-bonus manual points ({_num(manual_sum)}) "
            f"= {_num(code_points + manual_sum)}, but total is {_num(total)}"
        )
    return Rubric(total, code_points, checks, manual, tolerances, forbidden, training, sandbox, style, defaults,
                  one_penalty, language, similarity=similarity)


def _tolerances(value: Any) -> dict[str, Tolerance]:
    given = _mapping(value, "tolerances")
    _only_keys(given, DTYPES, "tolerances")
    missing = [dtype for dtype in DTYPES if dtype not in given]
    if missing:
        raise RubricError(f"tolerances: missing dtype(s): {', '.join(missing)}")
    result = {}
    for dtype in DTYPES:
        where = f"tolerances: {dtype}"
        fields = _mapping(given[dtype], where)
        _only_keys(fields, TOLERANCE_KEYS, where)
        absent = [key for key in TOLERANCE_KEYS if key not in fields]
        if absent:
            raise RubricError(f"{where}: missing {', '.join(absent)}")
        result[dtype] = Tolerance(**{key: _non_negative(fields[key], f"{where}.{key}") for key in TOLERANCE_KEYS})
    return result


def _check(spec: Any, where: str, defaults: CheckDefaults, tolerances: dict[str, Tolerance]) -> CheckRule:
    fields = _mapping(spec, where)
    _only_keys(fields, CHECK_KEYS, where)
    if "points" not in fields:
        raise RubricError(f"{where}: missing points")
    overrides = _mapping(fields.get("tolerance", {}), f"{where}: tolerance")
    _only_keys(overrides, DTYPES, f"{where}: tolerance")
    tolerance = dict(tolerances)
    for dtype, override in overrides.items():
        at = f"{where}: tolerance.{dtype}"
        override = _mapping(override, at)
        _only_keys(override, TOLERANCE_KEYS, at)
        if not override:
            raise RubricError(f"{at}: give atol and/or rtol")
        base = tolerances[dtype]
        tolerance[dtype] = Tolerance(
            atol=_non_negative(override["atol"], f"{at}.atol") if "atol" in override else base.atol,
            rtol=_non_negative(override["rtol"], f"{at}.rtol") if "rtol" in override else base.rtol,
        )
    return CheckRule(
        points=_positive(fields["points"], f"{where}: points"),
        visibility=_checked(VISIBILITY, fields.get("visibility", defaults.visibility), f"{where}: visibility"),
        timeout_s=_positive(fields.get("timeout_s", defaults.timeout_s), f"{where}: timeout_s"),
        tolerance=tolerance,
    )


def _manual(spec: Any, where: str) -> ManualItem:
    fields = _mapping(spec, where)
    _only_keys(fields, MANUAL_KEYS, where)
    for key in ("points", "description"):
        if key not in fields:
            raise RubricError(f"{where}: missing {key}")
    description = fields["description"]
    if not isinstance(description, str) or not description.strip():
        raise RubricError(f"{where}: description must be a non-empty string, got {_show(description)}")
    bonus = fields.get("bonus", False)
    if not isinstance(bonus, bool):
        raise RubricError(f"{where}: bonus must be true or false, got {_show(bonus)}")
    return ManualItem(points=_positive(fields["points"], f"{where}: points"), description=description, bonus=bonus)


def _forbidden(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise RubricError(f"forbidden must be a list of dotted names, got {_show(value)}")
    for name in value:
        if not isinstance(name, str) or not DOTTED_NAME.fullmatch(name):
            raise RubricError(f"forbidden: {_show(name)} is not a dotted name like torch.nn.Transformer")
    return tuple(value)


# -- small helpers -----------------------------------------------------------------------------


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise RubricError(f"{where} must be a mapping, got {_show(value)}")
    bad = [key for key in value if not isinstance(key, str)]
    if bad:
        raise RubricError(f"{where}: keys must be strings, got {', '.join(_show(key) for key in bad)}")
    return dict(value)


def _only_keys(mapping: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = [key for key in mapping if key not in allowed]
    if unknown:
        raise RubricError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))} (allowed: {', '.join(allowed)})"
        )


def _positive(value: Any, where: str) -> float:
    return float(_checked(POSITIVE, value, where))


def _non_negative(value: Any, where: str) -> float:
    return float(_checked(NON_NEGATIVE, value, where))


def _show(value: Any) -> str:
    """``value`` for an error message, with a hint for YAML 1.1's string exponents."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return repr(value)
        return f"{value!r} (a string: write exponents with a dot, e.g. 1.0e-4, for YAML to read a number)"
    if value is None or isinstance(value, bool):
        return {None: "nothing (null)", True: "true (a boolean)", False: "false (a boolean)"}[value]
    if isinstance(value, (int, float)):
        return repr(value)
    return f"a {type(value).__name__}"


def _num(x: float) -> str:
    return format(x, ".10g")
