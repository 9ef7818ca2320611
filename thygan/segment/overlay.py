"""Type legends (the reference's ``type_info.json``) and contour overlays like the reference's overlay PNGs."""

import json
from pathlib import Path

import cv2
import matplotlib
import numpy as np

from thygan.errors import UserError

# The reference's shipped type_info.json (PanNuke ids)
PANNUKE_TYPE_INFO = {"0": ["nolabe", [0, 0, 0]], "1": ["neopla", [255, 0, 0]], "2": ["inflam", [0, 255, 0]],
                     "3": ["connec", [0, 0, 255]], "4": ["necros", [255, 255, 0]], "5": ["no-neo", [255, 165, 0]]}
UNTYPED_COLOUR = (255, 255, 0)  # contours of segmentation-only models


def default_type_info(nr_types: int) -> dict[str, list]:
    """Names str(id) and matplotlib 'hot' colours, as the reference does without a type_info.json."""
    cmap = matplotlib.colormaps["hot"]
    return {str(t): [str(t), [int(255 * v) for v in cmap(t / max(nr_types, 1))[:3]]] for t in range(nr_types)}


def read_type_info(path: str | Path | None, nr_types: int) -> dict[str, list]:
    """{id: [name, [r, g, b]]}; every id in range(nr_types) must be present (as the reference asserts)."""
    if path is None:
        return PANNUKE_TYPE_INFO if nr_types == 6 else default_type_info(nr_types)
    path = Path(path)
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: not a readable JSON file ({exc})") from None
    missing = [str(t) for t in range(nr_types) if str(t) not in info]
    if missing or not all(isinstance(v, list) and len(v) == 2 and len(v[1]) == 3 for v in info.values()):
        raise UserError(f"{path}: expected {{\"id\": [name, [r, g, b]]}} for every id 0..{nr_types - 1}"
                        + (f" (missing {', '.join(missing)})" if missing else ""))
    return info


def draw_overlay(image: np.ndarray, records: dict, type_info: dict | None = None, *, thickness: int = 2,
                 draw_dot: bool = False, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Contours (and optionally centroids) drawn on a copy of image [H, W, 3] uint8 in the type colours."""
    out = np.ascontiguousarray(image.copy())
    dx, dy = offset
    for rec in records.values():
        t = rec.get("type")
        colour = tuple(type_info[str(t)][1]) if type_info and t is not None and str(t) in type_info \
            else UNTYPED_COLOUR
        contour = np.asarray(rec["contour"], np.int32) - [dx, dy]
        cv2.drawContours(out, [contour], -1, colour, thickness)
        if draw_dot:
            x, y = rec["centroid"]
            cv2.circle(out, (int(round(x - dx)), int(round(y - dy))), 3, colour, -1)
    return out
