"""The source kinds, by the name a recipe entry gives in ``"kind"``. Adding a kind = its module + one line."""

from dnnlib import Registry
from thygan.sources.gan import GanSource

SOURCE_KINDS = Registry("synthetic source kind")
SOURCE_KINDS.register("gan", GanSource)  # the thyroid study's gan_params (the default kind)
DEFAULT_KIND = "gan"
