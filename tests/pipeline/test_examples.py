"""The shipped pipeline examples: their --dry-run prints every command with the flags the study needs,
every command and flag exists, and the translation and segmentation sections hand on what they make."""

import shlex
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from thygan.cli.main import COMMANDS
from thygan.cli.pipeline import pipeline_command
from thygan.pipeline.config import load_config
from thygan.pipeline.steps import PipelineContext
from thygan.pipeline.workflow import STEP_BUILDERS, built_steps

REPO = Path(__file__).resolve().parents[2]
# The interfaces of commands being written beside this one (issue 17), used while they are not registered.
PLANNED = {
    ("segment-cv",): {"--data", "--outdir", "--folds", "--recipes", "--external", "--external-name",
                      "--recipe-cache", "--mode", "--nr-types", "--width", "--blocks", "--input-size", "--epochs",
                      "--batch", "--lr", "--patches-per-epoch", "--seed", "--device"},
    ("segment", "compare"): {"--set", "--true", "--outdir"},
}


def command_flags(words: list[str]) -> tuple[list[str], set[str] | None]:
    """(the command's words, its option names) for a `thygan ...` line; None where it is not registered."""
    import click

    if words[0] not in COMMANDS:
        return words[:1], None
    module, attr = COMMANDS[words[0]].split(":")
    command = getattr(__import__(module, fromlist=[attr]), attr)
    used = [words[0]]
    for word in words[1:]:
        if not isinstance(command, click.Group) or word.startswith("--"):
            break
        sub = command.get_command(click.Context(command), word)
        if sub is None:
            return [*used, word], None
        command, used = sub, [*used, word]
    return used, {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}


def assert_real_command(args: list[str]) -> None:
    used, flags = command_flags(args)
    if flags is None:
        used = next(list(key) for key in PLANNED if tuple(args[:len(key)]) == key)
        flags = PLANNED[tuple(used)]
    for arg in args[len(used):]:
        assert arg.startswith("--") and arg.split("=", 1)[0] in flags, (used, arg)


def printed_commands(output: str) -> dict[str, list[str]]:
    """The dry run's `$ thygan ...` lines by their step title's first words -> argument list."""
    lines = output.splitlines()
    return {lines[i - 1]: shlex.split(line[len("$ thygan "):]) for i, line in enumerate(lines)
            if line.startswith("$ thygan ")}


def with_your_data(name: str, tmp_path: Path) -> Path:
    """The example with YOUR_DATA/ pointing at a folder where every input it names exists."""
    text = (REPO / "data" / "pipelines" / name).read_text().replace("YOUR_DATA", str(tmp_path / "data"))
    config = yaml.safe_load(text)
    config["outdir"] = str(tmp_path / "out")
    data = tmp_path / "data"
    for folder in ["BCI/HE_train", "BCI/IHC_train", "EndoNuke/IHC_256", "PanNuke/Fold 1", "PanNuke/Fold 3",
                   "pannuke_pairs/fold1/A", "pannuke_pairs/fold1/B", "pannuke_pairs/fold3/A", "pannuke_pairs/fold3/B",
                   "models"]:
        (data / folder).mkdir(parents=True, exist_ok=True)
    for file in ["models/hovernet_fast_pannuke_type_tf2pytorch.tar", "models/type_info.json"]:
        (data / file).write_text("{}")
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def dry_run(path: Path) -> dict[str, list[str]]:
    result = CliRunner().invoke(pipeline_command, ["--config", str(path), "-n"])
    assert result.exit_code == 0, result.output
    assert "dry run" in result.output and not (path.parent / "out").exists()  # nothing written
    commands = printed_commands(result.output)
    for args in commands.values():
        assert_real_command(args)
    return commands


def find(commands: dict[str, list[str]], *words: str) -> list[str]:
    found = [args for args in commands.values() if args[:len(words)] == list(words)]
    assert len(found) == 1, (words, list(commands.values()))
    return found[0]


def find_all(commands: dict[str, list[str]], *words: str) -> list[list[str]]:
    return [args for args in commands.values() if args[:len(words)] == list(words)]


def test_ihc_to_he_hovernet_dry_run(tmp_path):
    path = with_your_data("ihc_to_he_hovernet.yaml", tmp_path)
    data, out = tmp_path / "data", tmp_path / "out"
    commands = dry_run(path)
    assert [" ".join(args[:2]) for args in commands.values()] == [
        "translate train", "translate run", "translate eval", "segment infer", "segment infer", "segment compare",
        f"domain-gap --set=H&E (BCI)={data}/BCI/HE_train:max=1000"]  # no GAN, classifier or segment training
    train = find(commands, "translate", "train")
    for flag in ["--model=cycle_gan", "--netG=resnet_9blocks", "--batch_size=2", "--lr=1e-05", "--load_size=256",
                 "--crop_size=256", "--n_epochs=10", "--lambda_A=10", "--lambda_identity=0.5",
                 f"--dataroot={out}/translation/data"]:
        assert flag in train, flag
    run = find(commands, "translate", "run")
    translated = f"{out}/translation/translated"
    assert "--network=<network trained by translate-train>" in run and "--which=G_A" in run
    assert f"--source={data}/EndoNuke/IHC_256/" in run and f"--out={translated}" in run
    evaluation = find(commands, "translate", "eval")
    assert f"--fake={translated}" in evaluation and "--metrics=fid,kid" in evaluation
    assert f"--target={data}/BCI/HE_train" in evaluation
    raw, trans = find_all(commands, "segment", "infer", "tile")
    model = f"--model={data}/models/hovernet_fast_pannuke_type_tf2pytorch.tar"
    for args, source in [(raw, f"{data}/EndoNuke/IHC_256/"), (trans, translated)]:
        assert model in args and "--batch-size=64" in args and f"--input-dir={source}" in args
        assert f"--type-info={data}/models/type_info.json" in args
    compare = find(commands, "segment", "compare")
    assert f"--set=IHC (raw)={out}/segmentation/ihc-raw" in compare
    assert f"--set=IHC->H&E={out}/segmentation/ihc-h-e" in compare and not any(a.startswith("--true") for a in compare)
    assert raw[-1] == f"--output-dir={out}/segmentation/ihc-raw"  # compare reads what infer wrote
    gap = find(commands, "domain-gap")
    assert f"--set=IHC->H&E (EndoNuke)={translated}:max=1000" in gap


def test_pannuke_pix2pix_dry_run(tmp_path):
    path = with_your_data("pannuke_pix2pix.yaml", tmp_path)
    data, out = tmp_path / "data", tmp_path / "out"
    commands = dry_run(path)
    assert [args[0] for args in commands.values()] == ["translate", "segment-cv"]
    train = find(commands, "translate", "train")
    for flag in ["--model=pix2pix", "--dataset_mode=paired", "--mask_types=5", "--netG=unet_256", "--batch_size=2",
                 "--lr=0.0002", "--n_epochs=150", "--n_epochs_decay=0", "--lambda_L1=75", "--preprocess=none",
                 f"--dataroot={data}/pannuke_pairs/fold1"]:
        assert flag in train, flag
    cv = find(commands, "segment-cv")
    recipe = out / "recipes" / "segment" / "pix2pix_masks.json"
    for flag in [f"--data={data}/PanNuke/Fold 1", "--folds=3", f"--recipes=none,{recipe}", "--mode=fast",
                 "--nr-types=6", "--epochs=50,50", "--batch=16,4", "--lr=0.0001", "--blocks=3,4,6,3",
                 f"--external={data}/PanNuke/Fold 3", "--external-name=PanNuke fold 3", f"--outdir={out}/segment_cv"]:
        assert flag in cv, flag
    assert not recipe.exists()  # a dry run writes no recipe


def test_held_out_masks_are_translated_and_scored(tmp_path):
    """translate run reads the masks of a mask -> H&E generator (its snapshot's mask_types); eval scores them."""
    path = with_your_data("pannuke_pix2pix.yaml", tmp_path)
    config = yaml.safe_load(path.read_text())
    data, out = tmp_path / "data", tmp_path / "out"
    config["mask_translation"].update(translate=f"{data}/pannuke_pairs/fold3/A", real=f"{data}/pannuke_pairs/fold3/B",
                                      metrics="psnr,ssim")
    path.write_text(yaml.safe_dump(config))
    commands = dry_run(path)
    run = find(commands, "translate", "run")
    assert f"--source={data}/pannuke_pairs/fold3/A" in run and f"--out={out}/mask_translation/translated" in run
    scores = find(commands, "translate", "eval")
    assert f"--real={data}/pannuke_pairs/fold3/B" in scores and "--metrics=psnr,ssim" in scores
    assert not any(a.startswith("--source=") for a in scores)  # masks are not images to show


def test_inline_segment_recipe_gets_the_trained_generator(tmp_path):
    """After masks-train, the inline recipe's {mask_generator} is its snapshot; the file is written."""
    import json

    config = load_config(with_your_data("pannuke_pix2pix.yaml", tmp_path))
    ctx = PipelineContext(config=config, outdir=tmp_path / "out")
    ctx.produced["masks-train"] = {"network": "runs/x/translate-snapshot-000150.safetensors"}
    (cv,) = [step for builder in STEP_BUILDERS for step in built_steps(builder, ctx) if step.name == "segment-cv"]
    recipe = json.loads((tmp_path / "out" / "recipes" / "segment" / "pix2pix_masks.json").read_text())
    assert recipe["sources"][0]["network"] == "runs/x/translate-snapshot-000150.safetensors"
    assert recipe["sources"][0]["masks"] == f"{tmp_path}/data/pannuke_pairs/fold1/A"
    assert "name" not in recipe and recipe["sources"][0]["mask_types"] == 5


def test_demo_dry_run_has_the_translation_and_segmentation_steps(tmp_path):
    result = CliRunner().invoke(pipeline_command, ["--config", str(REPO / "data/pipelines/demo.yaml"),
                                                   "--outdir", str(tmp_path / "d"), "-n"])
    assert result.exit_code == 0, result.output
    commands = printed_commands(result.output)
    for args in commands.values():
        assert_real_command(args)
    out = tmp_path / "d"
    labels = find(commands, "segment", "pseudo-labels")
    assert any(a.startswith("--source=") and a.endswith("data/sample/CMU-1-Small-Region.svs") for a in labels)
    masks = find_all(commands, "translate", "train")
    assert "--model=pix2pix" in masks[0] and "--mask_types=1" in masks[0]
    assert "--model=cycle_gan" in masks[1]
    cv = find(commands, "segment-cv")
    assert "--folds=2" in cv and f"--recipes=none,{out}/recipes/segment/pix2pix.json" in cv
    assert len(find_all(commands, "segment", "infer", "tile")) == 2 and find(commands, "segment", "compare")
    gap = find(commands, "domain-gap")
    assert f"--set=IHC->H&E={out}/translation/translated:max=150" in gap
    assert not out.exists()


@pytest.mark.parametrize("change, message", [
    (lambda c: c["translation"].update(domain_a=None), "translation needs 'network'"),
    (lambda c: c["translation"].update(model="unit"), "translation.model must be"),
    (lambda c: c["segmentation"].update(sets=["IHC"]), "segmentation.sets: expected NAME=FOLDER"),
    (lambda c: c["segmentation"].update(sets=["a=x", "a=y"]), "set names must differ"),
    (lambda c: c["segmentation"].update(model="nope.tar"), "pipeline: segmentation.model: nope.tar does not exist"),
    (lambda c: c["domain_gap"]["sets"].append("X={nonesuch}"), "unknown placeholder 'nonesuch'"),
])
def test_mistakes_in_the_new_sections_are_one_line(tmp_path, change, message):
    path = with_your_data("ihc_to_he_hovernet.yaml", tmp_path)
    config = yaml.safe_load(path.read_text())
    change(config)
    path.write_text(yaml.safe_dump(config))
    result = CliRunner().invoke(pipeline_command, ["--config", str(path), "-n"])
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert result.stderr.count("\n") == 1


def test_pseudo_label_tiles_are_grouped_into_bands_of_the_slide(tmp_path):
    """segment-cv keeps a group's tiles on one side of a fold; one slide would be one group, so the pipeline
    writes regions (bands of rows) as pseudo-patients, the same way for every tile of a row."""
    from thygan.pipeline.segmentation_steps import write_pseudo_patients
    from thygan.segment.folds import image_groups

    config = load_config(REPO / "data/pipelines/demo.yaml")
    ctx = PipelineContext(config=config, outdir=tmp_path)
    images = tmp_path / "pseudo_labels" / "Images"
    images.mkdir(parents=True)
    names = [f"slide_x{x}_y{y}" for y in range(0, 640, 64) for x in (0, 64, 128)]  # 10 rows of 3 tiles
    for name in names:
        (images / f"{name}.png").write_bytes(b"")
    assert write_pseudo_patients(ctx) == {"regions": 4}
    groups = image_groups(tmp_path / "pseudo_labels", names)
    assert len(set(groups.values())) == 4
    for y in range(0, 640, 64):  # a row never straddles two regions ...
        row = {groups[n] for n in names if n.endswith(f"_y{y}")}
        assert len(row) == 1
    order = [groups[f"slide_x0_y{y}"] for y in range(0, 640, 64)]
    assert order == sorted(order)  # ... and regions follow the rows down the slide


def test_training_steps_hand_on_their_newest_snapshot_and_continue_interrupted_runs(tmp_path):
    from thygan.pipeline.runner import (
        TRAINING_RUNS,
        StepRecord,
        _newest_snapshot,
        _train_args_with_resume,
        _write_record,
    )

    config = load_config(REPO / "data/pipelines/demo.yaml")
    ctx = PipelineContext(config=config, outdir=tmp_path)
    parts, names = TRAINING_RUNS["translate-train"]
    with pytest.raises(Exception, match="translate-train wrote no network snapshot"):
        _newest_snapshot(tmp_path.joinpath(*parts), names, "translate-train")
    (train,) = [s for b in STEP_BUILDERS for s in built_steps(b, ctx) if s.name == "translate-train"]
    assert _train_args_with_resume(train, ctx) == train.args  # nothing to continue
    run_dir = tmp_path / "translation" / "runs" / "00000-translation"
    run_dir.mkdir(parents=True)
    for epoch in (5, 10):
        (run_dir / f"translate-snapshot-{epoch:06d}.safetensors").write_bytes(b"x")
        (run_dir / f"translate-snapshot-{epoch:06d}.json").write_text("{}")
    assert _train_args_with_resume(train, ctx) == [*train.args, f"--resume={run_dir}"]  # interrupted: continue
    _write_record(tmp_path, StepRecord("translate-train", [*train.args[:-1], "--ngf=8"], 1.0, {}))
    assert _train_args_with_resume(train, ctx) == train.args  # finished with other options: a new run
    produced = _newest_snapshot(tmp_path.joinpath(*parts), names, "translate-train")
    assert produced["network"] == str(run_dir / "translate-snapshot-000010.safetensors")
    ctx.produced["translate-train"] = produced
    (run,) = [s for b in STEP_BUILDERS for s in built_steps(b, ctx) if s.name == "translate-run"]
    assert f"--network={produced['network']}" in run.args and ctx.network is None  # not the GAN's network


def test_changed_options_empty_the_outputs_an_interrupted_run_keeps(tmp_path, monkeypatch):
    """translate run and segment infer skip outputs that exist: after a new network they must start afresh,
    after an interruption (no record yet) they continue."""
    from thygan.pipeline import runner
    from thygan.pipeline.runner import StepRecord, _write_record, run_step

    ran = []
    monkeypatch.setattr(runner, "_execute", lambda step: ran.append(step.args) or (0.5, 0.25))
    config = load_config(REPO / "data/pipelines/demo.yaml")
    ctx = PipelineContext(config=config, outdir=tmp_path)
    ctx.produced["translate-train"] = {"network": "new.safetensors"}
    (step,) = [s for b in STEP_BUILDERS for s in built_steps(b, ctx) if s.name == "translate-run"]
    old = tmp_path / "translation" / "translated" / "ihc_0.png"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"x")
    run_step(step, ctx, index=1, total=1)  # interrupted earlier: no record, so the outputs stay
    assert old.is_file() and len(ran) == 1
    _write_record(tmp_path, StepRecord("translate-run", ["translate", "run", "--network=old.safetensors"], 1, {}))
    run_step(step, ctx, index=1, total=1)
    assert not old.parent.exists() and len(ran) == 2
    assert runner.read_record(tmp_path, "translate-run").command == step.args


@pytest.mark.slow
def test_translation_and_segmentation_steps_run_and_report(tmp_path):
    """The new steps for real at the smallest size: pseudo-labels -> pix2pix -> CycleGAN IHC -> H&E -> one
    HoVer-Net segments raw and translated tiles -> compare -> REPORT.md sections with existing figures."""
    import json
    import re

    path = tmp_path / "tiny.yaml"
    path.write_text(f"""
outdir: {tmp_path / 'out'}
device: cpu
dataset: {{sample: {{tile: 32}}}}
gan: null
classifier: null
pseudo_labels: {{tile_size: 64, limit: 8, regions: 2}}
mask_translation: {{model: pix2pix, domain_a: "{{pseudo_labels}}/Labels", domain_b: "{{pseudo_labels}}/Images",
                   mask_types: 1, netG: resnet_6blocks, ngf: 4, ndf: 4, n_epochs: 1, n_epochs_decay: 0,
                   batch_size: 4, preprocess: none, metrics: null}}
translation: {{model: cycle_gan, domain_a: "{{ihc}}", domain_b: "{{pseudo_labels}}/Images", netG: resnet_6blocks,
              ngf: 4, ndf: 4, n_epochs: 1, n_epochs_decay: 0, batch_size: 4, preprocess: crop, crop_size: 32,
              extra: [--max_dataset_size=8], translate: "{{ihc}}", metrics: null}}
segmentation: {{data: "{{pseudo_labels}}", mode: fast, width: 0.125, blocks: "1,1,1,1", input_size: 128,
               epochs: "1,1", batch: "4,4", lr: 0.001, patches_per_epoch: 4, sets: ["IHC={{ihc}}",
               "IHC->H&E={{translated}}"]}}
domain_gap: null
""")
    from thygan.cli.main import cli
    from thygan.pipeline.runner import run_pipeline

    # external-tiles runs only with a domain gap: 64 IHC tiles by the same command, by hand
    assert CliRunner().invoke(cli, ["sample-tiles", "--ihc", "--tile=32", "--stride=64",
                                    f"--dest={tmp_path / 'out' / 'ihc_tiles'}"]).exit_code == 0
    run_pipeline(load_config(path))
    out = tmp_path / "out"
    records = {p.stem for p in (out / ".pipeline").glob("*.json")}
    assert records == {"tiles", "pseudo-labels", "masks-train", "translate-train", "translate-run", "segment-train",
                       "segment-infer-ihc", "segment-infer-ihc-h-e", "segment-compare"}
    meta = json.loads((out / "pseudo_labels" / "dataset.json").read_text())["meta"]
    assert len(meta) == 8 and {row[2] for row in meta} == {"region0", "region1"}
    translated = sorted(p.name for p in (out / "translation" / "translated").glob("*.png"))
    assert translated == sorted(p.name for p in (out / "ihc_tiles").glob("*.png"))
    assert len(list((out / "segmentation" / "ihc-h-e" / "json").glob("*.json"))) == len(translated)
    report = (out / "REPORT.md").read_text()
    assert "## Masks -> H&E (pix2pix)" in report and "## Stain translation" in report
    assert "## Nucleus segmentation" in report and "Recipes compared" not in report
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report)
    assert len(links) >= 6 and all((out / link).is_file() for link in links), links
