"""Published HoVer-Net weights: the reference's ``hovernet_{original,fast}_*_tf2pytorch.tar`` checkpoints and
ImageNet encoders, mapped onto our (MONAI-layout) network by key renaming.

A reference checkpoint is ``{"desc": state_dict}`` (keys may carry DataParallel's ``module.``). Its layout:
``conv0./``, ``d0..d3.units.N``, ``conv_bot``, ``decoder.{np,hv,tp}.u3..u0`` and the constant
``upsample2x.unpool_mat``. The mode and the number of types are read from the tensors themselves (decoder
kernel 5 = original, 3 = fast; the TP head's output channels), so a checkpoint of the other mode is refused
by name rather than failing deep inside ``load_state_dict``. The files are read with
``torch.load(weights_only=True)``: nothing in them is executed.
"""

import re
from pathlib import Path

import torch

from thygan.errors import UserError
from thygan.io.rebuild import fill_network
from thygan.io.state_dict import read_state_dict
from thygan.segment.networks import HoVerNet

BRANCHES = {"np": "nucleus_prediction", "hv": "horizontal_vertical", "tp": "type_prediction"}
_DECODER_UNITS = {"u3": "decoder_blocks.decoderblock1", "u2": "decoder_blocks.decoderblock2",
                  "u1": "output_features.decoderblock3", "u0": "output_features.decoderblock4"}
UNPOOL_KEY = "upsample2x.unpool_mat"  # the reference's nearest-upsampling constant; not a weight


def _rules() -> list[tuple[str, str]]:
    """(reference template, our template) pairs, most specific first. ``{n}`` is a unit index counted from 0
    in both layouts except MONAI's decoder layers, counted from 1 (``{n1}``); ``{rest}`` is the tail."""
    rules = [("conv0./.{rest}", "conv0.conv.{rest}"), ("conv0.bn.{rest}", "conv0.bn.{rest}"),
             ("conv_bot.{rest}", "bottleneck.conv_bottleneck.{rest}")]
    for d in ("d0", "d1", "d2", "d3"):
        rules += [(f"{d}.units.{{n}}.{{rest}}", f"res_blocks.{d}.layers.denselayer_{{n}}.layers.{{rest}}"),
                  (f"{d}.blk_bna.{{rest}}", f"res_blocks.{d}.bna_block.{{rest}}"),
                  (f"{d}.shortcut.{{rest}}", f"res_blocks.{d}.shortcut.{{rest}}")]
    for short, long in BRANCHES.items():
        for unit, ours in _DECODER_UNITS.items():
            ref, new = f"decoder.{short}.{unit}.", f"{long}.{ours}."
            rules += [(ref + "dense.units.{n}.conv1/bn.{rest}", new + "denselayerdecoder{n1}.layers.conv1/norm.{rest}"),
                      (ref + "dense.units.{n}.{rest}", new + "denselayerdecoder{n1}.layers.{rest}"),
                      (ref + "dense.blk_bna.{rest}", new + "bna_block.{rest}"),
                      (ref + "{rest}", new + "{rest}")]
    return rules


def _pattern(template: str) -> re.Pattern:
    fields = {"{n}": r"(?P<n>\d+)", "{n1}": r"(?P<n1>\d+)", "{rest}": r"(?P<rest>.+)"}
    parts = re.split(r"(\{n\}|\{n1\}|\{rest\})", template)
    return re.compile("".join(fields.get(part, re.escape(part)) for part in parts))


_RULES = [(_pattern(a), a, _pattern(b), b) for a, b in _rules()]


def _rename(key: str, *, to_ours: bool) -> str:
    """One table, both directions (see ``_rules``)."""
    for ref_re, ref, ours_re, ours in _RULES:
        m = (ref_re if to_ours else ours_re).fullmatch(key)
        if m:
            fields = m.groupdict()
            if "n" in fields:
                fields["n1"] = int(fields["n"]) + 1
            elif "n1" in fields:
                fields["n"] = int(fields["n1"]) - 1
            return (ours if to_ours else ref).format(**fields)
    raise KeyError(key)


def reference_to_ours(key: str) -> str | None:
    """Reference hover_net state-dict key -> our key; None for the constant ``upsample2x.unpool_mat``."""
    key = key.removeprefix("module.")
    return None if key == UNPOOL_KEY else _rename(key, to_ours=True)


def ours_to_reference(key: str) -> str:
    """Inverse of ``reference_to_ours``."""
    return _rename(key, to_ours=False)


def read_reference_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The ``desc`` state dict of a reference ``.tar`` (or a bare state dict), ``module.`` stripped."""
    return read_state_dict(path, expected="a hover_net checkpoint .tar ({'desc': state_dict})", key="desc")


def describe_reference_state(state: dict[str, torch.Tensor], *, source: str = "checkpoint") -> dict:
    """(mode, nr_types) of a reference state dict, read from the decoder kernel and the TP head."""
    conva = state.get("decoder.np.u3.conva.weight")
    if conva is None:
        raise UserError(f"{source}: no 'decoder.np.u3.conva.weight' (expected a hover_net HoVerNet state dict)")
    mode = {5: "original", 3: "fast"}.get(conva.shape[-1])
    if mode is None:
        raise UserError(f"{source}: decoder kernel {conva.shape[-1]} is neither 5 (original) nor 3 (fast)")
    tp = state.get("decoder.tp.u0.conv.weight")
    return {"mode": mode, "nr_types": 0 if tp is None else int(tp.shape[0])}


def load_reference_checkpoint(path: str | Path, *, mode: str | None = None, nr_types: int | None = None,
                              upsample: str = "nearest") -> HoVerNet:
    """Build our HoVerNet from a reference ``*_tf2pytorch.tar``; ``mode``/``nr_types``, if given, must agree."""
    state = read_reference_state(path)
    found = describe_reference_state(state, source=str(path))
    for name, want in (("mode", mode), ("nr_types", nr_types)):
        if want is not None and want != found[name]:
            raise UserError(f"{path}: a checkpoint with {name}={found[name]}, but {name}={want} was asked for "
                            f"(CoNSeP/Kumar/CPM17 weights are 'original', PanNuke/MoNuSAC 'fast')")
    net = HoVerNet(mode=found["mode"], nr_types=found["nr_types"], upsample=upsample)
    try:
        ours = {reference_to_ours(k): v for k, v in state.items() if k != UNPOOL_KEY}
    except KeyError as exc:
        raise UserError(f"{path}: unexpected key {exc} (expected a hover_net HoVerNet state dict)") from None
    return fill_network(net, ours, what="HoVerNet", source=Path(path))


def export_reference_state(net: HoVerNet) -> dict[str, torch.Tensor]:
    """Our network's weights under the reference's names (loads into hover_net's ``HoVerNet`` strictly)."""
    state = {ours_to_reference(k): v.detach().clone() for k, v in net.state_dict().items()}
    state[UNPOOL_KEY] = torch.ones(2, 2)
    return state


_TORCHVISION = [  # torchvision ResNet-50 -> preact layout (bn3 of unit n feeds unit n+1's pre-activation)
    (r"conv1\.(.+)", r"conv0.conv.\1"),
    (r"bn1\.(.+)", r"conv0.bn.\1"),
    (r"layer(\d)\.0\.downsample\.0\.(.+)", lambda m: f"res_blocks.d{int(m[1]) - 1}.shortcut.{m[2]}"),
    (r"layer(\d)\.(\d+)\.bn3\.(.+)",
     lambda m: f"res_blocks.d{int(m[1]) - 1}.layers.denselayer_{int(m[2]) + 1}.layers.preact/bn.{m[3]}"),
    (r"layer(\d)\.(\d+)\.bn([12])\.(.+)",
     lambda m: f"res_blocks.d{int(m[1]) - 1}.layers.denselayer_{m[2]}.layers.conv{m[3]}/bn.{m[4]}"),
    (r"layer(\d)\.(\d+)\.conv([123])\.(.+)",
     lambda m: f"res_blocks.d{int(m[1]) - 1}.layers.denselayer_{m[2]}.layers.conv{m[3]}.{m[4]}"),
]


def load_encoder(net: HoVerNet, path: str | Path, *, layout: str = "preact") -> int:
    """Copy ImageNet encoder weights from a local file into ``net``; returns the number of tensors copied.

    Args:
        layout: 'preact' (hover_net's ImageNet-ResNet50-Preact_pytorch.tar, ``{"desc": ...}``) or
            'torchvision' (a ResNet-50 state dict; the closest preact placement of its batch norms, as MONAI
            maps it, and the encoder is fine-tuned in phase 2 anyway).
    """
    state = read_reference_state(path)
    mapped = {}
    for key, value in state.items():
        if layout == "preact":
            try:
                new = reference_to_ours(key)
            except KeyError:
                continue
        else:
            new = None
            for pattern, repl in _TORCHVISION:
                if re.fullmatch(pattern, key):
                    new = re.sub(pattern, repl, key)
                    break
        if new is not None and (new.startswith("conv0.") or new.startswith("res_blocks.")):
            mapped[new] = value
    own = net.state_dict()
    usable = {k: v for k, v in mapped.items() if k in own and own[k].shape == v.shape}
    if not usable:
        raise UserError(f"{path}: no encoder tensor fits the network (expected a {layout} ResNet-50 at width 1)")
    net.load_state_dict(usable, strict=False)
    return len(usable)


def load_model(path: str | Path, *, mode: str | None = None, nr_types: int | None = None
               ) -> tuple[HoVerNet, int, dict]:
    """A network for inference from our checkpoint (.safetensors/.json) or a reference ``.tar``.

    Returns:
        (network in eval mode, input side in px, the checkpoint's extra metadata).
    """
    from thygan.io.checkpoint import load_checkpoint
    from thygan.segment.networks import MODES, NETWORKS

    path = Path(path)
    if path.suffix in (".safetensors", ".json") or not path.suffix:
        loaded = load_checkpoint(path, registry=NETWORKS)
        if "net" not in loaded.networks:
            raise UserError(f"{path}: no 'net' network (expected a hovernet-snapshot from thygan segment train)")
        net = loaded.networks["net"]
        for name, want in (("mode", mode), ("nr_types", nr_types)):
            if want is not None and want != getattr(net, name):
                raise UserError(f"{path}: a checkpoint with {name}={getattr(net, name)}, but {name}={want} "
                                f"was asked for")
        extra = loaded.meta.get("extra", {})
        return net.eval(), int(extra.get("input_size") or MODES[net.mode]["input"]), extra
    net = load_reference_checkpoint(path, mode=mode, nr_types=nr_types)
    return net.eval(), MODES[net.mode]["input"], {}
