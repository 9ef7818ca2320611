"""thygan: class-conditional StyleGAN2-ADA and the downstream workflow for computational pathology."""

__version__ = "0.1.0"
