"""PanNuke-format predictions: the ``masks.npy`` that PanNuke-metrics and ``thygan segment stats --mode=pannuke``
score, written from the outputs of ``segment infer tile`` (``--save-pannuke``).

Layout (PanNuke's, as ``thygan.segment.data.read_pannuke`` reads it): ``masks.npy`` [N, H, W, 6] int32 with
channels 0-4 = Neoplastic, Inflammatory, Connective, Dead, Epithelial holding the instance ids of the
nuclei of that type (type_info ids 1-5, a PanNuke model's TP classes) and channel 5 = 1 on background;
``images.npy`` [N, H, W, 3] uint8 (PanNuke ships float 0-255, our reader takes either) and ``names.txt``,
row k's tile name on line k. Nuclei the model typed as background (0), and those post-processing keeps no
record of (under 3 contour points), have no PanNuke channel and are left out.
"""

from pathlib import Path

import numpy as np

from thygan.errors import UserError
from thygan.io.atomic import atomic_path

PANNUKE_TYPES = 6  # background + 5 nucleus types: the TP classes of a PanNuke model


def check_tiles(paths: list[Path], nr_types: int) -> None:
    """Refuse models without PanNuke's types and tiles of mixed sizes (masks.npy is one array), before any
    tile is segmented; reads the image headers only."""
    from PIL import Image

    if nr_types != PANNUKE_TYPES:
        raise UserError(f"--save-pannuke: needs a model with PanNuke's {PANNUKE_TYPES} types (background + 5), "
                        f"this one has {nr_types}")
    first = None
    for path in paths:
        try:
            with Image.open(path) as im:
                size = im.size
        except OSError as exc:
            raise UserError(f"{path}: not a readable image ({exc})") from None
        if first is None:
            first = (path, size)
        elif size != first[1]:
            raise UserError(f"--save-pannuke: {path.name} is {size[0]}x{size[1]} px but {first[0].name} is "
                            f"{first[1][0]}x{first[1][1]}; masks.npy needs tiles of one size")


def pannuke_masks(inst: np.ndarray, inst_types: dict[int, int]) -> np.ndarray:
    """inst [H, W] instance ids, {id: type 1..5} -> [H, W, 6] int32 PanNuke mask (ids kept)."""
    lut = np.zeros(int(inst.max()) + 1, np.int32)
    for i, t in inst_types.items():
        if 1 <= t < PANNUKE_TYPES:
            lut[i] = t
    types = lut[inst]
    out = np.zeros(inst.shape + (PANNUKE_TYPES,), np.int32)
    for c in range(PANNUKE_TYPES - 1):
        out[..., c] = np.where(types == c + 1, inst, 0)
    out[..., PANNUKE_TYPES - 1] = types == 0
    return out


def _read_mat(path: Path) -> tuple[np.ndarray, dict[int, int]]:
    import scipy.io

    mat = scipy.io.loadmat(str(path))
    ids, types = mat["inst_uid"].ravel(), mat.get("inst_type", np.zeros((0,))).ravel()
    return mat["inst_map"], dict(zip(ids.tolist(), types.tolist()))


def write_pannuke(output_dir: str | Path, paths: list[Path]) -> Path:
    """Stack the tiles ``paths`` and their ``mat/{stem}.mat`` predictions into ``output_dir/pannuke/``; the
    three files are complete before any replaces an older one. Returns the folder."""
    from PIL import Image

    output_dir = Path(output_dir)
    folder = output_dir / "pannuke"
    folder.mkdir(parents=True, exist_ok=True)
    with Image.open(paths[0]) as im:
        width, height = im.size
    n = len(paths)
    with atomic_path(folder / "masks.npy") as masks_tmp, atomic_path(folder / "images.npy") as images_tmp, \
            atomic_path(folder / "names.txt") as names_tmp:
        masks = np.lib.format.open_memmap(masks_tmp, mode="w+", dtype=np.int32, shape=(n, height, width, 6))
        images = np.lib.format.open_memmap(images_tmp, mode="w+", dtype=np.uint8, shape=(n, height, width, 3))
        for k, path in enumerate(paths):
            with Image.open(path) as im:
                images[k] = np.asarray(im.convert("RGB"))
            masks[k] = pannuke_masks(*_read_mat(output_dir / "mat" / f"{path.stem}.mat"))
        masks.flush()
        images.flush()
        del masks, images
        names_tmp.write_text("".join(f"{p.stem}\n" for p in paths), encoding="utf-8")
    return folder
