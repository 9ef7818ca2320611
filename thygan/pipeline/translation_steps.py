"""The pipeline's image-translation steps: ``thygan translate train``, ``run`` and ``eval`` for each of
the two translators a pipeline file may hold:

- ``mask_translation`` (steps ``masks-train``, ``masks-run``, ``masks-eval``; results in
  ``OUTDIR/mask_translation/``): nucleus masks -> H&E by pix2pix, whose generator ``{mask_generator}``
  paints the ``pix2pix_masks`` pairs of segmentation recipes;
- ``translation`` (``translate-train``, ``translate-run``, ``translate-eval``; ``OUTDIR/translation/``):
  a stain translation such as CycleGAN IHC -> H&E, whose output ``{translated}`` later steps segment
  and place in the domain gap.

Without a ``dataroot`` the two image folders ``domain_a``/``domain_b`` are laid out as the command
expects (``trainA/``+``trainB/`` unaligned, ``A/``+``B/`` paired) by symbolic links in
``OUTDIR/<folder>/data``, so no image is copied.
"""

from dataclasses import dataclass
from pathlib import Path

from thygan.errors import UserError
from thygan.pipeline.config import TranslationSection
from thygan.pipeline.steps import PipelineContext, Step, flag


@dataclass(frozen=True)
class Translator:
    key: str                   # the pipeline file's section
    prefix: str                # step names: PREFIX-train, PREFIX-run, PREFIX-eval
    what: str                  # for the step titles

    def section(self, ctx: PipelineContext) -> TranslationSection | None:
        return getattr(ctx.config, self.key)

    def folder(self, ctx: PipelineContext) -> Path:
        return ctx.outdir / self.key

    def translated(self, ctx: PipelineContext) -> Path:
        return self.folder(ctx) / "translated"


MASKS = Translator("mask_translation", "masks", "nucleus masks -> H&E")
STAIN = Translator("translation", "translate", "stain translation")


def _paired(section: TranslationSection) -> bool:
    return section.dataset_mode == "paired" or (section.dataset_mode is None and section.model == "pix2pix")


def _link(link: Path, target: Path) -> None:
    """``link`` -> ``target`` (a folder), replacing an earlier link; a real folder there is refused."""
    if link.is_symlink():
        if Path(link.readlink()) == target:
            return
        link.unlink()
    elif link.exists():
        raise UserError(f"pipeline: {link} exists and is not a link made by the pipeline; move it away")
    link.symlink_to(target, target_is_directory=True)


def dataroot(ctx: PipelineContext, t: Translator, section: TranslationSection) -> Path:
    """The --dataroot: the file's, or OUTDIR/<folder>/data linking domain_a and domain_b."""
    if section.dataroot:
        return Path(ctx.fill(section.dataroot, f"{t.key}.dataroot"))
    root = t.folder(ctx) / "data"
    names = ("A", "B") if _paired(section) else ("trainA", "trainB")
    if not ctx.dry_run:
        root.mkdir(parents=True, exist_ok=True)
        for name, domain, key in zip(names, (section.domain_a, section.domain_b), ("domain_a", "domain_b")):
            _link(root / name, Path(ctx.fill(domain, f"{t.key}.{key}")).resolve())
    return root


def train_step(ctx: PipelineContext, t: Translator) -> Step | None:
    section = t.section(ctx)
    if section is None or section.network:
        return None
    mode = section.dataset_mode or ("paired" if _paired(section) else None)
    args = ["translate", "train", f"--dataroot={dataroot(ctx, t, section)}", f"--outdir={t.folder(ctx) / 'runs'}",
            f"--name={t.key}", f"--model={section.model}", *flag("dataset_mode", mode),
            *flag("mask_types", section.mask_types or None), *flag("netG", section.netG),
            f"--ngf={section.ngf}", f"--ndf={section.ndf}", f"--n_epochs={section.n_epochs}",
            f"--n_epochs_decay={section.n_epochs_decay}", f"--batch_size={section.batch_size}",
            f"--lr={section.lr:g}", f"--load_size={section.load_size}", f"--crop_size={section.crop_size}",
            f"--preprocess={section.preprocess}", f"--device={ctx.config.device}", *section.extra]
    epochs = section.n_epochs + section.n_epochs_decay
    return Step(f"{t.prefix}-train", f"Train {section.model} for {t.what} ({epochs} epochs)", args)


def run_step(ctx: PipelineContext, t: Translator) -> Step | None:
    section = t.section(ctx)
    if section is None or not section.translate:
        return None
    source = ctx.fill(section.translate, f"{t.key}.translate")
    which = [f"--which={section.which}"] if section.model == "cycle_gan" else []  # pix2pix: its one G
    return Step(f"{t.prefix}-run", f"Translate {source} ({t.what})",
                ["translate", "run", f"--network={ctx.made(f'{t.prefix}-train', section.network)}",
                 f"--source={source}", f"--out={t.translated(ctx)}", *which, f"--batch={section.batch}",
                 f"--device={ctx.config.device}"], rewrites=[t.translated(ctx)])


def eval_step(ctx: PipelineContext, t: Translator) -> Step | None:
    section = t.section(ctx)
    if section is None or not section.translate or not section.metrics:
        return None
    real = flag("real", section.real and ctx.fill(section.real, f"{t.key}.real"))
    target = flag("target", section.target and ctx.fill(section.target, f"{t.key}.target"))
    # translate eval shows --source as images; masks (mask_types) would show as black tiles, so they are left out.
    source = [] if section.mask_types else [f"--source={ctx.fill(section.translate, f'{t.key}.translate')}"]
    return Step(f"{t.prefix}-eval", f"Score the translations ({section.metrics}) and draw a grid",
                ["translate", "eval", f"--fake={t.translated(ctx)}", *real, *target, *source,
                 f"--outdir={t.folder(ctx) / 'eval'}", f"--metrics={section.metrics}",
                 f"--device={ctx.config.device}"])
