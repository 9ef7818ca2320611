"""StyleGAN2 custom ops in pure PyTorch (CPU and GPU, twice differentiable); see impl_report for paths."""
