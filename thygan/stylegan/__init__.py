"""StyleGAN2-ADA: networks, presets, losses, augmentation and the training loop."""
