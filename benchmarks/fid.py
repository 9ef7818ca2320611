"""FID Inception throughput (images/s by batch size) and peak memory of a streaming FID pass by image count.

    python benchmarks/fid.py                      # short run: 16 timed images per batch size, N = 64, 256
    python benchmarks/fid.py --images 256 --counts 1000,10000   # the full run (hours on a 2-core CPU)

Images are random uint8 tiles made batch by batch (never all in memory), so the memory rows measure the
pass itself: detector + running mean/covariance (thygan.metrics.statistics.MeanCov). Each count runs in
a fresh process and reports that process's peak RSS; a streaming pass must not grow with N.
Numbers go to stdout as markdown tables.
"""

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time

import numpy as np
import torch


class RandomTiles:
    """``count`` random images [3, size, size], made on demand from a seeded generator."""

    label, identity = "random", None

    def __init__(self, count: int, size: int):
        self.count, self.size = count, size

    def __len__(self) -> int:
        return self.count

    def batches(self, start: int, batch_size: int):
        for first in range(start, self.count, batch_size):
            n = min(batch_size, self.count - first)
            rng = np.random.RandomState(first)
            yield torch.from_numpy(rng.randint(0, 256, (n, 3, self.size, self.size), dtype=np.uint8))


def images_per_second(detector, *, batch: int, images: int, size: int) -> float:
    source = RandomTiles(batch * max(1, math.ceil(images / batch)), size)
    detector(next(source.batches(0, batch)))  # TorchScript profiles each new input shape on its first calls
    start = time.perf_counter()
    for x in source.batches(0, batch):
        detector(x)
    return len(source) / (time.perf_counter() - start)


def peak_memory_child(count: int, batch: int, size: int, device: str) -> dict:
    """Run one streaming FID pass of ``count`` images in a fresh process; returns its measurements."""
    command = [sys.executable, __file__, "--child", str(count), "--batch", str(batch), "--size", str(size),
               "--device", device]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM belongs to the current address space; ru_maxrss would also
    count the parent's peak, which a child inherits across fork."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(count: int, batch: int, size: int, device: str) -> None:
    from thygan.metrics.feature_pass import run_pass
    from thygan.metrics.inception import load_inception
    from thygan.metrics.statistics import MeanCov

    detector = load_inception(device=device)
    base_mb = peak_rss_mb()
    start = time.perf_counter()
    stats = run_pass(RandomTiles(count, size), detector, MeanCov(), batch_size=batch)
    seconds = time.perf_counter() - start
    peak_mb = peak_rss_mb()
    print(json.dumps({"count": stats.count, "seconds": seconds, "peak_mb": peak_mb,
                      "after_load_mb": base_mb}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="1,2,4,8,16,32,64", help="comma list of batch sizes")
    parser.add_argument("--images", type=int, default=16, help="timed images per batch size (>= 1 batch)")
    parser.add_argument("--counts", default="64,256", help="image counts of the memory runs")
    parser.add_argument("--batch", type=int, default=32, help="batch size of the memory runs")
    parser.add_argument("--size", type=int, default=256, help="tile size in pixels (resized to 299)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.batch, args.size, args.device)
        return

    from thygan.metrics.inception import load_inception

    detector = load_inception(device=args.device)
    print(f"device {args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{args.size}px tiles -> 299px, {args.images} timed images per batch size, "
          f"load average {os.getloadavg()[0]:.1f} at start\n")
    print("| batch | images/s | ms/image |")
    print("|---:|---:|---:|")
    for batch in [int(b) for b in args.batches.split(",")]:
        rate = images_per_second(detector, batch=batch, images=args.images, size=args.size)
        print(f"| {batch} | {rate:.2f} | {1000 / rate:.0f} |", flush=True)
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end of the table")
    print(f"\nStreaming FID pass (Inception + float64 running mean/covariance), batch {args.batch}, "
          f"one fresh process per row:\n")
    print("| images | seconds | peak RSS MB | peak RSS after loading the detector MB |")
    print("|---:|---:|---:|---:|")
    for count in [int(c) for c in args.counts.split(",")]:
        row = peak_memory_child(count, args.batch, args.size, args.device)
        print(f"| {row['count']} | {row['seconds']:.0f} | {row['peak_mb']:.0f} | "
              f"{row['after_load_mb']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
