"""Loading the lab's modules: the reference, a student's folder, a notebook."""
from __future__ import annotations

import shutil

import pytest
import torch

from autograder import paths
from experiments.lab import LAB_MODULES, LabNotFound, load_lab


def test_the_reference_a_folder_and_a_notebook_load_side_by_side(tmp_path):
    folder = tmp_path / "student"
    folder.mkdir()
    for name in LAB_MODULES:
        shutil.copyfile(paths.SOLUTIONS / f"{name}.py", folder / f"{name}.py")
    reference, student = load_lab("solutions"), load_lab(folder)
    notebook = load_lab(paths.ROOT / "notebooks" / "source" / "lab3" / "lab3.ipynb")
    assert reference.resnet.__name__ == "solutions.resnet" and student.resnet is not reference.resnet
    assert notebook.vit.VisionTransformer is not student.vit.VisionTransformer
    x = torch.randn(1, 3, 32, 32)
    for lab in (reference, student, notebook):
        torch.manual_seed(0)
        model = lab.resnet.resnet18(num_classes=10, stem="cifar").eval()
        assert model(x).shape == (1, 10)
    assert "resnet" not in __import__("sys").modules  # the student's files did not take the plain names


def test_a_missing_implementation_is_refused_with_the_reason(tmp_path):
    with pytest.raises(LabNotFound, match="expected 'solutions'"):
        load_lab(tmp_path / "nowhere")
    (tmp_path / "resnet.py").write_text("")
    with pytest.raises(LabNotFound, match="has no attention.py, vit.py"):
        load_lab(tmp_path)


def test_a_namespace_stands_for_every_module():
    import solutions.resnet
    from experiments.lab import lab_from_namespace

    lab = lab_from_namespace(vars(solutions.resnet))
    assert lab.vit.BasicBlock is solutions.resnet.BasicBlock and lab.source == "the notebook"
