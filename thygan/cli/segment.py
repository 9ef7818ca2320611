"""`thygan segment`: HoVer-Net nucleus segmentation (train, infer tile|wsi, stats, compare, pseudo-labels)."""

import json

import click

from thygan.cli.option_group import with_options
from thygan.cli.segment_compare import compare_command
from thygan.cli.split_dataset import slide_resolution_options

CONTEXT = {"help_option_names": ["-h", "--help"]}


def _int_pair(ctx, param, value):
    if value is None:
        return None
    try:
        parts = [int(v) for v in str(value).split(",")]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or min(parts) < 0:
        raise click.BadParameter(f"expected N or N1,N2 (phase 1, phase 2), got {value!r}")
    return parts


device_option = click.option("--device", default="auto", show_default=True, metavar="DEV",
                             help="'auto', 'cpu', 'cuda' or 'cuda:N'.")


def model_options(function):
    """--model / --mode / --nr-types / --type-info / --batch-size / --device, shared by the infer commands."""
    options = [
        click.option("--model", "model_path", required=True, metavar="PATH", type=click.Path(dir_okay=False),
                     help="hovernet-snapshot-*.safetensors from `thygan segment train`, or a reference "
                          "hovernet_*_tf2pytorch.tar."),
        click.option("--mode", type=click.Choice(["original", "fast"]), default=None,
                     help="Expected model mode; a checkpoint of the other mode is refused. Default: the file's."),
        click.option("--nr-types", type=click.IntRange(min=0), default=None, metavar="N",
                     help="Expected number of types (with background). Default: the file's."),
        click.option("--type-info", type=click.Path(dir_okay=False, exists=True), metavar="JSON",
                     help="type_info.json {id: [name, [r, g, b]]}. Default: PanNuke's for 6 types, else 'hot'."),
        click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True, metavar="N",
                     help="Windows per forward pass."),
        device_option,
    ]
    return with_options(function, options)


def _overlap(ctx, param, value):
    if value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise click.BadParameter(f"expected 'auto' or a number of pixels, got {value!r}") from None


def window_options(function):
    """--overlap / --blend, shared by the infer commands."""
    options = [
        click.option("--overlap", default="auto", show_default=True, callback=_overlap, metavar="PX|auto",
                     help="Overlap of neighbouring windows' output regions, blended. 0: the reference's tiling; "
                          "auto: >= 16 px with a step that is a multiple of the network's stride of 8 (20 px fast, "
                          "16 px original), which removes the seams."),
        click.option("--blend", type=click.Choice(["gaussian", "constant"]), default="gaussian", show_default=True,
                     help="Weights of overlapping windows: gaussian (falling off towards a window's edge) or equal."),
    ]
    return with_options(function, options)


def _load(model_path, mode, nr_types, type_info, device):
    from thygan.device import pick_device
    from thygan.segment.overlay import read_type_info
    from thygan.segment.weights import load_model

    device = pick_device(device)
    net, input_size, extra = load_model(model_path, mode=mode, nr_types=nr_types)
    net.to(device)
    output_size = net.output_size(input_size)
    info = read_type_info(type_info or extra.get("type_info"), net.nr_types) if net.nr_types else None
    return net, input_size, output_size, info, device


def _blocks(ctx, param, value):
    try:
        parts = [int(b) for b in str(value).split(",")]
    except ValueError:
        parts = []
    if len(parts) != 4 or min(parts) < 1:
        raise click.BadParameter(f"expected four integers like 3,4,6,3, got {value!r}")
    return parts


recipe_cache_option = click.option(
    "--recipe-cache", metavar="DIR", type=click.Path(file_okay=False), default=None,
    help="Content-keyed cache of the recipe's pairs, shared by runs. Default: OUTDIR/synthetic_cache.")


def hovernet_training_options(function):
    """The network and schedule options of `segment train` (--mode ... --device), shared with `segment-cv`."""
    options = [
        click.option("--mode", type=click.Choice(["original", "fast"]), default="original", show_default=True,
                     help="original: 270 -> 80 px (CoNSeP, Kumar, CPM-17); fast: 256 -> 164 px (PanNuke, MoNuSAC)."),
        click.option("--nr-types", type=click.IntRange(min=0), default=0, show_default=True, metavar="N",
                     help="Nucleus types including background (CoNSeP merged: 5, PanNuke: 6); 0 = segmentation only."),
        click.option("--type-map", metavar="MAP", default=None,
                     help="Renumber type ids on reading: 'consep' (hover_net's merge {3,4}->3, {5,6,7}->4, with "
                          "--nr-types=5) or pairs like 4=3,5=4."),
        click.option("--width", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
                     metavar="X", help="Channel multiplier; below 1 a narrow network for CPUs (e.g. 0.375)."),
        click.option("--blocks", default="3,4,6,3", show_default=True, callback=_blocks, metavar="N,N,N,N",
                     help="Residual units per encoder group (1,1,1,1 for a quick CPU model)."),
        click.option("--input-size", type=click.IntRange(min=32), default=None, metavar="PX",
                     help="Input window side. Default: 270 (original) or 256 (fast)."),
        click.option("--epochs", default="50,50", show_default=True, callback=_int_pair, metavar="N1,N2",
                     help="Epochs of phase 1 (encoder frozen) and phase 2 (all layers)."),
        click.option("--batch", default="16,4", show_default=True, callback=_int_pair, metavar="B1,B2",
                     help="Batch size in phase 1 and phase 2."),
        click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=1e-4, show_default=True, metavar="LR",
                     help="Adam learning rate at the start of each phase."),
        click.option("--lr-step", type=click.IntRange(min=1), default=25, show_default=True, metavar="EPOCHS",
                     help="Epochs between 10x learning-rate decays within a phase."),
        click.option("--patches-per-epoch", type=click.IntRange(min=1), default=None, metavar="N",
                     help="Random training windows per epoch. Default: one per output-size cell of the images."),
        click.option("--pretrained", metavar="FILE", type=click.Path(dir_okay=False, exists=True),
                     help="ImageNet ResNet-50 encoder weights (a local file; nothing is downloaded)."),
        click.option("--pretrained-layout", type=click.Choice(["preact", "torchvision"]), default="preact",
                     show_default=True, help="preact: hover_net's ImageNet-ResNet50-Preact_pytorch.tar."),
        click.option("--seed", type=click.IntRange(min=0), default=10, show_default=True, metavar="INT",
                     help="Random seed."),
        click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True, metavar="N",
                     help="Data loader processes."),
        click.option("--msge-kernel", type=click.Choice(["reference", "monai"]), default="reference",
                     show_default=True,
                     help="Gradient kernels of the HV loss's MSGE term: reference = hover_net's unnormalised 5x5 "
                          "(its loss scale), monai = MONAI's normalised Sobel (~1/144 of it). Resumed runs keep "
                          "theirs."),
        device_option,
    ]
    return with_options(function, options)


@click.group(name="segment", context_settings=CONTEXT)
def segment_command():
    """HoVer-Net nucleus segmentation on MONAI: train, infer, score, make pseudo-labels."""


segment_command.add_command(compare_command)


@segment_command.command(name="train", context_settings=CONTEXT)
@click.option("--data", metavar="DIR", type=click.Path(file_okay=False),
              help="Training data: Images/ + Labels/ (.mat/.npy/.png), hover_net .npy patches or a PanNuke fold.")
@click.option("--valid", metavar="DIR", type=click.Path(file_okay=False),
              help="Held-out data in the same layouts; PQ, AJI and Dice in every epoch's log line.")
@click.option("--outdir", default="runs-segment", show_default=True, metavar="DIR", type=click.Path(file_okay=False),
              help="Parent folder of the numbered run folders.")
@click.option("--name", default="hovernet", show_default=True, metavar="TEXT", help="Run folder suffix.")
@hovernet_training_options
@click.option("--type-info", type=click.Path(dir_okay=False, exists=True), metavar="JSON",
              help="type_info.json for the overlay colours.")
@click.option("--gpus", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="Processes to spawn, one per GPU (gloo on CPU); the global --batch is split over them. "
                   "Under torchrun leave it at 1: torchrun starts the processes.")
@click.option("--recipe", metavar="JSON", default=None,
              help="Segmentation recipe: synthetic image + mask pairs (pix2pix_masks, translated, pseudo_labelled "
                   "sources) added to --data; see README, Segmentation recipes. Default: real images only.")
@recipe_cache_option
@click.option("--resume", metavar="RUN_DIR", type=click.Path(file_okay=False, exists=True),
              help="Continue this run folder from its newest snapshot (its options.json is used).")
@click.option("--stop-after-epochs", type=click.IntRange(min=1), default=None, metavar="N",
              help="Stop after N epochs of this call (the run stays resumable).")
@click.option("-n", "--dry-run", is_flag=True, help="Read the data and print the resolved options; train nothing.")
def train_command(data, valid, outdir, name, mode, nr_types, type_map, width, blocks, input_size, epochs, batch, lr,
                  lr_step, patches_per_epoch, pretrained, pretrained_layout, seed, workers, device, type_info, gpus,
                  recipe, recipe_cache, msge_kernel, resume, stop_after_epochs, dry_run):
    """Train HoVer-Net in the reference's two phases (replaces hover_net's config.py + run_train.py).

    \b
    Examples:
      thygan segment train --data=CoNSeP/Train --valid=CoNSeP/Test --mode=original --nr-types=5 \\
          --type-map=consep
      thygan segment train --data=pl/train --valid=pl/valid --mode=fast --width=0.125 \\
          --blocks=1,1,1,1 --epochs=3,3 --batch=4,4 --device=cpu
      thygan segment train --data=CoNSeP/Train --mode=original --nr-types=5 --type-map=consep --gpus=4
      torchrun --nproc_per_node=4 -m thygan segment train --data=CoNSeP/Train --nr-types=5 \\
          --type-map=consep
      thygan segment train --data=PanNuke/fold1 --nr-types=6 --recipe=data/segment_recipes/pannuke_pix2pix.json
    """
    import dataclasses

    from thygan.errors import UserError
    from thygan.segment.data import read_dataset
    from thygan.segment.training_loop import SegmentOptions, launch_training

    if resume:
        launch_training(SegmentOptions(), resume=resume, gpus=gpus, stop_after_epochs=stop_after_epochs)
        return
    if not data:
        raise UserError("--data: required (or --resume RUN_DIR)")
    opts = SegmentOptions(data=data, valid=valid, outdir=outdir, name=name, mode=mode, nr_types=nr_types,
                          type_map=type_map, width=width, blocks=blocks, input_size=input_size, epochs=epochs,
                          batch=batch, lr=lr,
                          lr_step=lr_step, patches_per_epoch=patches_per_epoch, pretrained=pretrained,
                          pretrained_layout=pretrained_layout, type_info=type_info, seed=seed, workers=workers,
                          device=device, recipe=recipe, recipe_cache=recipe_cache,
                          msge_kernel=msge_kernel).resolved()
    try:
        from thygan.segment.training_loop import build_network

        build_network(opts)
    except ValueError as exc:
        raise UserError(f"--width/--blocks: {exc}") from None
    planned = None
    if recipe or dry_run:
        from thygan.segment.data import parse_type_map
        from thygan.segment.synthetic import check_recipe

        samples = read_dataset(data, nr_types=nr_types, type_map=parse_type_map(type_map))
        checked = check_recipe(recipe, real_count=len(samples))  # before any folder, process or image
        planned = sum(checked[1].values()) if checked else 0
    if dry_run:
        click.echo(json.dumps(dataclasses.asdict(opts), indent=2))
        click.echo(f"{len(samples)} training images" + (f" + {planned} planned from the recipe" if recipe else "")
                   + "; dry run, nothing trained")
        return
    from torch_utils.launch import is_first_process

    run_dir = launch_training(opts, gpus=gpus, stop_after_epochs=stop_after_epochs)
    if is_first_process():
        click.echo(f"run folder: {run_dir}")


@segment_command.group(name="infer", context_settings=CONTEXT)
def infer_command():
    """Segment nuclei in tiles (`tile`) or whole slides (`wsi`), writing the reference's outputs."""


@infer_command.command(name="tile", context_settings=CONTEXT)
@model_options
@window_options
@click.option("--input-dir", required=True, metavar="DIR", type=click.Path(file_okay=False),
              help="Flat folder of png/jpg/tif tiles.")
@click.option("--output-dir", required=True, metavar="DIR", type=click.Path(file_okay=False),
              help="Gets json/, mat/, overlay/, geojson/ and qupath/.")
@click.option("--draw-dot", is_flag=True, help="Also draw each nucleus centroid in the overlays.")
@click.option("--save-qupath/--no-save-qupath", default=True, show_default=True, help="Write qupath/{name}.tsv.")
@click.option("--overwrite", is_flag=True,
              help="Redo tiles that have outputs (default: skip them, i.e. resume). Needed to replace outputs that "
                   "another model or other settings made (recorded in .thygan-settings.json).")
@click.option("--save-pannuke", is_flag=True,
              help="Also write pannuke/masks.npy [N, H, W, 6] (PanNuke's per-type instance channels + background), "
                   "images.npy and names.txt (row order), for `segment stats --mode=pannuke` and PanNuke-metrics. "
                   "Needs a 6-type PanNuke model and tiles of one size.")
def infer_tile_command(model_path, mode, nr_types, type_info, batch_size, device, overlap, blend, input_dir,
                       output_dir, draw_dot, save_qupath, overwrite, save_pannuke):
    """Segment every tile of a folder (replaces `python run_infer.py ... tile`).

    \b
    Example:
      thygan segment infer tile --model=hovernet_fast_pannuke_type_tf2pytorch.tar \\
          --type-info=type_info.json --input-dir=tiles/ --output-dir=out/ --save-pannuke
    """
    from pathlib import Path

    from thygan.data.image_files import folder_images
    from thygan.segment.infer import infer_tiles
    from thygan.segment.pannuke import check_tiles, write_pannuke

    net, input_size, output_size, info, device = _load(model_path, mode, nr_types, type_info, device)
    if save_pannuke and Path(input_dir).is_dir():  # before any tile is segmented
        check_tiles(folder_images(input_dir), net.nr_types)
    done = infer_tiles(net, input_dir, output_dir, input_size=input_size, output_size=output_size, type_info=info,
                       batch_size=batch_size, device=device, overlap=overlap, blend=blend, draw_dot=draw_dot,
                       save_qupath=save_qupath, overwrite=overwrite)
    click.echo(f"{len(done)} tiles segmented into {output_dir}")
    if save_pannuke:
        click.echo(f"PanNuke masks: {write_pannuke(output_dir, folder_images(input_dir)) / 'masks.npy'}")


@infer_command.command(name="wsi", context_settings=CONTEXT)
@model_options
@window_options
@click.option("--input", "input_path", required=True, metavar="PATH", type=click.Path(exists=True),
              help="A whole slide (svs, ndpi, mrxs, tiled tiff, ...) or a folder of them.")
@click.option("--output-dir", required=True, metavar="DIR", type=click.Path(file_okay=False),
              help="Gets json/, geojson/, qupath/ and cache/ (finished chunks, for resuming).")
@click.option("--input-mask-dir", metavar="DIR", type=click.Path(file_okay=False, exists=True),
              help="Tissue masks named like the slides (PNG). Default: Otsu tissue mask as the reference.")
@click.option("--chunk", type=click.IntRange(min=64), default=2048, show_default=True, metavar="PX",
              help="Chunk side processed at once: bounds the memory.")
@click.option("--margin", type=click.IntRange(min=0), default=128, show_default=True, metavar="PX",
              help="Context read around each chunk (the reference's ambiguous_size); nuclei are kept by centroid.")
@slide_resolution_options
@click.option("--save-mask", is_flag=True, help="Write mask/{slide}.png (the tissue mask).")
@click.option("--save-thumb", is_flag=True, help="Write thumb/{slide}.png (an overview).")
def infer_wsi_command(model_path, mode, nr_types, type_info, batch_size, device, overlap, blend, input_path,
                      output_dir,
                      input_mask_dir, chunk, margin, level, magnification, mpp, save_mask, save_thumb):
    """Segment nuclei in whole slides, chunk by chunk, resumable (replaces `python run_infer.py ... wsi`).

    \b
    Example:
      thygan segment infer wsi --model=hovernet_fast_pannuke_type_tf2pytorch.tar \\
          --input=slides/ --output-dir=out/ --magnification=40
    """
    from pathlib import Path

    from thygan.data.tiling import is_slide_file
    from thygan.errors import UserError
    from thygan.segment.infer import infer_slide

    path = Path(input_path)
    slides = sorted(p for p in path.iterdir() if is_slide_file(p)) if path.is_dir() else [path]
    if not slides:
        raise UserError(f"--input {path}: no whole slides openslide can read")
    net, input_size, output_size, info, device = _load(model_path, mode, nr_types, type_info, device)
    for slide in slides:
        mask = None
        if input_mask_dir:
            mask = next((p for p in Path(input_mask_dir).glob(f"{slide.stem}.*")), None)
            if mask is None:
                raise UserError(f"--input-mask-dir {input_mask_dir}: no mask named {slide.stem}.*")
        out = infer_slide(net, slide, output_dir, input_size=input_size, output_size=output_size, type_info=info,
                          batch_size=batch_size, device=device, overlap=overlap, blend=blend, chunk=chunk,
                          margin=margin, level=level,
                          magnification=magnification, mpp=mpp, mask_path=mask, save_mask=save_mask,
                          save_thumb=save_thumb)
        click.echo(f"{slide.name}: {out}")


@segment_command.command(name="stats", context_settings=CONTEXT)
@click.option("--mode", type=click.Choice(["instance", "type", "pannuke"]), default="instance", show_default=True,
              help="instance: Dice, Dice2, AJI, AJI+, DQ, SQ, PQ; type: F1_d and per-type F1 (12 px); "
                   "pannuke: mPQ/bPQ.")
@click.option("--pred-dir", required=True, metavar="DIR", type=click.Path(file_okay=False),
              help="Predictions: label files (.mat/.npy/.png) or PanNuke masks.npy.")
@click.option("--true-dir", required=True, metavar="DIR", type=click.Path(file_okay=False),
              help="Ground truth, paired by file name (PanNuke: masks.npy + types.npy).")
@click.option("--out", metavar="JSON", type=click.Path(dir_okay=False),
              help="Also write the scores (and per-image rows) to this JSON file.")
def stats_command(mode, pred_dir, true_dir, out):
    """Score predictions like the reference's compute_stats.py (and PanNuke-metrics' run.py).

    \b
    Examples:
      thygan segment stats --mode=instance --pred-dir=out/mat --true-dir=CoNSeP/Test/Labels
      thygan segment stats --mode=pannuke --pred-dir=pred_fold3 --true-dir="Fold 3"
    """
    from thygan.io.atomic import atomic_write_text
    from thygan.segment import evaluate

    rows = None
    if mode == "instance":
        scores, rows = evaluate.score_instances(pred_dir, true_dir)
    elif mode == "type":
        scores = evaluate.score_types(pred_dir, true_dir)
    else:
        scores = evaluate.score_pannuke(pred_dir, true_dir)
    click.echo("  ".join(f"{k} {v:.4f}" for k, v in scores.items()))
    if out:
        atomic_write_text(out, json.dumps({"mode": mode, "scores": scores, "images": rows}, indent=2) + "\n")


@segment_command.command(name="pseudo-labels", context_settings=CONTEXT)
@click.option("--source", required=True, metavar="FILE", type=click.Path(dir_okay=False),
              help="An H&E image or whole slide without nucleus labels.")
@click.option("--dest", required=True, metavar="DIR", type=click.Path(file_okay=False),
              help="Gets Images/, Labels/ (pseudo-label instance maps), overlay/ and pseudo_labels.json.")
@click.option("--tile-size", type=click.IntRange(min=32), default=256, show_default=True, metavar="PX",
              help="Tile side.")
@click.option("--min-tissue", type=click.FloatRange(0, 1), default=0.5, show_default=True, metavar="SHARE",
              help="Skip tiles with less tissue than this.")
@click.option("--limit", type=click.IntRange(min=1), default=None, metavar="N", help="At most N tiles.")
@slide_resolution_options
def pseudo_labels_command(source, dest, tile_size, min_tissue, limit, level, magnification, mpp):
    """Pseudo-labels (NOT ground truth): haematoxylin threshold + watershed nuclei, to train on unlabelled H&E.

    \b
    Example:
      thygan segment pseudo-labels --source=data/sample/CMU-1-Small-Region.svs --dest=pl/
    """
    from thygan.segment.pseudo_labels import make_pseudo_labels

    make_pseudo_labels(source, dest, tile_size=tile_size, min_tissue=min_tissue, level=level,
                       magnification=magnification, mpp=mpp, limit=limit, log=click.echo)
