"""Whole-image HoVer-Net prediction by overlapping windows, as the reference's tile mode does.

An input window of side ``S_in`` yields its central ``S_out`` pixels (the decoders' valid convolutions
trim the rest). Windows step by ``S_out`` over the image, reflect-padded by ``(S_in - S_out) / 2`` around
and to a multiple of ``S_out``, and their outputs tile the image without blending: the reference's tile
geometry. Each output pixel keeps a context margin of ``(S_in - S_out) / 2`` px, but the encoder's padded,
strided convolutions still see the window border, so outputs next to a window edge differ slightly from a
larger window's (benchmarks/README.md measures this on a trained model). MONAI's
``SlidingWindowHoVerNetInferer`` does similar arithmetic but needs the whole image as one tensor; this
runs batch by batch so memory is bounded by the batch, which the slide reader needs.
"""

from dataclasses import dataclass

import numpy as np
import torch

from thygan.segment.networks import HoVerNet
from thygan.segment.postproc import instance_map, instance_records


@dataclass
class Maps:
    """Per-pixel outputs. np_prob: [H, W] nucleus probability; hv: [2, H, W]; tp: [H, W] type argmax or None;
    tp_prob: [T, H, W] type probabilities or None."""

    np_prob: np.ndarray
    hv: np.ndarray
    tp: np.ndarray | None = None
    tp_prob: np.ndarray | None = None


def windows(height: int, width: int, step: int) -> list[tuple[int, int]]:
    """Top-left corners (in output coordinates) of the windows that cover an image."""
    return [(r, c) for r in range(0, height, step) for c in range(0, width, step)]


@torch.no_grad()
def predict_maps(net: HoVerNet, image: np.ndarray, *, input_size: int, output_size: int, batch_size: int = 8,
                 device: torch.device | str = "cpu") -> Maps:
    """NP/HV/TP maps of an RGB image [H, W, 3] uint8 (any size)."""
    h, w = image.shape[:2]
    margin = (input_size - output_size) // 2
    rows, cols = -(-h // output_size) * output_size, -(-w // output_size) * output_size
    pad = ((margin, margin + rows - h), (margin, margin + cols - w), (0, 0))
    padded = np.pad(image, pad, mode="reflect") if min(h, w) > max(pad[0][1], pad[1][1]) else \
        np.pad(image, pad, mode="symmetric")
    corners = windows(rows, cols, output_size)
    n_types = net.nr_types
    np_prob = np.zeros((rows, cols), np.float32)
    hv = np.zeros((2, rows, cols), np.float32)
    tp_prob = np.zeros((n_types, rows, cols), np.float32) if n_types else None
    net.eval()
    for start in range(0, len(corners), batch_size):
        chunk = corners[start:start + batch_size]
        x = np.stack([padded[r:r + input_size, c:c + input_size] for r, c in chunk])
        x = torch.from_numpy(x).to(device).permute(0, 3, 1, 2).float() / 255
        out = net(x)
        np_out = torch.softmax(out["np"], 1)[:, 1].cpu().numpy()
        hv_out = out["hv"].cpu().numpy()
        tp_out = torch.softmax(out["tp"], 1).cpu().numpy() if n_types else None
        for k, (r, c) in enumerate(chunk):
            np_prob[r:r + output_size, c:c + output_size] = np_out[k]
            hv[:, r:r + output_size, c:c + output_size] = hv_out[k]
            if n_types:
                tp_prob[:, r:r + output_size, c:c + output_size] = tp_out[k]
    tp_prob = tp_prob[:, :h, :w] if n_types else None
    return Maps(np_prob[:h, :w], hv[:, :h, :w], None if tp_prob is None else tp_prob.argmax(0), tp_prob)


def segment_image(net: HoVerNet, image: np.ndarray, *, input_size: int, output_size: int, batch_size: int = 8,
                  device: torch.device | str = "cpu") -> tuple[np.ndarray, dict[int, dict], Maps]:
    """(instance map [H, W] int32, reference JSON records per instance, the raw maps) of one image."""
    maps = predict_maps(net, image, input_size=input_size, output_size=output_size, batch_size=batch_size,
                        device=device)
    inst = instance_map(maps.np_prob, maps.hv)
    return inst, instance_records(inst, maps.tp), maps
