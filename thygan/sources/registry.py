"""The source kinds, by the name a recipe entry gives in ``"kind"``. Adding a kind = its module + one line."""

from dnnlib import Registry
from thygan.sources.gan import GanSource
from thygan.sources.pix2pix_masks import Pix2PixMasksSource
from thygan.sources.pseudo_labelled import PseudoLabelledSource
from thygan.sources.translated import TranslatedSource

SOURCE_KINDS = Registry("synthetic source kind")
SOURCE_KINDS.register("gan", GanSource)  # the thyroid study's gan_params (the default kind)
SOURCE_KINDS.register("pix2pix_masks", Pix2PixMasksSource)  # sampled masks -> H&E pairs (segmentation)
SOURCE_KINDS.register("translated", TranslatedSource)  # labelled tiles translated, masks kept (segmentation)
SOURCE_KINDS.register("pseudo_labelled", PseudoLabelledSource)  # confident HoVer-Net predictions (segmentation)
DEFAULT_KIND = "gan"
