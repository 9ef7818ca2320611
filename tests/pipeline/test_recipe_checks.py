"""A pipeline's recipes are parsed before its first step (hours of GAN training come before the classifier)."""

import json

import pytest
import yaml
from click.testing import CliRunner

from tests.pipeline.test_runner import study_layout
from thygan.cli.pipeline import pipeline_command


def dry_run(tmp_path, config):
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config))
    return CliRunner().invoke(pipeline_command, ["--config", str(path), "-n"])


@pytest.mark.parametrize("recipe, message", [
    ({"name": "half", "classes": [0, 1], "seeds": ["50%", "half"], "class_map": [0, 1]},
     "pipeline: classifier.recipes[1]: seeds[1]: malformed seeds 'half'"),
    ({"name": "odd", "kind": "diffusion", "classes": [0], "seeds": [3], "class_map": [0]},
     "pipeline: classifier.recipes[1]: unknown synthetic source kind 'diffusion'"),
    ({"name": "both", "sources": [{"classes": [0, 0], "seeds": [1, 1], "class_map": [0, 0], "network": "x.pkl"}]},
     "pipeline: classifier.recipes[1]: sources[0]: GAN class 0 is listed twice"),
])
def test_a_bad_inline_recipe_stops_the_dry_run(tmp_path, recipe, message):
    config = study_layout(tmp_path)
    config["classifier"]["recipes"] = ["none", recipe]
    result = dry_run(tmp_path, config)
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert "$ thygan" not in result.output and not (tmp_path / "o").exists()


def test_a_bad_recipe_file_stops_the_dry_run(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"classes": [0, 1], "seeds": ["0-3"], "network": ["n.pkl"], "class_map": [0, 1]}))
    config = study_layout(tmp_path)
    config["classifier"]["recipes"] = ["none", str(bad)]
    result = dry_run(tmp_path, config)
    assert result.exit_code == 2 and f"{bad}: 'classes', 'seeds' and 'class_map' must have" in result.stderr


def test_a_good_inline_recipe_passes(tmp_path):
    config = study_layout(tmp_path)
    config["classifier"]["recipes"] = ["none", {"name": "gan100", "classes": [0, 1], "seeds": ["100%", "100%"],
                                                "class_map": [0, 1]}]
    result = dry_run(tmp_path, config)
    assert result.exit_code == 0, result.output
