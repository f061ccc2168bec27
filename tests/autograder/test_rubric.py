"""grading.yml is loaded into typed rules, and every kind of mistake in it is refused with a clear error."""
from __future__ import annotations

import copy
import math
import re

import pytest
import yaml

from autograder.rubric import CheckRule, ManualItem, Rubric, RubricError, Tolerance, TrainingSettings, load_rubric

KNOWN = ("part1.basic_block.shapes", "part1.basic_block.numerics", "part2.se.numerics")

EXAMPLE = """\
total: 100            # points of the whole lab, bonus excluded
code_points: 60       # the automatic checks must add up to this
defaults: {timeout_s: 45, visibility: after_due_date}
tolerances: {float32: {atol: 1.0e-4, rtol: 1.0e-3}, float64: {atol: 1.0e-9, rtol: 1.0e-7}}
forbidden: [torchvision.models, timm, torch.nn.MultiheadAttention, torch.nn.Transformer]
training: {max_steps: 300, min_accuracy: 0.8, target_accuracy: 0.95, cpu_budget_s: 120}
checks:
  part1.basic_block.shapes: {points: 20}
  part1.basic_block.numerics: {points: 30, visibility: hidden, tolerance: {float32: {atol: 1.0e-5}}}
  part2.se.numerics: {points: 10, timeout_s: 5, tolerance: {float64: {rtol: 0}}}
manual:
  report: {points: 30, description: "Analysis report"}
  demo: {points: 10, description: "Live demo"}
  bonus: {points: 5, description: "Extensions beyond the requirements", bonus: true}
"""

VALID = yaml.safe_load(EXAMPLE)


def write(tmp_path, data, name="grading.yml"):
    """Write ``data`` (a structure, or raw text) as the rubric file and return its path."""
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def load(tmp_path, data, known=KNOWN):
    return load_rubric(write(tmp_path, data), known)


def changed(edit):
    """A deep copy of the valid rubric with ``edit`` applied to it."""
    data = copy.deepcopy(VALID)
    edit(data)
    return data


def test_example_loads_with_defaults_and_merged_tolerances(tmp_path):
    rubric = load(tmp_path, EXAMPLE)
    assert isinstance(rubric, Rubric)
    assert (rubric.total, rubric.code_points) == (100, 60)
    assert list(rubric.checks) == list(KNOWN)  # file order
    wide = {"float32": Tolerance(1e-4, 1e-3), "float64": Tolerance(1e-9, 1e-7)}
    assert rubric.tolerances == wide
    assert rubric.checks["part1.basic_block.shapes"] == CheckRule(20, "after_due_date", 45, wide)
    # a partial override keeps the rubric-wide value of the field it does not name
    numerics = rubric.checks["part1.basic_block.numerics"]
    assert numerics == CheckRule(30, "hidden", 45, {"float32": Tolerance(1e-5, 1e-3), "float64": wide["float64"]})
    se = rubric.checks["part2.se.numerics"]
    assert (se.timeout_s, se.visibility) == (5, "after_due_date")
    assert se.tolerance == {"float32": wide["float32"], "float64": Tolerance(1e-9, 0.0)}
    assert rubric.manual == {
        "report": ManualItem(30, "Analysis report", False),
        "demo": ManualItem(10, "Live demo", False),
        "bonus": ManualItem(5, "Extensions beyond the requirements", True),
    }
    assert rubric.forbidden == ("torchvision.models", "timm", "torch.nn.MultiheadAttention", "torch.nn.Transformer")
    assert rubric.training == TrainingSettings(max_steps=300, min_accuracy=0.8, target_accuracy=0.95,
                                               cpu_budget_s=120.0)
    assert rubric.training.validate_every == TrainingSettings().validate_every  # the default of what is left out
    assert all(isinstance(rule.points, float) for rule in rubric.checks.values())


def test_optional_sections_and_builtin_defaults(tmp_path):
    data = {
        "total": 5,
        "code_points": 5,
        "tolerances": VALID["tolerances"],
        "checks": {"a.x": {"points": 2}, "a.y": {"points": 3}},
    }
    rubric = load(tmp_path, data, known={"a.x", "a.y"})
    assert rubric.manual == {} and rubric.forbidden == () and rubric.training == TrainingSettings()
    assert rubric.checks["a.x"].visibility == "visible" and rubric.checks["a.x"].timeout_s == 60


def test_point_sums_tolerate_float_rounding(tmp_path):
    """0.1 + 0.2 != 0.3 in floats, yet the rubric adds up."""
    data = changed(lambda d: d.update(total=40.3, code_points=0.3))
    for check_id, points in zip(KNOWN, (0.1, 0.1, 0.1)):
        data["checks"][check_id]["points"] = points
    assert math.isclose(load(tmp_path, data).code_points, 0.3)


def test_missing_file(tmp_path):
    with pytest.raises(RubricError, match=r"nope\.yml: rubric file not found"):
        load_rubric(tmp_path / "nope.yml", KNOWN)


def test_yaml_syntax_error_names_the_line(tmp_path):
    text = "total: 100\ncode_points: 60\nchecks: {part1.x: {points: 2}\nmanual: {}\n"
    with pytest.raises(RubricError, match=r"grading\.yml:4: YAML syntax error"):
        load(tmp_path, text)


def test_duplicate_yaml_keys_are_refused(tmp_path):
    """PyYAML keeps the last of two equal keys; a rubric must not silently lose a line."""
    lines = EXAMPLE.splitlines(keepends=True)
    lines.insert(9, "  part1.basic_block.shapes: {points: 1}\n")  # line 10 repeats line 8
    pattern = r"grading\.yml:10: YAML syntax error: duplicate key 'part1.basic_block.shapes' \(first given on line 8\)"
    with pytest.raises(RubricError, match=pattern):
        load(tmp_path, "".join(lines))


def test_yaml_merge_keys_are_not_duplicates(tmp_path):
    text = EXAMPLE.replace(
        "  part1.basic_block.shapes: {points: 20}",
        "  part1.basic_block.shapes: &base {points: 20, visibility: hidden}",
    ).replace("  part2.se.numerics: {points: 10,", "  part2.se.numerics: {<<: *base, points: 10,")
    assert load(tmp_path, text).checks["part2.se.numerics"].visibility == "hidden"


@pytest.mark.parametrize("text, seen", [("", "empty"), ("- 1\n- 2\n", "got a list"), ("42\n", "got 42")])
def test_top_level_must_be_a_mapping(tmp_path, text, seen):
    with pytest.raises(RubricError, match=f"grading.yml: .*{seen}"):
        load(tmp_path, text)


def test_yaml_is_never_executed(tmp_path):
    text = "total: !!python/object/apply:os.system ['echo pwned']\n"
    with pytest.raises(RubricError, match="YAML syntax error: .*could not determine a constructor"):
        load(tmp_path, text)


# Each case: (edit applied to the valid rubric, pattern the error message must match).
INVALID = {
    "unknown top-level key": (
        lambda d: d.update(chekcs={}),
        r"the top level: unknown key\(s\) 'chekcs'",
    ),
    "missing required key": (lambda d: d.pop("tolerances"), r"missing required top-level key\(s\): tolerances"),
    "unknown key in a check": (
        lambda d: d["checks"]["part1.basic_block.shapes"].update(point=1),
        r"check 'part1.basic_block.shapes': unknown key\(s\) 'point'",
    ),
    "unknown key in a manual item": (
        lambda d: d["manual"]["demo"].update(hidden=True),
        r"manual item 'demo': unknown key\(s\) 'hidden'",
    ),
    "unknown key in a rubric-wide tolerance": (
        lambda d: d["tolerances"]["float32"].update(eps=1),
        r"tolerances: float32: unknown key\(s\) 'eps'",
    ),
    "unknown key in a check's tolerance": (
        lambda d: d["checks"]["part1.basic_block.numerics"]["tolerance"]["float32"].update(atl=1),
        r"check 'part1.basic_block.numerics': tolerance.float32: unknown key\(s\) 'atl'",
    ),
    "unknown dtype in a check's tolerance": (
        lambda d: d["checks"]["part1.basic_block.numerics"]["tolerance"].update(float16={"atol": 1.0}),
        r"check 'part1.basic_block.numerics': tolerance: unknown key\(s\) 'float16'",
    ),
    "unknown key in defaults": (lambda d: d["defaults"].update(points=1), r"defaults: unknown key\(s\) 'points'"),
    "unknown training setting": (lambda d: d["training"].update(lr=0.1), r"training: unknown key\(s\) 'lr'"),
    "bad training setting": (
        lambda d: d["training"].update(max_steps=2.5),
        r"training: max_steps must be a positive integer, got 2.5",
    ),
    "training target below the accuracy to reach": (
        lambda d: d["training"].update(target_accuracy=0.5),
        r"training: target_accuracy \(0.5\) must not be below min_accuracy \(0.8\)",
    ),
    "unknown check ids, sorted": (
        lambda d: d["checks"].update({k: {"points": 1} for k in ("part9.z", "part0.a", "p.m", "part5", "a.b")}),
        r"unknown check id\(s\): a.b, p.m, part0.a, part5, part9.z$",
    ),
    "known checks without points": (
        lambda d: [d["checks"].pop(k) for k in ("part2.se.numerics", "part1.basic_block.shapes")],
        r"check\(s\) without points: part1.basic_block.shapes, part2.se.numerics$",
    ),
    "check without a points key": (
        lambda d: d["checks"]["part2.se.numerics"].pop("points"),
        r"check 'part2.se.numerics': missing points",
    ),
    "check given as a bare number": (
        lambda d: d["checks"].update({"part2.se.numerics": 10}),
        r"check 'part2.se.numerics' must be a mapping, got 10",
    ),
    "zero points": (
        lambda d: d["checks"]["part1.basic_block.shapes"].update(points=0),
        r"check 'part1.basic_block.shapes': points must be a positive number, got 0",
    ),
    "negative points": (
        lambda d: d["checks"]["part1.basic_block.shapes"].update(points=-2),
        r"points must be a positive number, got -2",
    ),
    "bool points": (
        lambda d: d["checks"]["part1.basic_block.shapes"].update(points=True),
        r"check 'part1.basic_block.shapes': points must be a positive number, got true \(a boolean\)",
    ),
    "string points": (
        lambda d: d["checks"]["part1.basic_block.shapes"].update(points="2"),
        r"points must be a positive number, got '2'",
    ),
    "infinite points": (
        lambda d: d["checks"]["part1.basic_block.shapes"].update(points=math.inf),
        r"points must be a positive number, got inf",
    ),
    "manual points not positive": (
        lambda d: d["manual"]["bonus"].update(points=-5),
        r"manual item 'bonus': points must be a positive number, got -5",
    ),
    "manual item without description": (
        lambda d: d["manual"]["demo"].pop("description"),
        r"manual item 'demo': missing description",
    ),
    "manual bonus not a bool": (
        lambda d: d["manual"]["bonus"].update(bonus="yes please"),
        r"manual item 'bonus': bonus must be true or false",
    ),
    "total not a number": (lambda d: d.update(total=None), r"total must be a positive number, got nothing"),
    "code_points bool": (lambda d: d.update(code_points=False), r"code_points must be a positive number"),
    "bad visibility": (
        lambda d: d["checks"]["part1.basic_block.shapes"].update(visibility="secret"),
        r"check 'part1.basic_block.shapes': visibility must be one of visible, hidden, after_due_date, got 'secret'",
    ),
    "bad default visibility": (
        lambda d: d["defaults"].update(visibility="after_published"),
        r"defaults: visibility must be one of",
    ),
    "zero timeout": (
        lambda d: d["checks"]["part2.se.numerics"].update(timeout_s=0),
        r"check 'part2.se.numerics': timeout_s must be a positive number, got 0",
    ),
    "negative default timeout": (
        lambda d: d["defaults"].update(timeout_s=-1),
        r"defaults: timeout_s must be a positive number, got -1",
    ),
    "negative tolerance": (
        lambda d: d["tolerances"]["float64"].update(rtol=-1e-7),
        r"tolerances: float64.rtol must be a non-negative number, got -1e-07",
    ),
    "string exponent tolerance, with the YAML hint": (
        lambda d: d["checks"]["part1.basic_block.numerics"]["tolerance"]["float32"].update(atol="1e-5"),
        r"tolerance.float32.atol must be a non-negative number, got '1e-5' \(a string: write exponents with a dot",
    ),
    "missing rubric-wide dtype": (lambda d: d["tolerances"].pop("float64"), r"tolerances: missing dtype\(s\): float64"),
    "rubric-wide tolerance missing a field": (
        lambda d: d["tolerances"]["float32"].pop("rtol"),
        r"tolerances: float32: missing rtol",
    ),
    "check points do not add up": (
        lambda d: d["checks"]["part1.basic_block.shapes"].update(points=21),
        r"the points of the checks add up to 61, but code_points is 60",
    ),
    "total does not add up": (
        lambda d: d["manual"]["demo"].update(points=12.5),
        r"code_points \(60\) \+ non-bonus manual points \(42.5\) = 102.5, but total is 100",
    ),
    "same id in checks and manual": (
        lambda d: d["manual"].update({"part2.se.numerics": {"points": 1, "description": "x"}}),
        r"id\(s\) under both checks and manual: part2.se.numerics",
    ),
    "forbidden not a list": (lambda d: d.update(forbidden="timm"), r"forbidden must be a list of dotted names"),
    "forbidden entry not a dotted name": (
        lambda d: d["forbidden"].append("torch nn"),
        r"forbidden: 'torch nn' is not a dotted name",
    ),
    "non-string check id": (
        lambda d: d["checks"].update({3: {"points": 1}}),
        r"checks: keys must be strings, got 3",
    ),
}


@pytest.mark.parametrize("edit, message", INVALID.values(), ids=INVALID.keys())
def test_invalid_rubrics_are_refused(tmp_path, edit, message):
    path = write(tmp_path, changed(edit))
    with pytest.raises(RubricError) as caught:
        load_rubric(path, KNOWN)
    text = str(caught.value)
    assert text.startswith(f"{path}: "), text
    assert re.search(message, text), text


def test_the_bonus_is_not_part_of_the_total(tmp_path):
    """Counting the bonus into total is a mistake the sum check catches."""
    data = changed(lambda d: d.update(total=105))
    with pytest.raises(RubricError, match=r"= 100, but total is 105"):
        load(tmp_path, data)


def test_known_checks_must_not_be_a_string(tmp_path):
    with pytest.raises(TypeError):
        load_rubric(write(tmp_path, VALID), "part1.basic_block.shapes")


def test_every_setting_is_declared_once_with_its_rule_and_description():
    """The sections' settings are the dataclasses' fields: each with a kind and a description, a default
    its own rule accepts, and the README's table of them is the one written from the declarations."""
    import dataclasses

    from autograder import paths
    from autograder.rubric import SECTIONS, read_section, settings_table

    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            assert f.metadata["description"].strip(), f"{section}.{f.name} has no description"
            assert f.metadata["kind"].valid(f.default), f"{section}.{f.name}'s default breaks its own rule"
        assert read_section(cls, {}, section) == cls()
    readme = (paths.ROOT / "README.md").read_text(encoding="utf-8")
    indented = "".join("  " + line + "\n" for line in settings_table().splitlines())
    assert indented in readme, "README's table of settings is stale: paste rubric.settings_table() into it"


def test_the_bundled_rubric_writes_out_every_setting():
    """grading.yml shows each setting with its value, so an instructor sees every knob there."""
    import dataclasses

    import yaml

    from autograder import paths
    from autograder.rubric import SECTIONS

    data = yaml.safe_load((paths.ROOT / "grading.yml").read_text(encoding="utf-8"))
    for section, cls in SECTIONS.items():
        assert set(data[section]) == {f.name for f in dataclasses.fields(cls)}, section


@pytest.mark.parametrize("section, given, message", [
    ("training", {"max_steps": 2.5}, "training: max_steps must be a positive integer, got 2.5"),
    ("sandbox", {"memory_mb": True}, "sandbox: memory_mb must be a positive integer, got true (a boolean)"),
    ("style", {"points": -1}, "style: points must be a non-negative number, got -1"),
    ("defaults", {"visibility": "secret"}, "defaults: visibility must be one of visible, hidden, after_due_date"),
    ("training", {"min_accuracy": 0.9, "target_accuracy": 0.5}, "target_accuracy (0.5) must not be below"),
    ("sandbox", {"swap_mb": 1}, "sandbox: unknown key(s) 'swap_mb'"),
])
def test_a_wrong_setting_is_refused_by_name(section, given, message):
    from autograder.rubric import SECTIONS, RubricError, read_section

    with pytest.raises(RubricError) as error:
        read_section(SECTIONS[section], given, section)
    assert message in str(error.value)
