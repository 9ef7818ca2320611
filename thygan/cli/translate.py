"""`thygan translate`: CycleGAN / pix2pix training, inference over folders and slides, evaluation, masks.

Sub-commands: ``train`` (the reference's train.py, same option names and defaults), ``run`` (its
test.py without the 50-image cap, crops or resizing), ``eval`` (BCI's evaluate.py plus FID/KID),
``import`` (a reference ``*_net_G*.pth`` into a safetensors checkpoint) and ``sample-masks`` (new
nucleus masks for mask -> H&E pairs).
"""

import dataclasses

import click

from thygan.cli.command import Command, LazyGroup
from thygan.cli.detector_options import detector_options

_HELP = {"help_option_names": ["-h", "--help"]}


def _option(name: str, type_, help_: str, *, default=None, metavar: str | None = None, flag: bool = False):
    """One reference-named option (``--lambda_A``), also spelt with hyphens (``--lambda-A``)."""
    names = [f"--{name}"] + ([f"--{name.replace('_', '-')}"] if "_" in name else [])
    if flag:
        return click.option(*names, name, is_flag=True, help=help_)
    if metavar is None and not isinstance(type_, click.Choice):
        metavar = {int: "INT", float: "FLOAT", str: "TEXT"}.get(type_, "VALUE") if not isinstance(
            type_, (click.IntRange, click.FloatRange)) else ("INT" if isinstance(type_, click.IntRange) else "FLOAT")
    return click.option(*names, name, type=type_, default=default, show_default=default not in (None, ""),
                        metavar=metavar, help=help_)


def _train_options(fn):
    """The reference's training options, with our defaults (None: the model's default)."""
    from thygan.translate.options import TranslateOptions

    d = {f.name: f.default for f in dataclasses.fields(TranslateOptions)}
    pos, prob = click.IntRange(min=1), click.FloatRange(min=0)
    table = [
        ("dataroot", click.Path(file_okay=False), "Data folder: trainA/ trainB/ (unaligned), train/ (aligned) or A/ B/ "
                                                  "(paired).", dict(metavar="DIR")),
        ("outdir", click.Path(file_okay=False), "Where numbered run folders are made (the reference's "
                                                "--checkpoints_dir).", dict(metavar="DIR")),
        ("name", str, "Run folder description.", {}),
        ("model", click.Choice(["cycle_gan", "pix2pix"]), "Model.", {}),
        ("input_nc", pos, "Channels of A (masks: set from --mask_types).", {}),
        ("output_nc", pos, "Channels of B.", {}),
        ("ngf", pos, "Generator filters in the first layer.", {}),
        ("ndf", pos, "Discriminator filters in the first layer.", {}),
        ("netD", click.Choice(["basic", "n_layers", "pixel"]), "Discriminator: basic = 70x70 PatchGAN.", {}),
        ("netG", click.Choice(["resnet_9blocks", "resnet_6blocks", "unet_256", "unet_128"]),
         "Generator [default: resnet_9blocks for cycle_gan, unet_256 for pix2pix].", {}),
        ("n_layers_D", pos, "Layers of the n_layers discriminator.", {}),
        ("norm", click.Choice(["instance", "batch", "none"]), "Normalisation [default: instance for cycle_gan, "
                                                                "batch for pix2pix].", {}),
        ("init_type", click.Choice(["normal", "xavier", "kaiming", "orthogonal"]), "Weight init.", {}),
        ("init_gain", prob, "Scale of the init.", {}),
        ("dataset_mode", click.Choice(["unaligned", "aligned", "paired"]), "Data layout [default: unaligned for "
                                                                             "cycle_gan, aligned for pix2pix].", {}),
        ("mask_types", click.IntRange(min=0), "A files are nucleus masks with this many types (paired mode); 0: "
                                              "images.", {}),
        ("direction", click.Choice(["AtoB", "BtoA"]), "Translation direction.", {}),
        ("num_threads", click.IntRange(min=0), "Data loader workers.", {}),
        ("batch_size", pos, "Images per step (per process).", {}),
        ("load_size", pos, "Scale images to this size (px).", {}),
        ("crop_size", pos, "Then crop to this size (px).", {}),
        ("max_dataset_size", pos, "Items per epoch at most [default: all].", {}),
        ("preprocess", click.Choice(["resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none"]),
         "Preprocessing at load time.", {}),
        ("phase", str, "Folder prefix (train -> trainA/, train/).", {}),
        ("epoch_count", pos, "Number of the first epoch (shifts the linear schedule).", {}),
        ("n_epochs", click.IntRange(min=0), "Epochs at the initial learning rate.", {}),
        ("n_epochs_decay", click.IntRange(min=0), "Epochs of linear decay to zero.", {}),
        ("beta1", click.FloatRange(0, 1), "Adam beta1.", {}),
        ("lr", prob, "Initial learning rate.", {}),
        ("gan_mode", click.Choice(["lsgan", "vanilla", "wgangp"]), "GAN objective [default: lsgan for cycle_gan, "
                                                                     "vanilla for pix2pix].", {}),
        ("lambda_gp", prob, "wgangp: gradient penalty weight (0 = the reference, which never applies it).", {}),
        ("pool_size", click.IntRange(min=0), "Generated images kept for D [default: 50 cycle_gan, 0 pix2pix].", {}),
        ("lr_policy", click.Choice(["linear", "step", "cosine"]), "Learning-rate policy.", {}),
        ("lr_decay_iters", pos, "step policy: epochs between x0.1.", {}),
        ("lambda_A", prob, "cycle_gan: weight of the A -> B -> A cycle loss.", {}),
        ("lambda_B", prob, "cycle_gan: weight of the B -> A -> B cycle loss.", {}),
        ("lambda_identity", prob, "cycle_gan: identity loss weight relative to lambda_A/B.", {}),
        ("lambda_L1", prob, "pix2pix: weight of the L1 loss.", {}),
        ("save_epoch_freq", pos, "Epochs between kept snapshots (the latest is always kept).", {}),
        ("print_freq", click.IntRange(min=0), "Images between TensorBoard loss points.", {}),
        ("seed", click.IntRange(min=0), "Seed of weights, data order, crops, pool and dropout.", {}),
    ]
    for name, type_, help_, extra in reversed(table):
        fn = _option(name, type_, help_, default=d[name], **extra)(fn)
    for name, help_ in reversed([("no_dropout", "No dropout in the generator (cycle_gan never uses it)."),
                                 ("serial_batches", "Take B in order (unaligned) and do not shuffle."),
                                 ("no_flip", "No random horizontal flips.")]):
        fn = _option(name, None, help_, flag=True)(fn)
    return fn


@click.group(cls=LazyGroup, name="translate", context_settings=_HELP)
def translate_command() -> None:
    """Image translation with CycleGAN (unpaired, e.g. IHC -> H&E) and pix2pix (paired, e.g. masks -> H&E)."""


@translate_command.command(cls=Command, name="train", context_settings=_HELP)
@_train_options
@click.option("--resume", metavar="RUN_DIR", type=click.Path(file_okay=False, exists=True),
              help="Continue the run in this folder from its newest snapshot (its options.json applies).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Where to train; auto = cuda when available.")
@click.option("--gpus", type=click.IntRange(min=1), default=1, show_default=True, metavar="INT",
              help="Processes, one per GPU (or sharing the CPU cores); under torchrun, its processes instead.")
@click.option("-n", "--dry-run", is_flag=True, help="Check the options and data, print them, and exit.")
def train_command(resume, device, gpus, dry_run, **kwargs):
    """Train CycleGAN or pix2pix (the reference's train.py options; checkpoints as safetensors).

    \b
    Examples:
      thygan translate train --dataroot ihc2he/ --name ihc2he --model cycle_gan
      thygan translate train --dataroot masks2he/ --model pix2pix --dataset_mode paired --mask_types 5
      thygan translate train --resume runs-translate/00003-ihc2he
      torchrun --nproc_per_node=4 -m thygan translate train --dataroot ihc2he/ --device cuda
    """
    import json

    from thygan.errors import UserError
    from thygan.translate.options import TranslateOptions, resolve_options
    from thygan.translate.training_loop import launch_training, make_dataset

    opts = TranslateOptions(device=device, **kwargs)
    if resume is None and not opts.dataroot:
        raise UserError("--dataroot: give the data folder (or --resume RUN_DIR)")
    if dry_run:
        resolved = resolve_options(opts)
        dataset = make_dataset(resolved)
        print(json.dumps(resolved.to_dict(), indent=2))
        print(f"{len(dataset)} items per epoch; dry run, exiting.")
        return
    run_dir = launch_training(opts, resume=resume, gpus=gpus)
    print(f"Run folder: {run_dir}")


@translate_command.command(cls=Command, name="run", context_settings=_HELP)
@click.option("--network", required=True, metavar="PATH", type=click.Path(dir_okay=False),
              help="A translate snapshot (.safetensors/.json) or a reference *_net_G*.pth.")
@click.option("--source", required=True, metavar="PATH", type=click.Path(),
              help="Folder or zip of images, one image, or a slide; for a generator trained with --mask_types "
                   "a folder (or file) of masks: .png type maps, .npz, .npy, as training reads them.")
@click.option("--out", required=True, metavar="PATH", type=click.Path(),
              help="Output folder; for a slide also a .tif/.tiff path (tiled pyramidal TIFF).")
@click.option("--which", type=click.Choice(["G_A", "G_B", "G"]), default="G_A", show_default=True,
              help="Generator of a CycleGAN snapshot: G_A translates A -> B, G_B B -> A.")
@click.option("--netG", "netG", type=click.Choice(["resnet_9blocks", "resnet_6blocks", "unet_256", "unet_128"]),
              default=None, help="Expected generator; a file holding another is refused [default: any].")
@click.option("--tile", type=click.IntRange(min=16), default=512, show_default=True, metavar="PX",
              help="Tile side for slides and for images larger than this.")
@click.option("--overlap", type=click.IntRange(min=0), default=64, show_default=True, metavar="PX",
              help="Overlap of neighbouring tiles; blended so no seams show.")
@click.option("--batch", "batch_size", type=click.IntRange(min=1), default=4, show_default=True, metavar="INT",
              help="Images or tiles per generator call.")
@click.option("--level", type=click.IntRange(min=0), default=None, metavar="INT",
              help="Slides: pyramid level to translate [default: 0].")
@click.option("--magnification", type=click.FloatRange(min=0, min_open=True), default=None, metavar="X",
              help="Slides: target objective power instead of --level.")
@click.option("--overwrite", is_flag=True, help="Redo outputs that exist (default: skip them, i.e. resume).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Where to run; auto = cuda when available.")
def run_command(**kwargs):
    """Translate every image of a folder or zip, a whole slide (tiled, blended seams), or masks (mask -> H&E).

    \b
    Examples:
      thygan translate run --network run/translate-snapshot-000200.safetensors --source testA/ --out fakeB/
      thygan translate run --network latest_net_G_A.pth --source slide.svs --out slide_he.tif
      thygan translate run --network masks2he/translate-snapshot-000200.safetensors --source test_masks/ --out fakeHE/
    """
    from thygan.translate.run_job import RunJob, run_translation

    written = run_translation(RunJob(**kwargs))
    print(f"{len(written)} file(s) written under {kwargs['out']}")


@translate_command.command(cls=Command, name="eval", context_settings=_HELP)
@click.option("--fake", required=True, metavar="DIR", type=click.Path(),
              help="Translated images (folder or zip).")
@click.option("--real", metavar="DIR", type=click.Path(),
              help="True targets with matching names (PSNR/SSIM) [default: *_real_B beside *_fake_B in --fake].")
@click.option("--target", metavar="DIR", type=click.Path(),
              help="Target-domain images for FID/KID [default: --real].")
@click.option("--source", metavar="DIR", type=click.Path(),
              help="The inputs, shown as the first column of grid.png.")
@click.option("--outdir", default="translate-eval", show_default=True, metavar="DIR", type=click.Path(file_okay=False),
              help="Where scores.csv, summary.json and grid.png go.")
@click.option("--metrics", default="psnr,ssim", show_default=True, metavar="LIST",
              help="Comma list of psnr, ssim, fid, kid (FID/KID over all images: fid<N>_full, kid<N>_full).")
@click.option("--grid-rows", "grid_rows", type=click.IntRange(min=0), default=8, show_default=True, metavar="INT",
              help="Image pairs shown in grid.png.")
@detector_options
def eval_command(**kwargs):
    """Score translations: PSNR/SSIM as the BCI evaluator, FID/KID, a grid and per-image CSV.

    \b
    Examples:
      thygan translate eval --fake fakeB/ --real testB/ --outdir scores/
      thygan translate eval --fake results/bci/test_latest/images --metrics psnr,ssim
      thygan translate eval --fake fakeB/ --target he_tiles/ --metrics kid,fid
    """
    import json

    from thygan.translate.evaluate import EvalJob, run_eval

    print(json.dumps(run_eval(EvalJob(**kwargs)), indent=2))


@translate_command.command(cls=Command, name="import", context_settings=_HELP)
@click.option("--pth", required=True, metavar="PATH", type=click.Path(dir_okay=False),
              help="Reference generator state dict, e.g. latest_net_G_A.pth (read with weights_only=True).")
@click.option("--out", required=True, metavar="STEM", type=click.Path(),
              help="Output checkpoint: STEM.safetensors + STEM.json.")
@click.option("--netG", "netG", type=click.Choice(["resnet_9blocks", "resnet_6blocks", "unet_256", "unet_128"]),
              default=None, help="Expected generator; another is refused [default: recognised from the file].")
@click.option("--dropout/--no-dropout", default=False, show_default=True,
              help="U-Nets: the file was trained with dropout (pix2pix); the keys cannot tell.")
def import_command(pth, out, netG, dropout):
    """Convert a reference CycleGAN/pix2pix generator .pth into a thygan safetensors checkpoint."""
    from thygan.translate.generator_file import import_reference_generator, save_generator
    from thygan.translate.networks import generator_name

    G = import_reference_generator(pth, netG=netG, prefer_dropout=dropout)
    path = save_generator(out, G, extra={"imported_from": str(pth)})
    print(f"{generator_name(G)} (norm {G.init_kwargs['norm']}) -> {path}")


@translate_command.command(cls=Command, name="sample-masks", context_settings=_HELP)
@click.option("--masks", required=True, metavar="DIR", type=click.Path(file_okay=False, exists=True),
              help="Real masks (.png type maps, .npz inst_map+inst_type, PanNuke .npy).")
@click.option("--out", required=True, metavar="DIR", type=click.Path(file_okay=False),
              help="Where the new masks (.npz) and their colour previews (.png) go.")
@click.option("--mask_types", "--mask-types", "mask_types", type=click.IntRange(min=1), default=5,
              show_default=True, metavar="INT", help="Number of nucleus types (PanNuke: 5).")
@click.option("--count", type=click.IntRange(min=1), default=100, show_default=True, metavar="INT",
              help="Masks to draw.")
@click.option("--size", type=click.IntRange(min=8), default=256, show_default=True, metavar="PX",
              help="Side of each new mask.")
@click.option("--retype", type=click.FloatRange(0, 1), default=0.3, show_default=True, metavar="P",
              help="Chance a placed nucleus gets a new type (drawn from the real type frequencies).")
@click.option("--gap", type=click.IntRange(min=0), default=1, show_default=True, metavar="PX",
              help="Minimum distance between nuclei.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, metavar="INT",
              help="Mask k uses seed + k.")
def sample_masks_command(masks, out, mask_types, count, size, retype, gap, seed):
    """Draw new nucleus masks by rearranging, rotating and re-typing real nuclei (no overlaps)."""
    from thygan.translate.mask_sampler import sample_mask_folder

    written = sample_mask_folder(masks, out, num_types=mask_types, count=count, size=size, retype_prob=retype,
                                 gap=gap, seed=seed)
    print(f"{len(written)} masks written to {out}")
