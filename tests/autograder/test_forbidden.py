"""The from-scratch rule's names: resolved to what they forbid, without importing whole libraries."""
import subprocess
import sys

from autograder import paths
from autograder.engine.forbidden import ForbiddenRule, resolve, violations


def test_packages_classes_and_unknown_names_resolve_to_what_they_forbid():
    rules = resolve(["torchvision.models", "torch.nn.MultiheadAttention", "torch.nn", "no_such_library.Thing"])
    assert rules == [
        ForbiddenRule("torchvision.models", "torchvision.models", True),
        ForbiddenRule("torch.nn.MultiheadAttention", "torch.nn.modules.activation.MultiheadAttention", False),
        ForbiddenRule("torch.nn", "torch.nn", True),
        ForbiddenRule("no_such_library.Thing", "no_such_library.Thing", True),
    ]
    found = violations([("stem", "torchvision.models.resnet.BasicBlock"),
                        ("attention", "torch.nn.modules.activation.MultiheadAttention"),
                        ("mine", "resnet.BasicBlock")], rules[:2])
    assert found == ["stem is a BasicBlock from torchvision.models",
                     "attention is a MultiheadAttention from torch.nn.MultiheadAttention"]


def test_a_library_named_by_a_submodule_is_not_imported_to_resolve_it():
    """Importing torchvision (and scipy with it) took 1.8 s of every grade."""
    program = ("import sys; from autograder.engine.forbidden import resolve; "
               "rules = resolve(['torchvision.models']); "
               "print(rules[0].is_module, sorted({m.split('.')[0] for m in sys.modules} & {'torchvision', 'scipy'}))")
    done = subprocess.run([sys.executable, "-c", program], cwd=paths.ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "True []"
