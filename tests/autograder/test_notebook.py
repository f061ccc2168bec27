"""Notebook submissions: definitions are extracted, experiments are not run.

The generated modules are imported only in subprocesses: they are named ``resnet`` etc. and
would clash with each other (and with other tests) inside the pytest process.
"""
from __future__ import annotations

import ast
import importlib.util
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from autograder.engine.submission import NotebookError, extract
from autograder.runtime.worker import LAB_MODULES

REPO = Path(__file__).resolve().parents[2]


def md(text: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": text}


def code(text: str, lines: bool = False) -> dict:
    """A code cell; ``lines`` stores the source as a list of lines, as Jupyter saves it."""
    text = textwrap.dedent(text)
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
            "source": text.splitlines(True) if lines else text}


def write(tmp_path: Path, cells: list, **top) -> Path:
    data = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 4, **top}
    path = tmp_path / "lab.ipynb"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def run_in(folder: Path, script: str) -> dict:
    """Run ``script`` in a fresh interpreter with ``folder`` first on sys.path; the JSON it prints last."""
    prelude = f"import json, sys\nsys.path.insert(0, {str(folder)!r})\n"
    result = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(script)], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def kept_statements(folder: Path) -> list[str]:
    """Every statement the generated loader will run (unparsed), read without running it."""
    tree = ast.parse((folder / "_notebook.py").read_text(encoding="utf-8"))
    cells = next(ast.literal_eval(n.value) for n in tree.body
                 if isinstance(n, ast.Assign) and n.targets[0].id == "__cells__")
    return [ast.unparse(ast.parse(source).body[i]) for _, source, kept in cells for i in kept]


def test_definitions_are_kept_and_experiments_are_not_run(tmp_path):
    marker = tmp_path / "marker"
    path = write(tmp_path, [
        md("# Lab 3\nSome text."),
        code("""\
            import torch
            from torch import nn
            DEVICE = torch.device("cpu")
            CIFAR_MEAN = (0.49, 0.48, 0.44)
            """, lines=True),
        code("""\
            class Net(nn.Module):
                def __init__(self, width=4):
                    super().__init__()
                    self.fc = nn.Linear(width, 2)

            def helper(x):
                return x * 2
            """),
        code(f"open({str(marker)!r}, 'w').write('ran')\n"),
        code("model = Net()\nhistory = train(model)\nfor epoch in range(3):\n    train(model)\n", lines=True),
        code("raise SystemExit(3)\n"),
        code("while True:\n    pass\n"),
    ])
    folder = tmp_path / "submission"
    assert extract(path, folder) == []
    assert sorted(p.name for p in folder.glob("*.py")) == sorted(["_notebook.py"] + [f"{m}.py" for m in LAB_MODULES])
    result = run_in(folder, """\
        import torch, resnet, vit
        print(json.dumps({
            "net": resnet.Net.__name__, "same": resnet.Net is vit.Net, "helper": vit.helper(21),
            "device": str(resnet.DEVICE), "mean": list(vit.CIFAR_MEAN),
            "params": sum(p.numel() for p in resnet.Net().parameters()),
            "model": hasattr(resnet, "model") or hasattr(resnet, "history"),
            "source": resnet.__lab_source__, "errors": resnet.__notebook_errors__(),
            "dunders_copied": "__cells__" in vars(resnet) or "__load_cells__" in vars(resnet),
        }))
        """)
    assert result == {"net": "Net", "same": True, "helper": 42, "device": "cpu", "mean": [0.49, 0.48, 0.44],
                      "params": 10, "model": False, "source": "the notebook lab.ipynb", "errors": [],
                      "dunders_copied": False}
    assert not marker.exists()


def test_magics_and_shell_lines_are_neutralised(tmp_path):
    path = write(tmp_path, [
        code("%matplotlib inline\n!pip install surely-not-a-package\nfiles = !ls\nimport os\n", lines=True),
        code("%%time\nclass Timed:\n    pass\n"),
        code("%%writefile resnet.py\nclass Written:\n    pass\n", lines=True),
        code("%%bash\necho hi > marker\n"),
        code("%%writefile config.yaml\nlr: 0.1\n"),
        code("def indented():\n    %time x = 1\n    return 2\n"),
    ])
    folder = tmp_path / "submission"
    assert extract(path, folder) == []
    result = run_in(folder, """\
        import resnet
        print(json.dumps({"timed": hasattr(resnet, "Timed"), "written": hasattr(resnet, "Written"),
                          "indented": resnet.indented(), "files": hasattr(resnet, "files"),
                          "errors": resnet.__notebook_errors__()}))
        """)
    assert result == {"timed": True, "written": True, "indented": 2, "files": False, "errors": []}
    assert not (tmp_path / "marker").exists() and not (folder / "marker").exists()


def test_a_syntax_error_skips_only_its_cell(tmp_path):
    path = write(tmp_path, [
        md("intro"),
        code("class Good:\n    pass\n"),
        code("x = 1\ndef broken(:\n    pass\n"),
        code("def also_good():\n    return 1\n", lines=True),
    ])
    folder = tmp_path / "submission"
    notes = extract(path, folder)
    assert len(notes) == 1 and notes[0].startswith("cell 3: syntax error at line 2: ")
    assert notes[0].endswith("its definitions are not graded")
    result = run_in(folder, """\
        import attention
        print(json.dumps([hasattr(attention, "Good"), attention.also_good(), hasattr(attention, "x")]))
        """)
    assert result == [True, 1, False]


def test_a_failing_statement_is_recorded_and_loading_goes_on(tmp_path):
    path = write(tmp_path, [
        md("setup"),
        code("import os\nimport surely_not_installed_pkg\nclass After:\n    pass\n"),
        code("LIMIT = int('not a number')\ndef later():\n    return 'ok'\n"),
    ])
    folder = tmp_path / "submission"
    extract(path, folder)
    result = run_in(folder, """\
        import gradcam
        print(json.dumps([hasattr(gradcam, "After"), gradcam.later(), gradcam.__notebook_errors__()]))
        """)
    assert result == [True, "ok", [
        "cell 2, line 2: ModuleNotFoundError: No module named 'surely_not_installed_pkg'",
        "cell 3, line 1: ValueError: invalid literal for int() with base 10: 'not a number'",
    ]]


def test_tracebacks_point_into_the_cells(tmp_path):
    path = write(tmp_path, [
        md("# Lab"),
        code("import math\n"),
        code("""\
            # the helper

            def explode(n):
                value = n + 1
                raise RuntimeError(f"bad {value}")
            """, lines=True),
    ])
    folder = tmp_path / "submission"
    extract(path, folder)
    result = run_in(folder, f"""\
        import traceback
        from pathlib import Path
        from autograder.runtime.worker import WorkerState, student_location
        folder = Path({str(folder)!r}).resolve()
        try:
            WorkerState(folder, "cpu").module("profiler").explode(1)
        except RuntimeError as error:
            frame = traceback.extract_tb(error.__traceback__)[-1]
            where = student_location(error, folder)
        print(json.dumps([frame.filename, frame.lineno, frame.name, frame.line, where]))
        """)
    filename, lineno, name, line, where = result
    assert filename.endswith("notebook cell 3") and Path(filename).parent == folder.resolve()
    assert (lineno, name, line) == (5, "explode", 'raise RuntimeError(f"bad {value}")')
    assert where == 'notebook cell 3:5 in explode: raise RuntimeError(f"bad {value}")'


def test_lab_imports_are_skipped_and_future_imports_apply_to_every_cell(tmp_path):
    path = write(tmp_path, [
        code("from __future__ import annotations\n"),
        code("""\
            from resnet import Missing
            import vit
            from . import attention
            from attention.sub import thing

            def f(x: UndefinedName) -> AlsoUndefined:
                return x

            class C:
                y: NotDefined = 1
            """),
    ])
    folder = tmp_path / "submission"
    assert extract(path, folder) == []
    result = run_in(folder, """\
        import resnet
        print(json.dumps([resnet.f(3), resnet.f.__annotations__, resnet.C.y, hasattr(resnet, "vit"),
                          resnet.__notebook_errors__()]))
        """)
    assert result == [3, {"x": "UndefinedName", "return": "AlsoUndefined"}, 1, False, []]


def test_guarded_imports_and_constant_ifs_are_kept(tmp_path):
    path = write(tmp_path, [
        code("""\
            import os
            try:
                import surely_not_installed_pkg as wandb
            except ImportError:
                wandb = None
            if os.environ.get("SURELY_NOT_SET_VARIABLE"):
                D = "cuda"
            else:
                D = "cpu"
            if __name__ == "__main__":
                MAIN = 1
            if __name__ != "_notebook":
                OTHER = 1
            def g():
                return D
            """),
    ])
    folder = tmp_path / "submission"
    extract(path, folder)
    result = run_in(folder, """\
        import vit
        print(json.dumps([vit.wandb, vit.g(), hasattr(vit, "MAIN"), hasattr(vit, "OTHER"), vit.__notebook_errors__()]))
        """)
    assert result == [None, "cpu", False, False, []]


def test_which_statements_are_kept(tmp_path):
    kept = [
        "import torch",
        "from torch import nn as tnn",
        'DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")',
        "CIFAR_MEAN = (0.49, 0.48, 0.44)",
        "A, (B, *C) = 1, (2, 3, 4)",
        "X = Y = {'lr': 1e-3, **{}}",
        "SIZES: list[int] = [2 ** i for i in range(4) if i]",
        "ACT = lambda x: train(x)",
        "NAME = f'run-{CIFAR_MEAN[0]:.2f}'",
        "ROOT = Path(os.getenv('DATA', '.')) / 'data'",
        "Point = namedtuple('Point', 'x y')",
        "if torch.cuda.is_available():\n    D = 'cuda'\nelse:\n    D = 'cpu'",
        "try:\n    import wandb\nexcept ImportError:\n    wandb = None",
        "@dataclass\nclass Config:\n    lr: float = 0.1",
        "async def fetch():\n    return 1",
    ]
    dropped = [
        "model = ResNet18()",
        "history = train(model)",
        "loader = DataLoader(data, batch_size=64)",
        "SIZES = [train(i) for i in range(3)]",
        "NAME = f'{train()}'",
        "ACT = lambda x=train(): x",
        "model.fc = None",
        "weights[0] = 1",
        "EPOCHS += 1",
        "print(DEVICE)",
        "for i in range(3):\n    X = i",
        "with open('f') as f:\n    pass",
        "del CIFAR_MEAN",
        "if torch.cuda.is_available():\n    model = ResNet18()",
        "if train():\n    D = 1",
        "if __name__ == '__main__':\n    D = 1",
        "try:\n    run()\nexcept Exception:\n    pass",
        "import resnet",
        "from vit import ViT",
        "from . import gradcam",
        "N: int",
        "W = (x := 3)",
    ]
    path = write(tmp_path, [code("\n".join(kept + dropped) + "\n")])
    extract(path, tmp_path / "submission")
    assert kept_statements(tmp_path / "submission") == [ast.unparse(ast.parse(s)) for s in kept]


@pytest.mark.parametrize("content, message", [
    (b"{not json", "lab.ipynb is not valid JSON (line 1, column 2)"),
    (b'{"cells": [\n  1,\n', "lab.ipynb is not valid JSON (line 3, column 1)"),
    (b"\xff\xfe{}", "lab.ipynb is not UTF-8"),
    (b"[]", "lab.ipynb is not a Jupyter notebook: its JSON is a list"),
    (b'{"metadata": {}}', "lab.ipynb is not a Jupyter notebook: it has no list of cells"),
    (json.dumps({"nbformat": 3, "worksheets": [{"cells": []}]}).encode(),
     "lab.ipynb is an nbformat 3 notebook, which the grader does not read; open and save it in a current Jupyter"),
    (json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 4}).encode(),
     "lab.ipynb has no code cells"),
    (json.dumps({"cells": [md("# only text"), md("more")], "metadata": {}, "nbformat": 4,
                 "nbformat_minor": 4}).encode(), "lab.ipynb has no code cells"),
    (json.dumps({"cells": [md("x"), code("def f(:\n"), code("class (\n")], "metadata": {}, "nbformat": 4,
                 "nbformat_minor": 4}).encode(),
     "lab.ipynb has no class or function definitions the grader can use; cell 2: syntax error at line 1"),
    (json.dumps({"cells": [code("import torch\nmodel = build()\ntrain(model)\n")], "metadata": {}, "nbformat": 4,
                 "nbformat_minor": 4}).encode(), "lab.ipynb has no class or function definitions"),
], ids=["not-json", "truncated-json", "not-utf8", "json-list", "no-cells", "nbformat3", "empty", "only-markdown",
        "only-syntax-errors", "no-definitions"])
def test_notebooks_that_cannot_be_graded(tmp_path, content, message):
    path = tmp_path / "lab.ipynb"
    path.write_bytes(content)
    with pytest.raises(NotebookError, match="^" + re.escape(message)):
        extract(path, tmp_path / "submission")
    assert not (tmp_path / "submission").exists()


def test_a_missing_notebook_cannot_be_read(tmp_path):
    with pytest.raises(NotebookError, match="^lab.ipynb cannot be read"):
        extract(tmp_path / "lab.ipynb", tmp_path / "submission")


def test_a_malformed_notebook_is_still_read_with_notes(tmp_path):
    path = tmp_path / "lab.ipynb"
    cells = [{"cell_type": "code", "source": ["def f():\n", "    return 7\n"]}, 42, {"cell_type": "code"}]
    path.write_text(json.dumps({"cells": cells}), encoding="utf-8")  # no metadata, nbformat, outputs
    folder = tmp_path / "submission"
    notes = extract(path, folder)
    cell_notes = ["cell 2: not a notebook cell (no cell_type); skipped",
                  "cell 3: a code cell without readable source; skipped"]
    if importlib.util.find_spec("nbformat") is not None:
        assert len(notes) == 3 and notes[0].startswith("the notebook does not follow nbformat 4 (")
        assert notes[0].endswith("); its cells were read anyway") and notes[1:] == cell_notes
    else:
        assert notes == cell_notes
    assert run_in(folder, "import profiler\nprint(json.dumps(profiler.f()))") == 7
