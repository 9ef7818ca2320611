"""Whole-image HoVer-Net prediction by overlapping windows: the reference's tile geometry, optionally blended.

An input window of side ``S_in`` yields its central ``S_out`` pixels (the decoders' valid convolutions trim
the rest). The image is reflect-padded by the context margin ``(S_in - S_out) / 2`` around and, at the bottom
and right, up to the last window, and windows step by ``S_out - overlap``. With ``overlap=0`` the output
regions tile the image without blending: exactly the reference's tile mode.

Why that leaves seams, and what removes them (benchmarks/segment_seams.py, numbers in benchmarks/README.md):
the encoder subsamples by 8 (``NET_STRIDE``), so a window's output depends on where it starts modulo 8. The
reference's 'fast' step of 164 px puts every other window on the other subsampling grid, and neighbouring
outputs disagree along their common edge; that is most of the seam. The rest is the window border, which the
padded convolutions see within a few pixels of the output region's edge. ``overlap='auto'`` therefore takes a
step that is a multiple of 8 with at least 16 px of overlap (20 px for 'fast', 16 for 'original'), and
overlapping outputs are averaged with a Gaussian weight centred on each output region (sigma ``SIGMA`` x
``S_out``), so each pixel comes mostly from the window it is most central in. Probabilities are averaged
(softmax of NP and TP, then blending); HV is averaged as is.

The windows, their batching and the weighted stitching are MONAI's ``SlidingWindowHoVerNetInferer``. Where it
differs from the reference we adapt its input rather than follow it:
- MONAI places the last window flush with the image end when the size is not a multiple of the step; the
  reference pads instead. We pad the image to the reference's grid ourselves, so MONAI's windows fall on it.
- MONAI blends what the network returns (logits); the reference thresholds probabilities, so the network is
  wrapped to return softmax probabilities and those are blended.
- MONAI's overlap is a fraction of the *input* window and its Gaussian sigma too; both are converted from
  pixels of the *output* region here.
With ``overlap=0`` its output equals plain window-by-window stitching, and with overlap a hand-summed weighted
mean (tests/segment/test_predict.py). Memory: MONAI holds the padded input and the stitched maps of one image
(a tile, or one chunk in slide mode) as float32 and runs ``batch_size`` windows at a time, so a slide's memory
is bounded by the chunk size, not the slide's.
"""

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from thygan.errors import UserError
from thygan.segment.networks import HoVerNet
from thygan.segment.postproc import instance_map, instance_records

BLENDS = ("gaussian", "constant")
SIGMA = 0.25  # Gaussian blending weight's sigma, as a fraction of the output region's side
NET_STRIDE = 8  # HoVer-Net's encoder subsamples by 2 three times: outputs repeat exactly under shifts of 8 px
AUTO_MIN_OVERLAP = 16  # px of blending 'auto' asks for at least (segment_seams.py: 'fast' at 20 px)


@dataclass
class Maps:
    """Per-pixel outputs. np_prob: [H, W] nucleus probability; hv: [2, H, W]; tp: [H, W] type argmax or None;
    tp_prob: [T, H, W] type probabilities or None."""

    np_prob: np.ndarray
    hv: np.ndarray
    tp: np.ndarray | None = None
    tp_prob: np.ndarray | None = None


def window_starts(length: int, output_size: int, overlap: int = 0) -> list[int]:
    """Where the output regions along one side of ``length`` px start: 0, then every ``output_size - overlap``."""
    step = output_size - overlap
    return [k * step for k in range(1 + math.ceil(max(length - output_size, 0) / step))]


def window_count(height: int, width: int, output_size: int, overlap: int = 0) -> int:
    """Windows that cover an image (what the progress bars count)."""
    return len(window_starts(height, output_size, overlap)) * len(window_starts(width, output_size, overlap))


def near_window_edges(height: int, width: int, output_size: int, overlap: int, band: int) -> np.ndarray:
    """[H, W] bool: pixels within ``band`` px of an output region's edge inside the image (where seams show)."""
    near = []
    for length in (height, width):
        line = np.zeros(length, bool)
        for start in window_starts(length, output_size, overlap):
            for edge in (start, start + output_size):
                if 0 < edge < length:
                    line[max(edge - band, 0):edge + band] = True
        near.append(line)
    return near[0][:, None] | near[1][None, :]


def resolve_overlap(overlap: int | str, blend: str, output_size: int) -> int:
    """The overlap in px: 'auto' is the smallest overlap >= AUTO_MIN_OVERLAP whose step is a multiple of
    NET_STRIDE, so that every window samples the image on the same subsampling grid (the reference's 'fast'
    step of 164 px alternates between two grids, which is most of its seam; see the module docstring).

    Raises:
        UserError: overlap outside [0, output_size) or an unknown blend.
    """
    if overlap == "auto":
        overlap = AUTO_MIN_OVERLAP + (output_size - AUTO_MIN_OVERLAP) % NET_STRIDE
        overlap = overlap if overlap < output_size else 0
    if isinstance(overlap, bool) or not isinstance(overlap, (int, np.integer)) or not 0 <= overlap < output_size:
        raise UserError(f"--overlap {overlap}: expected 'auto' or 0 <= PX < {output_size} (the network's output side)")
    overlap = int(overlap)
    if blend not in BLENDS:
        raise UserError(f"--blend {blend!r}: expected one of {', '.join(BLENDS)}")
    return overlap


@torch.no_grad()
def predict_maps(net: HoVerNet, image: np.ndarray, *, input_size: int, output_size: int, overlap: int | str = 0,
                 blend: str = "gaussian", batch_size: int = 8, device: torch.device | str = "cpu") -> Maps:
    """NP/HV/TP maps of an RGB image [H, W, 3] uint8 (any size).

    Args:
        overlap: Pixels by which neighbouring output regions overlap (0 = the reference's tiling), or 'auto'.
        blend: 'gaussian' (weight falling off towards each output region's edge) or 'constant' (plain mean).
    """
    from monai.apps.pathology.inferers import SlidingWindowHoVerNetInferer

    overlap = resolve_overlap(overlap, blend, output_size)
    h, w = image.shape[:2]
    step, margin = output_size - overlap, (input_size - output_size) // 2
    rows, cols = (window_starts(n, output_size, overlap)[-1] + output_size for n in (h, w))
    pad = ((margin, margin + rows - h), (margin, margin + cols - w), (0, 0))
    # numpy's reflect needs the image longer than the pad; a smaller image is mirrored with its edge repeated
    padded = np.pad(image, pad, mode="reflect" if min(h, w) > max(pad[0][1], pad[1][1]) else "symmetric")
    x = torch.from_numpy(padded).permute(2, 0, 1)[None].float() / 255
    n_types = net.nr_types

    def probabilities(window: torch.Tensor) -> dict[str, torch.Tensor]:
        out = net(window)
        probs = {"np": torch.softmax(out["np"], 1)[:, 1:], "hv": out["hv"]}
        if n_types:
            probs["tp"] = torch.softmax(out["tp"], 1)
        return probs

    # MONAI's scan interval is int(S_in * (1 - overlap)): aim half a pixel above the step so that the float
    # rounding cannot land one pixel short.
    inferer = SlidingWindowHoVerNetInferer(
        roi_size=input_size, sw_batch_size=batch_size, overlap=1 - (step + 0.5) / input_size, mode=blend,
        sigma_scale=SIGMA * output_size / input_size, sw_device=device, device="cpu")
    net.eval()
    with warnings.catch_warnings():
        # MONAI 1.6 indexes its weight map with a list of slices (deprecated by torch, still exact; the
        # overlap-0 test against plain stitching would catch a change)
        warnings.filterwarnings("ignore", message="Using a non-tuple sequence for multidimensional indexing")
        out = inferer(x, probabilities)
    core = (0, slice(None), slice(margin, margin + h), slice(margin, margin + w))
    np_prob, hv = out["np"][core][0].numpy(), out["hv"][core].numpy()
    tp_prob = out["tp"][core].numpy() if n_types else None
    return Maps(np_prob, hv, None if tp_prob is None else tp_prob.argmax(0), tp_prob)


def segment_image(net: HoVerNet, image: np.ndarray, *, input_size: int, output_size: int, overlap: int | str = 0,
                  blend: str = "gaussian", batch_size: int = 8, device: torch.device | str = "cpu"
                  ) -> tuple[np.ndarray, dict[int, dict], Maps]:
    """(instance map [H, W] int32, reference JSON records per instance, the raw maps) of one image."""
    maps = predict_maps(net, image, input_size=input_size, output_size=output_size, overlap=overlap, blend=blend,
                        batch_size=batch_size, device=device)
    inst = instance_map(maps.np_prob, maps.hv)
    return inst, instance_records(inst, maps.tp), maps
