"""`thygan segment compare`: the same HoVer-Net on several image sets (e.g. IHC and IHC translated to H&E)."""

import click


@click.command(name="compare", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--set", "set_specs", multiple=True, required=True, metavar="NAME=DIR",
              help="An output folder of `thygan segment infer tile` (json/ and mat/ inside), repeated; "
                   "sets are paired by image name, the first is the reference of the differences.")
@click.option("--true", "true_dir", metavar="DIR", type=click.Path(file_okay=False),
              help="Labels paired by file name (.mat inst_map, .npy, .png; or a folder with Labels/): adds "
                   "Dice, AJI and PQ per set.")
@click.option("--type-info", metavar="JSON", type=click.Path(dir_okay=False),
              help="type_info.json {id: [name, [r, g, b]]} for type names and colours. Default: 'type N'.")
@click.option("--outdir", required=True, metavar="DIR", type=click.Path(file_okay=False),
              help="Gets compare.csv, compare.md, compare.json, compare.png and examples.png.")
@click.option("--examples", type=click.IntRange(min=1), default=4, show_default=True, metavar="N",
              help="Images shown side by side in examples.png (spread over the count differences).")
def compare_command(set_specs, true_dir, type_info, outdir, examples):
    """Compare nucleus counts, sizes and types (and scores against labels) between segmented sets.

    \b
    Example (the IHC -> H&E study: one HoVer-Net on raw and translated IHC):
      thygan segment compare --set=IHC=seg_ihc/ --set="IHC->H&E=seg_ihc2he/" --outdir=compare/
    """
    from pathlib import Path

    from thygan.io.atomic import atomic_write_text
    from thygan.segment.compare import compare_sets, parse_set, read_set, to_csv, to_json, to_markdown
    from thygan.segment.overlay import read_type_info
    from thygan.viz.segment_compare import draw_compare, draw_examples

    info = read_type_info(type_info, 0) if type_info else None
    sets = [read_set(*parse_set(text)) for text in set_specs]
    result = compare_sets(sets, true_dir=true_dir, type_info=info)
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "compare.csv", to_csv(result))
    atomic_write_text(out / "compare.json", to_json(result))
    draw_compare(result, out / "compare.png", type_info=info)
    draw_examples(result, out / "examples.png", count=examples)
    report = to_markdown(result)
    atomic_write_text(out / "compare.md", report)
    click.echo(report)
