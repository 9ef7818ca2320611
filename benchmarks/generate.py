"""Images per second of the generator at 256 px on this machine: batch 1 against batched generation.

    python benchmarks/generate.py                  # auto@256 config (the reference's 1-GPU 256 px G)
    python benchmarks/generate.py --images 32 --batches 1,4,8,16

Weights are random (speed does not depend on them); the network is the one `--cfg=auto` builds for
a 256 px conditional dataset with 2 classes. Numbers go to stdout as a markdown table.
"""

import argparse
import time

import torch

from thygan.stylegan.networks import Generator
from thygan.stylegan.presets import network_kwargs, resolve_preset
from thygan.stylegan.sampling import synthesize


def images_per_second(G: torch.nn.Module, *, images: int, batch: int, device: torch.device) -> float:
    seeds = list(range(images))
    list(synthesize(G, seeds[:batch], 0, batch_size=batch, device=device))  # warm-up
    start = time.perf_counter()
    list(synthesize(G, seeds, 0, batch_size=batch, device=device))
    return images / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--images", type=int, default=16, help="images per measurement")
    parser.add_argument("--batches", default="1,4,8,16", help="comma list of batch sizes")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    preset = resolve_preset("auto", resolution=args.resolution)
    G_kwargs, _ = network_kwargs(preset, resolution=args.resolution, c_dim=2)
    G = Generator(**G_kwargs).eval().requires_grad_(False).to(device)
    print(f"device {device}, torch threads {torch.get_num_threads()}, {args.resolution}px auto G, "
          f"{sum(p.numel() for p in G.parameters()):,} parameters, {args.images} images per row\n")
    print("| batch | images/s | s/image | speed-up vs batch 1 |")
    print("|---:|---:|---:|---:|")
    base = None
    for batch in [int(b) for b in args.batches.split(",")]:
        rate = images_per_second(G, images=args.images, batch=batch, device=device)
        base = base or rate
        print(f"| {batch} | {rate:.2f} | {1 / rate:.3f} | {rate / base:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
