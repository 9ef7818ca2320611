"""Per-seed latents and noise generators: row k depends on seed k only."""

import numpy as np
import torch

from torch_utils.seeding import seed_generators, seed_latents


def test_latents_are_the_reference_normals_of_each_seed():
    z = seed_latents([3, 0, 3], 6)
    assert z.dtype == torch.float32 and z.shape == (3, 6)
    expected = np.random.RandomState(3).randn(6).astype(np.float32)
    assert torch.equal(z[0], torch.from_numpy(expected)) and torch.equal(z[0], z[2])
    assert torch.equal(seed_latents([0], 6)[0], z[1])  # not tied to the batch it was drawn in


def test_generators_draw_per_seed_whatever_the_batch():
    first = [torch.randn(4, generator=g) for g in seed_generators([5, 9], "cpu")]
    alone = torch.randn(4, generator=seed_generators([9], "cpu")[0])
    assert torch.equal(first[1], alone) and not torch.equal(first[0], first[1])
    assert torch.equal(first[0], torch.randn(4, generator=torch.Generator().manual_seed(5)))
