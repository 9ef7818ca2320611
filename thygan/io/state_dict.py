"""Plain ``torch.save``d state dicts (other projects' ``.pth``/``.tar`` checkpoints), read without running code.

``torch.load(weights_only=True)`` unpickles tensors, containers and numbers only; anything needing code
fails and is reported as one line naming the file.
"""

from pathlib import Path

import torch

from thygan.errors import UserError


def read_state_dict(path: str | Path, *, expected: str, key: str | None = None) -> dict[str, torch.Tensor]:
    """The tensors of a state-dict file, ``module.`` (DataParallel) prefixes removed.

    Args:
        path: The file.
        expected: What the file should be, for messages (e.g. 'a CycleGAN generator .pth').
        key: If the file is a dict holding the state dict under this key (hover_net's 'desc'), use it.

    Raises:
        UserError: missing file, not loadable with weights_only=True, or not names -> tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file (expected {expected})")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip and weights-only errors all mean "not a plain state dict"
        raise UserError(f"{path}: not a state dict readable with weights_only=True "
                        f"({' '.join(str(exc).split())[:200]})") from None
    if key is not None and isinstance(obj, dict) and key in obj:
        obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UserError(f"{path}: expected a state dict (names -> tensors), {expected}")
    return {k.removeprefix("module."): v for k, v in obj.items()}
