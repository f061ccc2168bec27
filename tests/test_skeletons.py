"""skeletons/ is generated from solutions/, stays in sync, and leaves every TODO unimplemented."""
from __future__ import annotations

import pytest
import torch

from autograder import paths
from autograder.tools.skeletons import FenceError, build_skeletons, drifted, strip_solutions, write_skeletons
from skeletons import attention, gradcam, profiler, resnet, vit

FENCED = '''def f(x):
    """Doc."""
    y = 1
    ### BEGIN SOLUTION
    return x + y
    ### END SOLUTION


class A:
    def __init__(self):
        ### BEGIN SOLUTION
        self.w = 2
        ### END SOLUTION
'''


def test_regions_become_indented_stubs():
    """A fenced region is replaced at its indentation by nbgrader's stub, constructors too."""
    text, regions = strip_solutions(FENCED)
    assert regions == 2
    assert "return x + y" not in text and "self.w = 2" not in text
    assert "    # YOUR CODE HERE\n    raise NotImplementedError()\n" in text
    assert "        # YOUR CODE HERE\n        raise NotImplementedError()\n" in text and "pass" not in text
    assert '    """Doc."""\n    y = 1\n' in text


@pytest.mark.parametrize(
    "source, message",
    [
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "x.py:2: BEGIN SOLUTION inside"),
        ("a = 1\n### END SOLUTION\n", "x.py:2: END SOLUTION without"),
        ("a = 1\n### BEGIN SOLUTION\nb = 2\n", "x.py:2: BEGIN SOLUTION is never closed"),
    ],
)
def test_broken_fences_name_the_line(source, message):
    """Unpaired markers are reported with file and line instead of producing a broken skeleton."""
    with pytest.raises(FenceError, match=message):
        strip_solutions(source, "x.py")


def test_skeletons_are_up_to_date():
    """skeletons/ equals what `python -m autograder skeletons` generates from solutions/."""
    assert drifted(paths.SOLUTIONS, paths.SKELETONS) == []


def test_drift_is_detected(tmp_path):
    """An edited, missing or extra skeleton file is reported."""
    out = tmp_path / "skeletons"
    write_skeletons(paths.SOLUTIONS, out)
    assert drifted(paths.SOLUTIONS, out) == []
    (out / "resnet.py").write_text("edited\n")
    (out / "vit.py").unlink()
    (out / "extra.py").write_text("")
    assert drifted(paths.SOLUTIONS, out) == ["extra.py (extra)", "resnet.py (differs)", "vit.py (missing)"]


def test_every_solution_file_has_student_work():
    """Each of the five lab files has regions to implement, and no skeleton keeps a marker."""
    built = {skeleton.name: skeleton for skeleton in build_skeletons(paths.SOLUTIONS)}
    for name in ("resnet.py", "attention.py", "vit.py", "gradcam.py", "profiler.py"):
        assert built[name].regions > 0, name
        assert "BEGIN SOLUTION" not in built[name].text
        assert built[name].text.count("# YOUR CODE HERE") == built[name].regions


IMAGES = torch.randn(2, 3, 32, 32)
TOKENS = torch.randn(2, 5, 16)

UNIMPLEMENTED = {
    "BasicBlock": lambda: resnet.BasicBlock(3, 3)(IMAGES),
    "BottleneckBlock": lambda: resnet.BottleneckBlock(3, 3)(IMAGES),
    "PreActBasicBlock": lambda: resnet.PreActBasicBlock(3, 3)(IMAGES),
    "PreActBottleneckBlock": lambda: resnet.PreActBottleneckBlock(3, 3)(IMAGES),
    "ResNet._make_layer": lambda: resnet.ResNet(resnet.BasicBlock, [1, 1, 1, 1])._make_layer(resnet.BasicBlock, 8, 1),
    "ResNet.forward": lambda: resnet.resnet18(num_classes=10, stem="cifar")(IMAGES),
    "SEModule": lambda: attention.SEModule(3, 1)(IMAGES),
    "ChannelAttention": lambda: attention.ChannelAttention(3, 1)(IMAGES),
    "SpatialAttention": lambda: attention.SpatialAttention()(IMAGES),
    "CBAM": lambda: attention.CBAM(3, 1)(IMAGES),
    "PatchEmbedding": lambda: vit.PatchEmbedding(32, 8, 3, 16)(IMAGES),
    "MultiHeadAttention": lambda: vit.MultiHeadAttention(16, 4)(TOKENS),
    "TransformerEncoderBlock": lambda: vit.TransformerEncoderBlock(16, 4)(TOKENS),
    "sinusoidal_position_table": lambda: vit.sinusoidal_position_table(5, 16),
    "VisionTransformer": lambda: vit.VisionTransformer(32, 8, 3, 10, 16, 1, 4)(IMAGES),
    "GradCAM": lambda: gradcam.GradCAM(torch.nn.Conv2d(3, 2, 1), torch.nn.Identity())(IMAGES),
    "ModelProfiler.measure_flops": lambda: profiler.ModelProfiler(torch.nn.Conv2d(3, 2, 1)).measure_flops((3, 8, 8)),
    "ModelProfiler.measure_memory": lambda: profiler.ModelProfiler(torch.nn.Conv2d(3, 2, 1)).measure_memory(
        1, (3, 8, 8)),
    "ModelProfiler.measure_latency": lambda: profiler.ModelProfiler(torch.nn.Conv2d(3, 2, 1)).measure_latency(IMAGES),
    "ModelProfiler.benchmark_training": lambda: profiler.ModelProfiler(torch.nn.Conv2d(3, 2, 1)).benchmark_training([]),
}


@pytest.mark.parametrize("name", sorted(UNIMPLEMENTED))
def test_skeleton_work_is_left_to_the_student(name):
    """Every student-facing callable of the skeletons raises NotImplementedError."""
    with pytest.raises(NotImplementedError):
        UNIMPLEMENTED[name]()


def test_skeletons_stub_every_region_as_the_released_notebook_does():
    """One convention, nbgrader's: every region, a constructor's too, is `raise NotImplementedError()`."""
    for skeleton in sorted(paths.SKELETONS.glob("[!_]*.py")):
        lines = [line.strip() for line in skeleton.read_text(encoding="utf-8").splitlines()]
        stubs = [lines[i + 1] for i, line in enumerate(lines) if line == "# YOUR CODE HERE"]
        assert stubs and set(stubs) == {"raise NotImplementedError()"}, skeleton.name
    with pytest.raises(NotImplementedError):
        resnet.BasicBlock(8, 8)
