"""Build pickles laid out like stylegan2-ada-pytorch's ``network-snapshot-NNNNNN.pkl``, without its code.

Each module becomes an object whose ``__reduce__`` returns ``(_reconstruct_persistent_obj, (meta,))``
with the reference's ``meta`` record (type, version, module_src, class_name, state = the module's
__dict__), kwargs dicts are ``dnnlib.util.EasyDict`` and tensors pickle the normal torch way. The two
reference globals are served by stand-in modules that exist in ``sys.modules`` only during the dump.
The embedded ``module_src`` is a payload that leaves a file named PWNED if anyone executes it.

Reusable by other tests: ``write_snapshot(path, G=G, D=D, G_ema=G_ema)`` with real thygan networks
writes a .pkl that thygan must import exactly as it would a reference snapshot.
"""

import contextlib
import pickle
import sys
import types
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

PAYLOAD_SOURCE = 'import os\nos.system("touch PWNED")'
PAYLOAD_MARKER = "PWNED"  # the file the payload would create in the current directory


def _reconstruct_persistent_obj(meta):  # pragma: no cover - only its name is pickled
    raise AssertionError("the stand-in reference hook must never be called")


_reconstruct_persistent_obj.__module__ = "torch_utils.persistence"


class EasyDict(dict):
    """Pickles as the reference's ``dnnlib.util.EasyDict``."""

    __module__ = "dnnlib.util"


@contextlib.contextmanager
def reference_modules() -> Iterator[None]:
    """Make ``torch_utils.persistence`` and ``dnnlib.util`` resolvable by pickle, then restore sys.modules."""
    fakes = {"torch_utils.persistence": ("_reconstruct_persistent_obj", _reconstruct_persistent_obj),
             "dnnlib.util": ("EasyDict", EasyDict)}
    saved = {name: sys.modules.get(name) for name in fakes}
    try:
        for name, (attr, obj) in fakes.items():
            module = types.ModuleType(name)
            setattr(module, attr, obj)
            sys.modules[name] = module
        yield
    finally:
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous


class PersistentObject:
    """Pickles exactly as a reference ``@persistent_class`` instance does."""

    def __init__(self, meta: dict[str, Any]):
        self.meta = meta

    def __reduce__(self):
        return (_reconstruct_persistent_obj, (self.meta,))


def _easy(value: Any) -> Any:
    """Nested kwargs dicts are EasyDicts in the reference's _init_kwargs and training_set_kwargs."""
    if isinstance(value, dict):
        return EasyDict({k: _easy(v) for k, v in value.items()})
    return value


def record(class_name: str, *, parameters: dict | None = None, buffers: dict | None = None,
           modules: dict | None = None, init_kwargs: dict | None = None, attrs: dict | None = None,
           non_persistent: set | None = None, module_src: str = PAYLOAD_SOURCE) -> PersistentObject:
    """One persistent object; tensors cloned, parameters wrapped as frozen nn.Parameter as in a snapshot."""
    state = {
        "training": False,
        "_parameters": OrderedDict((k, None if v is None else nn.Parameter(v.detach().clone(),
                                                                             requires_grad=False))
                                   for k, v in (parameters or {}).items()),
        "_buffers": OrderedDict((k, None if v is None else v.detach().clone())
                                for k, v in (buffers or {}).items()),
        "_non_persistent_buffers_set": set(non_persistent or ()),
        "_backward_hooks": OrderedDict(),
        "_forward_hooks": OrderedDict(),
        "_forward_pre_hooks": OrderedDict(),
        "_state_dict_hooks": OrderedDict(),
        "_load_state_dict_pre_hooks": OrderedDict(),
        "_modules": OrderedDict(modules or {}),
        "_init_args": (),
        "_init_kwargs": _easy(dict(init_kwargs or {})),
    }
    state.update(attrs or {})
    meta = dict(type="class", version=6, module_src=module_src, class_name=class_name, state=state)
    return PersistentObject(meta)


def module_record(module: nn.Module, *, class_name: str | None = None,
                  module_src: str = PAYLOAD_SOURCE) -> PersistentObject:
    """The record tree of an nn.Module: its parameters, buffers, sub-modules and scalar attributes."""
    attrs = {k: v for k, v in vars(module).items()
             if not k.startswith("_") and isinstance(v, (bool, int, float, str, np.generic))}
    return record(class_name or type(module).__name__,
                  parameters=dict(module._parameters),
                  buffers=dict(module._buffers),
                  modules={k: None if m is None else module_record(m, module_src=module_src)
                           for k, m in module._modules.items()},
                  init_kwargs=getattr(module, "init_kwargs", {}),
                  attrs=attrs,
                  non_persistent=set(module._non_persistent_buffers_set),
                  module_src=module_src)


def augment_pipe_record(*, p: float = 0.25, init_kwargs: dict | None = None) -> PersistentObject:
    """An ADA pipe record: the probability p and the two filter banks the reference keeps as buffers."""
    generator = torch.Generator().manual_seed(1)
    return record("AugmentPipe",
                  buffers={"p": torch.tensor(p), "Hz_geom": torch.randn([12], generator=generator),
                           "Hz_fbank": torch.randn([4, 12], generator=generator)},
                  init_kwargs=init_kwargs if init_kwargs is not None else dict(xflip=1, rotate90=1, xint=1))


def snapshot_bytes(*, G: nn.Module | None = None, D: nn.Module | None = None, G_ema: nn.Module | None = None,
                   augment_pipe: PersistentObject | None = None, training_set_kwargs: dict | None = None,
                   network_kwargs: dict[str, dict] | None = None, extra: dict | None = None,
                   protocol: int = 4) -> bytes:
    """Pickle bytes with the reference's top-level dict.

    The networks' records are named Generator / Discriminator as in the reference, whatever their class;
    their ``_init_kwargs`` are ``network_kwargs[key]`` if given (e.g. the reference's own kwargs from
    stylegan2_ada_keys.json), else the module's ``init_kwargs``. ``extra`` adds raw top-level entries
    (e.g. hostile objects).
    """
    data = {"training_set_kwargs": _easy(training_set_kwargs) if training_set_kwargs is not None else None}
    roles = [("G", G, "Generator"), ("D", D, "Discriminator"), ("G_ema", G_ema, "Generator")]
    for key, net, class_name in roles:
        data[key] = None if net is None else module_record(net, class_name=class_name)
        if net is not None and network_kwargs and key in network_kwargs:
            data[key].meta["state"]["_init_kwargs"] = _easy(dict(network_kwargs[key]))
    data["augment_pipe"] = augment_pipe
    data.update(extra or {})
    with reference_modules():
        return pickle.dumps(data, protocol=protocol)


def write_snapshot(path: str | Path, **kwargs) -> Path:
    """``snapshot_bytes(**kwargs)`` written to ``path``."""
    path = Path(path)
    path.write_bytes(snapshot_bytes(**kwargs))
    return path


def global_call_pickle(module: str, name: str, argument: str, *, protocol: int) -> bytes:
    """Hand-assembled pickle that calls ``module.name(argument)`` on load, as a hostile file would.

    Protocol 3 names the global with GLOBAL, protocol 4 with STACK_GLOBAL (the two forms a loader sees).
    """
    def text(s: str) -> bytes:
        data = s.encode()
        if protocol >= 4:
            return b"\x8c" + bytes([len(data)]) + data                # SHORT_BINUNICODE
        return b"X" + len(data).to_bytes(4, "little") + data            # BINUNICODE

    if protocol >= 4:
        head = text(module) + text(name) + b"\x93"          # SHORT_BINUNICODE x2, STACK_GLOBAL
    else:
        head = b"c" + f"{module}\n{name}\n".encode()         # GLOBAL
    return bytes([0x80, protocol]) + head + text(argument) + b"\x85R."  # TUPLE1, REDUCE, STOP
