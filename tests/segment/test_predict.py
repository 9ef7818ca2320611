"""Tiled prediction equals one pass over the whole image: no seam."""

import numpy as np
import torch

from tests.segment.conftest import TINY
from thygan.segment.networks import HoVerNet
from thygan.segment.predict import predict_maps


def test_stitching_places_each_window_output(tile_and_instances):
    """Every output pixel is the centre output of the window around it, on the reflect-padded image."""
    image, _ = tile_and_instances
    image = image[:100, :90]
    torch.manual_seed(0)
    net = HoVerNet(nr_types=3, **TINY).eval()
    maps = predict_maps(net, image, input_size=128, output_size=36, batch_size=5)
    assert maps.np_prob.shape == (100, 90) and maps.tp.shape == (100, 90)
    margin = (128 - 36) // 2
    padded = np.pad(image, ((margin, margin + 8), (margin, margin + 18), (0, 0)), mode="reflect")
    for r in (0, 36, 72):
        for c in (0, 36, 72):
            x = torch.from_numpy(padded[r:r + 128, c:c + 128].copy()).permute(2, 0, 1)[None].float() / 255
            with torch.no_grad():
                out = net(x)
            want_np = torch.softmax(out["np"], 1)[0, 1].numpy()
            h, w = min(36, 100 - r), min(36, 90 - c)
            np.testing.assert_allclose(maps.np_prob[r:r + h, c:c + w], want_np[:h, :w], atol=1e-4)
            np.testing.assert_allclose(maps.hv[:, r:r + h, c:c + w], out["hv"][0, :, :h, :w].numpy(), atol=1e-4)
            want_tp = torch.softmax(out["tp"], 1)[0, :, :h, :w].numpy()
            np.testing.assert_allclose(maps.tp_prob[:, r:r + h, c:c + w], want_tp, atol=1e-4)


def test_any_image_size():
    net = HoVerNet(**TINY).eval()
    maps = predict_maps(net, np.full((50, 83, 3), 128, np.uint8), input_size=128, output_size=36)
    assert maps.np_prob.shape == (50, 83) and maps.hv.shape == (2, 50, 83) and maps.tp is None
