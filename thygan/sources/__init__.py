"""Synthetic sources: images (and masks) a downstream training run adds to its real ones.

A recipe file (:mod:`thygan.sources.recipe`) lists sources; each has a *kind*, registered by name
in :data:`thygan.sources.registry.SOURCE_KINDS`: ``gan`` (classes and seeds of a conditional StyleGAN,
the thyroid study's gan_params schema, :mod:`thygan.sources.gan`) for the classifier, and for
segmentation the image + mask kinds ``pix2pix_masks`` (sampled masks painted by pix2pix),
``translated`` (labelled tiles translated, their masks kept) and ``pseudo_labelled`` (confident HoVer-Net
predictions on synthetic tiles), sharing :mod:`thygan.sources.pairs` (``yields_masks = True``; read by
:mod:`thygan.segment.synthetic`).
The consumer (the classifier; segmentation and translation next) reads a recipe, plans, checks,
then materialises; the reader itself never generates:

    from thygan.sources.recipe import read_recipe
    from thygan.sources.source import MaterialiseOptions

    recipe = read_recipe("data/gan_params/cv_bi100.json")      # validates the JSON only
    recipe.plan({0: 680, 1: 533})                              # {0: 510, 1: 400}: nothing generated
    recipe.check()                                             # networks and classes; still no image
    items = recipe.materialise(real_counts, MaterialiseOptions(cache_dir=Path("cache")))

The source-kind interface (:class:`thygan.sources.source.SyntheticSource`):

    from_entry(entry, context) -> source   parse and validate the entry (UserError names context.where)
    labels() -> set[int]                   downstream labels it can add
    plan(real_counts) -> {label: count}    what it will add, without generating
    check()                                what materialise needs (files, networks, classes)
    materialise(real_counts, options)      [SyntheticItem(path, label, name, mask)] in the cache,
                                           content-keyed (a file's digest, not its path), one log line
                                           per class or part with cached/generated counts
    image_side() -> int | None             side of its images where known beforehand (the classifier's
                                           crop is checked against it); default None
    describe() -> str                      a few words for log lines; default the kind

Adding a kind is one module and one registry line. A sketch of a pix2pix kind (mask -> image pairs):

    class Pix2PixSource(SyntheticSource):                          # thygan/sources/pix2pix.py
        kind = "pix2pix"

        @classmethod
        def from_entry(cls, entry, context):                       # {"network": ..., "masks": DIR, "label": 1}
            ...                                                    # validate keys and types only
        def labels(self):
            return {self.label}
        def plan(self, real_counts):
            return {self.label: len(self.mask_files)}
        def check(self):
            ...                                                    # network loads; masks are readable
        def materialise(self, real_counts, options):
            folder = options.cache_dir / f"{file_sha256(network)[:16]}-pix2pix"
            ...                                                    # image per mask, written atomically
            return [SyntheticItem(image, self.label, f"pix2pix/{image.name}", mask=mask) for ...]

    SOURCE_KINDS.register("pix2pix", Pix2PixSource)                # thygan/sources/registry.py

A kind imports the package that owns its model (``gan`` imports thygan.stylegan), so sources sit
above the model packages and below their consumers in the import order (README, Architecture).
"""
