"""Image-quality metrics (FID, KID, precision/recall, IS) registered by their reference names."""
