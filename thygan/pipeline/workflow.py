"""The workflow's steps in order: each builder returns its step (or a list of them for a family such as
``segment-infer``), or nothing where the pipeline file leaves it out.

Translation comes before segmentation (the pix2pix generator paints the pairs of segmentation recipes,
and the translated set is segmented), and the domain gap comes last (it measures the translated set).
"""

from collections.abc import Callable
from functools import partial

from thygan.pipeline import segmentation_steps as seg
from thygan.pipeline import steps
from thygan.pipeline import translation_steps as tr
from thygan.pipeline.steps import PipelineContext, Step

StepBuilder = Callable[[PipelineContext], "Step | list[Step] | None"]

STEP_BUILDERS: list[StepBuilder] = [
    steps.tiles_step, steps.external_tiles_step, steps.splits_step, steps.gan_data_step, steps.gan_train_step,
    steps.gan_fid_step, steps.gan_grid_step, steps.classifier_step,
    seg.pseudo_labels_step,
    *(partial(build, t=t) for t in (tr.MASKS, tr.STAIN) for build in (tr.train_step, tr.run_step, tr.eval_step)),
    seg.segment_cv_step, seg.segment_train_step, seg.segment_infer_steps, seg.segment_compare_step,
    steps.domain_gap_step,
]
# What --only takes (a family's name selects each of its steps), in order.
STEP_NAMES = ["tiles", "external-tiles", "splits", "gan-data", "gan-train", "gan-fid", "gan-grid", "classifier",
              "pseudo-labels", "masks-train", "masks-run", "masks-eval", "translate-train", "translate-run",
              "translate-eval", "segment-cv", "segment-train", "segment-infer", "segment-compare", "domain-gap",
              "report"]


def built_steps(builder: StepBuilder, ctx: PipelineContext) -> list[Step]:
    """A builder's steps as a list (none, one, or a family)."""
    made = builder(ctx)
    return [] if made is None else made if isinstance(made, list) else [made]
