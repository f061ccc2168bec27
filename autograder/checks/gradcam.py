"""Checks for gradcam.py (Part 2: attention maps), run on a plain torch CNN the grader provides.

The CNN's target layer is a stride-2 convolution in the middle of the network, whose gradients
vary over space: at the last layer before global pooling they would be constant and could not
tell the spatial mean of the gradients from any other pooling. Its weights are He-scaled and its
input large, so that every map has a healthy range before min-max scaling: an honest epsilon in
that scaling (``(cam - lo) / (hi - lo + eps)``, or the range clamped at eps) then moves a map by
at most eps / range, which the tolerance allows for eps up to ``EPSILON``.
"""
from __future__ import annotations

import torch
from torch import nn

from autograder.checks import golden, slides
from autograder.checks.common import Outcome, Provided, close, failed, max_error, passed, reference_attr
from autograder.checks.registry import Registry
from autograder.checks.robustness import Misuse, check_errors
from autograder.engine.remote import Session
from autograder.i18n import N_, _
from autograder.runtime.values import handle, ref, tensor

registry = Registry()

SLIDE = slides.GRADCAM
PROBE_CNN = Provided(["Sequential", [
    ["Conv2d", [3, 8, 3], {"padding": 1}], ["ReLU"],
    ["Conv2d", [8, 16, 3], {"stride": 2, "padding": 1}], ["ReLU"],
    ["Conv2d", [16, 16, 3], {"padding": 1}], ["ReLU"],
    ["AdaptiveAvgPool2d", [1]], ["Flatten"], ["Linear", [16, 5]],
]], seed=11, he_scaled=True)
TARGET_LAYER = "2"
"""Index of the stride-2 convolution in PROBE_CNN: (B, 16, H/2, W/2)."""
EPSILON = 1e-6
"""The largest epsilon an honest min-max scaling may add to (or clamp) the range of a map."""
TOLERANCE = 1e-4
"""Maps must match to this, plus 2 * EPSILON / (the map's range before scaling)."""


def probe_images(batch: int, seed: int) -> torch.Tensor:
    """(batch, 3, 16, 16) inputs, large enough for maps with a range far above EPSILON."""
    return 10 * torch.randn(batch, 3, 16, 16, generator=torch.Generator().manual_seed(seed))


def probe_model() -> nn.Module:
    """The probe CNN with its fixed weights, in eval mode (grader side)."""
    return PROBE_CNN.build().eval()


def _reference_maps(model: nn.Module, x: torch.Tensor, class_idx) -> torch.Tensor:
    with reference_attr("gradcam.GradCAM")(model, model[int(TARGET_LAYER)]) as cam:
        return cam(x, class_idx)


def _classes(model: nn.Module, x: torch.Tensor, class_idx) -> torch.Tensor:
    """The class explained in each image: (B,)."""
    return model(x).argmax(1) if class_idx is None else torch.as_tensor(class_idx).expand(x.shape[0])


def _alternative_maps(model: nn.Module, x: torch.Tensor, class_idx, key: str, scaled: bool = True) -> torch.Tensor:
    """Instructor-side (``autograder.checks.instructor.alternatives``): the maps with a known alternative;
    a student's copy replays them from golden/."""
    from autograder.checks.instructor.alternatives import gradcam_maps

    return gradcam_maps(model, int(TARGET_LAYER), x, _classes(model, x, class_idx), key, scaled)


def _map_ranges(model: nn.Module, x: torch.Tensor, class_idx) -> list[float]:
    """Each image's map range (max - min) before min-max scaling."""
    cam = _alternative_maps(model, x, class_idx, "mean", scaled=False)
    return (cam.amax(dim=(1, 2)) - cam.amin(dim=(1, 2))).tolist()


VARIANTS = {
    "max": N_("channel weights from the maximum of the gradients (Grad-CAM uses their spatial mean)"),
    "no-relu": N_("no ReLU on the weighted sum (Grad-CAM keeps only positive evidence)"),
    "align-corners": N_("upsampling with align_corners=True (the lab uses align_corners=False)"),
}


@registry.check("part2.gradcam.numerics", "gradcam", "GradCAM", SLIDE)
def gradcam_numerics(session: Session, rule) -> Outcome:
    """Maps equal the reference's for class_idx None, an int and one class per image."""
    model = probe_model()
    PROBE_CNN.install(session, "cnn")
    session.build("cam", ref("gradcam.GradCAM"), handle("cnn"), handle("cnn", TARGET_LAYER))
    x = probe_images(3, 12)
    problems, wrong = [], 0
    for class_idx in (None, 2, [4, 0, 1]):
        want = golden.reference(f"maps for class_idx={class_idx!r}", lambda: _reference_maps(model, x, class_idx))
        ranges = golden.reference(f"ranges before scaling for class_idx={class_idx!r}",
                                  lambda: _map_ranges(model, x, class_idx))
        alternatives = {key: golden.reference(f"maps with {key} for class_idx={class_idx!r}",
                                              lambda key=key: _alternative_maps(model, x, class_idx, key))
                        for key in VARIANTS}
        result = session.call(handle("cam"), {"x": x}, args=[tensor("x")], kwargs={"class_idx": class_idx},
                              model="cnn", mode="eval")
        got = result.outputs[0] if result.outputs else None
        label = f"GradCAM(model, layer)(x, class_idx={class_idx!r})"
        if got is None or got.shape != want.shape:
            wrong += 1
            problems.append(_("{call}: expected maps of shape (B, H, W) = {expected}, got {got}").format(
                call=label, expected=tuple(want.shape), got=None if got is None else tuple(got.shape)))
            continue
        if all(close(got[i], want[i], TOLERANCE + 2 * EPSILON / ranges[i], TOLERANCE) for i in range(len(want))):
            continue
        wrong += 1
        problems.append(_("{call}: maps differ from the reference's (max abs error {error})").format(
            call=label, error=f"{max_error(got, want):.3g}"))
        for key, text in VARIANTS.items():
            if close(got, alternatives[key], 1e-4, 1e-4):
                problems.append(_("your maps match a known alternative: {mistake}").format(mistake=_(text)))
    if problems:
        return Outcome((3 - wrong) / 3, "\n".join(problems))
    return passed(_("maps equal the reference's for class_idx None, an int and a list"))


def _parameter_gradients(session: Session, model: str) -> list[str]:
    """Names of the probe CNN's parameters whose ``.grad`` is set in the worker's ``model``."""
    names = [name for name, _parameter in probe_model().named_parameters()]  # not ``_``: that name translates
    return [name for name in names
            if session.call(handle(model, f"{name}.__getattribute__"), args=["grad"], mode=None).result is not None]


@registry.check("part2.gradcam.no_side_effects", "gradcam", "GradCAM", SLIDE)
def gradcam_side_effects(session: Session, rule) -> Outcome:
    """Explaining an image leaves the model's weights as they were and its parameters' gradients unset."""
    PROBE_CNN.install(session, "cnn2")
    session.build("cam2", ref("gradcam.GradCAM"), handle("cnn2"), handle("cnn2", TARGET_LAYER))
    x = probe_images(2, 13)
    first = session.call(handle("cam2"), {"x": x}, args=[tensor("x")], model="cnn2", mode="eval").outputs
    second = session.call(handle("cam2"), {"x": x}, args=[tensor("x")], model="cnn2", mode=None).outputs
    if not first or not second:
        return failed(_("{call} returned no tensor").format(call="GradCAM"))
    if not close(first[0], second[0], 1e-6, 1e-6):
        return failed(_("calling GradCAM twice on the same images gave different maps: does it change the model "
                        "(an optimizer step, a mode switch, weights edited in place)?"))
    touched = _parameter_gradients(session, "cnn2")
    if touched:
        return Outcome(0.5, _("GradCAM left gradients in the model's parameters ({names}); they should stay untouched: "
                              "take dy_c/dA with torch.autograd.grad(score, activations) or "
                              "score.backward(inputs=[activations]), "
                              "not model.zero_grad() and score.backward()").format(
            names=", ".join(touched[:4]) + (", ..." if len(touched) > 4 else "")))
    return passed(_("calling GradCAM twice gives the same maps and leaves the model's weights and gradients "
                    "untouched"))


def _explain(session: Session, x: torch.Tensor, class_idx, tensors: dict | None = None):
    """The submission's GradCAM (kept as ``cam`` on the probe ``cnn``) on ``x``."""
    return session.call(handle("cam"), {"x": x, **(tensors or {})}, args=[tensor("x")],
                        kwargs={"class_idx": class_idx}, model="cnn", mode="eval")


def _misuse(class_idx, names: tuple[str, ...]) -> Misuse:
    x = probe_images(3, 14)
    return Misuse(_("GradCAM(model, layer)(x of 3 images, class_idx={class_idx}) for a model of 5 classes").format(
                      class_idx=repr(class_idx)),
                  lambda session: _explain(session, x, class_idx), names)


def zero_dimensional_class(session: Session) -> str:
    """class_idx given as a 0-d tensor gives the maps of the same class given as an int (compared
    with the submission's own maps, so that a mistake in the maps costs points in the numerics
    check only)."""
    x = probe_images(3, 15)
    as_int = _explain(session, x, 2).outputs
    as_tensor = _explain(session, x, tensor("c"), {"c": torch.tensor(2)}).outputs
    if (not as_int or not as_tensor or as_int[0].shape != as_tensor[0].shape
            or not close(as_tensor[0], as_int[0], 1e-6, 1e-6)):
        return _("class_idx=torch.tensor(2) should give the same maps as class_idx=2")
    return ""


def one_non_square_image(session: Session) -> str:
    """One image, wider than tall: maps (1, 12, 20) in [0, 1]."""
    x = 10 * torch.randn(1, 3, 12, 20, generator=torch.Generator().manual_seed(16))
    outputs = _explain(session, x, 3).outputs
    got = outputs[0] if outputs else None
    if got is None or tuple(got.shape) != (1, 12, 20):
        return _("one 12x20 image: expected maps of shape {expected}, got {got}").format(
            expected=(1, 12, 20), got=None if got is None else tuple(got.shape))
    if not bool(torch.isfinite(got).all()) or float(got.min()) < 0 or float(got.max()) > 1:
        return _("one 12x20 image: the maps should be finite and lie in [0, 1]")
    return ""


@registry.check("part2.gradcam.errors", "gradcam", "GradCAM (arguments and edge cases)",
                SLIDE + "; " + slides.ERRORS)
def gradcam_errors(session: Session, rule) -> Outcome:
    """A class_idx out of range, or not one per image, raises a ValueError naming it; a 0-d
    tensor class_idx and one non-square image work."""
    PROBE_CNN.install(session, "cnn")
    session.build("cam", ref("gradcam.GradCAM"), handle("cnn"), handle("cnn", TARGET_LAYER))
    misuses = [_misuse(7, ("class_idx", "7")), _misuse(-1, ("class_idx", "-1")), _misuse([1, 2], ("class_idx",))]
    return check_errors(session, "GradCAM", misuses, [], (zero_dimensional_class, one_non_square_image))
