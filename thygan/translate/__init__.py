"""Image translation: CycleGAN (unpaired) and pix2pix (paired, masks -> H&E), training, inference, evaluation."""
