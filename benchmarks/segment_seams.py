"""Seams of tiled HoVer-Net prediction, with and without overlapping blended windows (issue 15).

For crops of the bundled slide (3 x 3 output regions each), the tiled prediction (``predict_maps``) is compared
with one forward pass of a single window covering the whole reflect-padded crop plus 64 px more, which has
no seam inside the crop. Reported per overlap: mean |NP probability difference| in 8 px bands along the edges
of the windows' output regions inside the crop ("band") and elsewhere ("interior"), the share of pixels on the
same side of 0.5, windows per crop and per slide-mode chunk (2048 + 2 x 128 px), and seconds per crop. The outer
8 px frame of each crop is left out of both (its context is reflected padding either way). The single window
starts 64 px (a multiple of the network's stride of 8) before the first tiled window, so windows whose step is
a multiple of 8 sample the image on its grid and agree with it exactly away from their edges.

Usage: PYTHONPATH=. python benchmarks/segment_seams.py [--model=SNAPSHOT] [--overlaps=0,4,20,36,41]
       [--crops=4] [--chunk-timing] [--png=seams.png]
Without --model a seeded untrained network (fast geometry, width 0.125) is measured; its border effects are
real, its magnitudes are not a trained model's.
"""

import json
import time
from pathlib import Path

import click
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SLIDE = ROOT / "data" / "sample" / "CMU-1-Small-Region.svs"
BAND = 8  # px on each side of a window edge


def single_window(net, image: np.ndarray, input_size: int, output_size: int, extra: int = 64) -> np.ndarray:
    """NP probability of one window over the whole reflect-padded image: [H, W]."""
    import torch

    from thygan.segment.predict import NET_STRIDE

    h, w = image.shape[:2]
    margin = (input_size - output_size) // 2
    for e in range(extra, extra + 64, NET_STRIDE):  # whole strides: the tiled windows' subsampling grid
        side = max(h, w) + 2 * (margin + e)
        try:
            if net.output_size(side) == max(h, w) + 2 * e:
                break
        except ValueError:
            continue
    else:
        raise RuntimeError(f"no single window fits a {h} x {w} crop")
    pad = margin + e
    padded = np.pad(image, ((pad, side - h - pad), (pad, side - w - pad), (0, 0)), mode="reflect")
    with torch.no_grad():
        out = net.eval()(torch.from_numpy(padded).permute(2, 0, 1)[None].float() / 255)
    return torch.softmax(out["np"], 1)[0, 1, e:e + h, e:e + w].numpy()


@click.command()
@click.option("--model", metavar="PATH", type=click.Path(exists=True, dir_okay=False),
              help="A segment snapshot (e.g. from benchmarks/segment_cpu.py). Default: seeded untrained network.")
@click.option("--overlaps", default="0,4,20,36,41", show_default=True, metavar="PX,...", help="Overlaps to measure.")
@click.option("--crops", default=4, show_default=True, type=click.IntRange(min=1), help="Crops of the slide.")
@click.option("--blend", default="gaussian", show_default=True, type=click.Choice(["gaussian", "constant"]),
              help="Blending of overlapping windows.")
@click.option("--threads", default=1, show_default=True, help="torch threads.")
@click.option("--chunk-timing", is_flag=True,
              help="Also time predict_maps on one slide-mode chunk (2304 px) per overlap (CPU and wall seconds).")
@click.option("--png", metavar="PATH", type=click.Path(dir_okay=False),
              help="Also save |difference| maps (first crop, one panel per overlap).")
def main(model, overlaps, crops, blend, threads, chunk_timing, png):
    import torch

    from thygan.data.tiling import Box, SlideSource, grid_boxes, tissue_fraction, tissue_threshold
    from thygan.segment.networks import HoVerNet
    from thygan.segment.predict import near_window_edges, predict_maps, window_count
    from thygan.segment.weights import load_model

    torch.set_num_threads(threads)
    if model:
        net, input_size, _ = load_model(model)
    else:
        torch.manual_seed(0)
        net, input_size = HoVerNet(mode="fast", width=0.125, blocks=(1, 1, 1, 1)), 256
    net.eval()
    output_size = net.output_size(input_size)
    size = 3 * output_size
    src = SlideSource(SLIDE)
    threshold = tissue_threshold(src.thumbnail())
    boxes = [Box(b.x, b.y, b.size) for b in grid_boxes(src.width, src.height, size)]
    images = [src.read(b) for b in boxes]
    order = np.argsort([-tissue_fraction(im, threshold) for im in images], kind="stable")[:crops]
    images = [images[i] for i in order]
    references = [single_window(net, im, input_size, output_size) for im in images]
    rows, panels = [], []
    interior_frame = np.zeros((size, size), bool)
    interior_frame[BAND:-BAND, BAND:-BAND] = True
    for overlap in (int(v) for v in overlaps.split(",")):
        near = near_window_edges(size, size, output_size, overlap, BAND)
        band, inside = near & interior_frame, ~near & interior_frame
        diffs, agree, seconds = [], [], 0.0
        for im, ref in zip(images, references):
            start = time.perf_counter()
            prob = predict_maps(net, im, input_size=input_size, output_size=output_size, overlap=overlap,
                                blend=blend).np_prob
            seconds += time.perf_counter() - start
            diffs.append(np.abs(prob - ref))
            agree.append(((prob >= 0.5) == (ref >= 0.5))[interior_frame].mean())
        d = np.stack(diffs)
        if chunk_timing:
            chunk = src.read(Box(0, 0, 2304))
            cpu, wall = time.process_time(), time.perf_counter()
            predict_maps(net, chunk, input_size=input_size, output_size=output_size, overlap=overlap, blend=blend)
            chunk_seconds = {"chunk_cpu_s": time.process_time() - cpu, "chunk_wall_s": time.perf_counter() - wall}
        row = {"overlap_px": overlap, "blend": blend, "band": float(d[:, band].mean()),
               "interior": float(d[:, inside].mean()), "all": float(d[:, interior_frame].mean()),
               "agree_at_0.5": float(np.mean(agree)),
               "windows_per_crop": window_count(size, size, output_size, overlap),
               "windows_per_slide_chunk": window_count(2304, 2304, output_size, overlap),
               "seconds_per_crop": seconds / len(images), **(chunk_seconds if chunk_timing else {})}
        rows.append(row)
        panels.append(diffs[0])
        print(json.dumps(row))
    if png:
        from PIL import Image

        scale = 255 / max(float(np.percentile(np.stack(panels), 99.5)), 1e-6)
        gap = np.full((size, 8), 255, np.uint8)
        strip = [np.clip(p * scale, 0, 255).astype(np.uint8) for p in panels]
        Image.fromarray(np.concatenate(sum(([s, gap] for s in strip), [])[:-1], 1)).save(png)
    print(f"model {model or 'untrained (seed 0)'}, {len(images)} crops of {size} px, windows {input_size} -> "
          f"{output_size}")


if __name__ == "__main__":
    main()
