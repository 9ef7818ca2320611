"""Rebuilding networks from a file's description: registry class name + constructor kwargs + weights.

Both readers (our checkpoints and the reference pickles) end here, so a network is only ever built by
our own constructor and filled with ``load_state_dict(strict=True)``; nothing in a file is executed.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dnnlib import Registry
from thygan.errors import UserError


@dataclass
class LoadedNetworks:
    """What a network file held, ready to use.

    Attributes:
        networks: 'G', 'D', 'G_ema' (whichever the file holds), rebuilt on CPU in eval mode.
        meta: The metadata: our checkpoint JSON, or the same fields gathered from a reference pickle.
        extra_tensors: Extra tensor groups by name (optimizer state, 'augment_pipe' buffers, ...).
        weights_file: The file the tensors came from (.safetensors or .pkl), e.g. to hash it.
    """

    networks: dict[str, nn.Module]
    meta: dict[str, Any]
    extra_tensors: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    weights_file: Path = Path()

    @property
    def class_names(self) -> list[str] | None:
        """Label names in class-index order, if the file knows them."""
        return self.meta.get("class_names")

    @property
    def cur_nimg(self) -> int | None:
        """Real images shown to D when the file was written, if known."""
        return self.meta.get("cur_nimg")


# Network classes by the name a file stores. The packages that define networks fill it when they are
# imported (thygan.stylegan.networks: Generator, Discriminator), so the readers here know no model
# package: the import order points from the models down to io, never up.
NETWORKS = Registry("network")


def default_registry() -> Registry:
    """The registry a reader uses when given none: :data:`NETWORKS`."""
    return NETWORKS


def registry_name(registry: Registry, module: nn.Module) -> str:
    """The name under which ``type(module)`` is registered (what a checkpoint stores instead of code)."""
    for name, cls in registry.items():
        if type(module) is cls:
            return name
    raise ValueError(f"{type(module).__name__} is not registered in the '{registry.kind}' registry "
                     f"(known: {', '.join(registry.names())})")


def build_network(registry: Registry, class_name: str, kwargs: dict[str, Any], *, what: str,
                  source: Path) -> nn.Module:
    """Construct ``class_name(**kwargs)``; ``what`` names the network and ``source`` the file in errors."""
    if not registry.names():  # a programming error: the model package was never imported
        raise RuntimeError(f"no network class is registered in '{registry.kind}' (import the package that "
                           f"defines {class_name}, e.g. thygan.stylegan.networks, before reading {source})")
    cls = registry.lookup(class_name, lambda msg: UserError(f"{source}: {what}: {msg}"))
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise UserError(f"{source}: {what}: {class_name} cannot be built from the stored kwargs "
                        f"({exc})") from None


def fill_network(net: nn.Module, state: dict[str, torch.Tensor], *, what: str, source: Path) -> nn.Module:
    """Check names, shapes and dtypes against ``net``, then ``load_state_dict(strict=True)``; eval mode.

    The explicit checks give one readable line per problem where torch would print a wall of keys, and
    they refuse dtype changes that ``load_state_dict`` would silently cast (the load must be bit-exact).
    """
    expected = net.state_dict()
    missing = [k for k in expected if k not in state]
    if missing:
        raise UserError(f"{source}: {what}: missing tensor '{missing[0]}' ({len(missing)} missing in all; "
                        f"expected by {type(net).__name__} with the stored kwargs)")
    unexpected = [k for k in state if k not in expected]
    if unexpected:
        raise UserError(f"{source}: {what}: unexpected tensor '{unexpected[0]}' ({len(unexpected)} in all; "
                        f"{type(net).__name__} with the stored kwargs has no such entry)")
    for key, ours in expected.items():
        theirs = state[key]
        if theirs.shape != ours.shape or theirs.dtype != ours.dtype:
            raise UserError(f"{source}: {what}: tensor '{key}' is {_describe(theirs)}, "
                            f"expected {_describe(ours)}")
    net.load_state_dict(state, strict=True)
    return net.eval()


def _describe(t: torch.Tensor) -> str:
    return f"{list(t.shape)} {str(t.dtype).replace('torch.', '')}"
