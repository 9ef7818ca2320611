"""Loading a translation generator: a thygan checkpoint, or a reference ``{epoch}_net_G_A.pth`` state dict.

A reference .pth is a plain state dict saved from ``net.state_dict()`` (``module.`` prefixes when saved
under DataParallel; old files also hold InstanceNorm ``running_*`` entries, which the reference deletes
on load and so do we). It is read with ``torch.load(weights_only=True)``, which unpickles tensors only.
Which --netG and --norm it was trained with is recognised from its keys and shapes (each layout is
distinct), so a file of another netG than the one asked for is named in a one-line error.
"""

from pathlib import Path

import torch
from torch import nn

from thygan.errors import UserError
from thygan.io.checkpoint import load_checkpoint, save_checkpoint
from thygan.io.rebuild import fill_network
from thygan.io.state_dict import read_state_dict
from thygan.translate.networks import GENERATORS, NORMS, TRANSLATE_NETWORKS, build_generator, generator_name

_INSTANCE_NORM_STATS = ("running_mean", "running_var", "num_batches_tracked")


def read_reference_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a reference .pth (``module.`` prefixes removed)."""
    return read_state_dict(path, expected="a generator state dict as the reference's {epoch}_net_G_A.pth")


def _layout(state: dict[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in state.items()}


def _candidates(state: dict[str, torch.Tensor]):
    """(netG, kwargs) of every generator layout, sized from the file's first/last convs."""
    first = state.get("model.1.weight", state.get("model.model.0.weight"))
    if first is None or first.ndim != 4:
        return
    ngf, input_nc = int(first.shape[0]), int(first.shape[1])
    last = [v for k, v in state.items() if k.endswith("weight") and v.ndim == 4][-1]
    output_nc = int(last.shape[1] if last.shape[2] == 4 else last.shape[0])  # unet: deconv [in, out, 4, 4]
    for netG in GENERATORS:
        for norm in NORMS:
            for dropout in (False, True):
                yield netG, dict(input_nc=input_nc, output_nc=output_nc, ngf=ngf, norm=norm,
                                                use_dropout=dropout)


def identify_generator(state: dict[str, torch.Tensor], *, prefer_dropout: bool = False) -> tuple[str, nn.Module] | None:
    """(netG name, a matching network with random weights) for a reference state dict, or None.

    Dropout changes the keys of ResNets only; for U-Nets ``prefer_dropout`` decides (pix2pix uses it).
    InstanceNorm running statistics in old files are ignored, as the reference's loader does.
    """
    wanted = _layout(_drop_instance_stats(state))
    for netG, kwargs in sorted(_candidates(state), key=lambda c: c[1]["use_dropout"] != prefer_dropout):
        with torch.device("meta"):
            net = build_generator(netG, **kwargs)
        if _layout(net.state_dict()) == wanted:
            return netG, build_generator(netG, **kwargs)
    return None


def _drop_instance_stats(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Without the running statistics that pre-0.4 PyTorch stored for InstanceNorm layers: entries whose
    layer has no affine weight (BatchNorm layers have one; InstanceNorm(affine=False) layers do not)."""
    out = {}
    for key, value in state.items():
        layer, _, stat = key.rpartition(".")
        if stat in _INSTANCE_NORM_STATS and f"{layer}.weight" not in state:
            continue
        out[key] = value
    return out


def import_reference_generator(path: str | Path, *, netG: str | None = None,
                               prefer_dropout: bool = False) -> nn.Module:
    """A reference ``*_net_G*.pth`` as our generator (eval mode); ``netG`` (if given) must match the file."""
    state = _drop_instance_stats(read_reference_state_dict(path))
    found = identify_generator(state, prefer_dropout=prefer_dropout)
    if found is None:
        first = next(iter(state), "none")
        raise UserError(f"{path}: not a CycleGAN/pix2pix generator state dict of any --netG layout "
                        f"({', '.join(GENERATORS)}); first entry '{first}'")
    name, G = found
    if netG is not None and name != netG:
        raise UserError(f"{path}: holds a {name} generator (norm {G.init_kwargs['norm']}), not --netG {netG}")
    return fill_network(G, state, what="G", source=Path(path))


def load_generator(path: str | Path, *, netG: str | None = None, which: str = "G_A") -> nn.Module:
    """A generator from a thygan checkpoint (network ``which``, or the only G) or a reference .pth.

    Raises:
        UserError: missing or unreadable file, or a generator of another --netG than ``netG``.
    """
    return open_generator(path, netG=netG, which=which)[0]


def open_generator(path: str | Path, *, netG: str | None = None, which: str = "G_A") -> tuple[nn.Module, int]:
    """``(G, mask_types)``: the generator as load_generator, and the number of nucleus types of the masks it
    takes (``translate train --mask_types``, recorded in the snapshot's JSON ``extra``), or 0 when it takes
    images: a G_B (B -> A; masks are always A), a reference .pth or an imported file (no record)."""
    path = Path(path)
    if path.suffix == ".pth":
        return import_reference_generator(path, netG=netG), 0
    loaded = load_checkpoint(path, registry=TRANSLATE_NETWORKS)
    gens = {k: v for k, v in loaded.networks.items() if k.startswith("G")}
    name = which if which in gens else (next(iter(gens)) if len(gens) == 1 else "G" if "G" in gens else None)
    if name is None:
        raise UserError(f"{path}: no generator '{which}' (holds {', '.join(loaded.networks) or 'no networks'})")
    G = gens[name]
    if netG is not None and generator_name(G) != netG:
        raise UserError(f"{path}: holds a {generator_name(G)} generator, not --netG {netG}")
    mask_types = int(loaded.meta.get("extra", {}).get("mask_types") or 0)
    return G, 0 if name == "G_B" else mask_types


def save_generator(path: str | Path, G: nn.Module, *, name: str = "G", extra: dict | None = None) -> Path:
    """A user-facing generator snapshot (safetensors + JSON); returns the .safetensors path."""
    weights, _ = save_checkpoint(path, networks={name: G}, registry=TRANSLATE_NETWORKS,
                                 extra={"netG": generator_name(G), **(extra or {})})
    return weights
