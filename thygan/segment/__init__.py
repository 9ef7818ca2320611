"""HoVer-Net nucleus segmentation on MONAI: model, targets, post-processing, inference, stats."""
