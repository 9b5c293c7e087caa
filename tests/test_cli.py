"""The command line: renders, recipes, and one clear line for every mistake a user can make."""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import numpy as np
import pytest
import torch

from generator import extended, load_model, read_recipe, render_array
from generator.cli import main
from generator.files.imagefile import read_image
from generator.rendering.render import PRECISION_TOLERANCE


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_render_embeds_a_recipe_that_reproduces_the_image(tmp_path, capsys, tiny_model_path):
    out = tmp_path / "sky.exr"
    code, stdout, _ = run(
        capsys, "render", "--model", tiny_model_path, "--equirect", "--width", 128,
        "--seed", 3, "--out", out, "--quiet",
    )  # fmt: skip
    assert code == 0 and "wrote" in stdout
    recipe = read_recipe(out)
    assert (recipe.width, recipe.height, recipe.wrap, recipe.seed) == (128, 64, "x", 3)
    model = load_model(tiny_model_path)
    assert recipe.model_hash == model.hash
    expected = render_array(model, recipe)
    assert np.abs(read_image(out) - expected).max() <= 2e-3 * max(1.0, expected.max())

    again = tmp_path / "again.exr"
    assert run(capsys, "render", "--model", tiny_model_path, "--recipe", out, "--out", again,
               "--quiet")[0] == 0  # fmt: skip
    assert np.array_equal(read_image(again), read_image(out))

    code, stdout, _ = run(capsys, "info", out)
    assert code == 0 and '"projection": "equirect"' in stdout
    code, stdout, _ = run(capsys, "info", tiny_model_path)
    assert code == 0 and '"pixels_per_latent_cell": 4' in stdout


def test_a_recipe_takes_seed_window_and_sun_and_refuses_canvas_flags(
    tmp_path, capsys, tiny_model_path
):
    first = tmp_path / "strip.exr"
    run(capsys, "render", "--model", tiny_model_path, "--width", 64, "--height", 32,
        "--seed", 2, "--styles", 7, "--out", first, "--quiet")  # fmt: skip
    reseeded = tmp_path / "reseeded.exr"
    code, _, _ = run(
        capsys, "render", "--model", tiny_model_path, "--recipe", first, "--seed", 9,
        "--window", "8,4,16,12", "--out", reseeded, "--quiet",
    )  # fmt: skip
    assert code == 0
    recipe = read_recipe(reseeded)
    assert (recipe.seed, recipe.width, recipe.style_list[0].seed) == (9, 64, 7)
    assert read_image(reseeded).shape == (12, 16, 3)
    for flag in (["--width", "128"], ["--styles", "3"], ["--scale", "2"], ["--equirect"]):
        out = tmp_path / "refused.exr"
        code, _, err = run(capsys, "render", "--model", tiny_model_path, "--recipe", first,
                           *flag, "--out", out)  # fmt: skip
        assert code == 2 and flag[0] in err and "extend" in err and err.count("\n") == 1
        assert not out.exists()


def test_one_style_seed_restyles_the_seed_layout(tmp_path, capsys, tiny_model_path):
    model = load_model(tiny_model_path)
    paths = {}
    for name, flags in (("plain", ["--seed", 2]), ("restyled", ["--seed", 2, "--styles", 7]),
                        ("other", ["--seed", 7])):  # fmt: skip
        paths[name] = tmp_path / f"{name}.exr"
        run(capsys, "render", "--model", tiny_model_path, "--width", 64, "--height", 32,
            *flags, "--out", paths[name], "--quiet")  # fmt: skip
    restyled = read_recipe(paths["restyled"])
    assert restyled.seed == 2 and [s.seed for s in restyled.style_list] == [7]
    images = {name: read_image(path) for name, path in paths.items()}
    assert np.abs(images["restyled"] - images["plain"]).mean() > 1e-3
    assert np.abs(images["restyled"] - images["other"]).mean() > 1e-3
    # The style seed alone is the old single-seed picture: seed 7 with style 7.
    same = render_array(model, read_recipe(paths["other"]).replace(styles=restyled.styles))
    assert np.abs(same - images["other"]).max() <= 2e-3 * max(1.0, same.max())


def test_extend_keeps_the_original_pixels(tmp_path, capsys, tiny_model_path):
    first = tmp_path / "strip.png"
    run(capsys, "render", "--model", tiny_model_path, "--width", 60, "--height", 30,
        "--styles", 1, 2, "--out", first, "--quiet", "--bit-depth", 16)  # fmt: skip
    wider = tmp_path / "wider.png"
    code, _, _ = run(
        capsys, "extend", first, "--model", tiny_model_path, "--left", 13, "--right", 20,
        "--top", 4, "--out", wider, "--quiet", "--bit-depth", 16,
    )  # fmt: skip
    assert code == 0
    old, new = read_image(first), read_image(wider)
    assert new.shape == (34, 93, 3)
    assert np.abs(new[4:, 13:73] - old).max() <= 1e-4  # one 16-bit step at most
    assert read_recipe(wider) == extended(read_recipe(first), left=13, right=20, top=4)


BAD_REQUESTS = [
    (["--width", "0"], "width must be"),
    (["--width", "-5"], "width must be"),
    (["--width", "900000"], "width must be"),
    (["--width", "200000", "--height", "200000"], "gigapixel"),
    (["--wrap", "z"], "unknown wrap"),
    (["--wrap", "x", "--width", "61"], "multiple of 4"),
    (["--tile", "0"], "tile size"),
    (["--equirect", "--scale", "2"], "leave out --scale"),
    (["--batch", "0"], "batch must be"),
]  # fmt: skip


@pytest.mark.parametrize(("extra", "message"), BAD_REQUESTS)
def test_bad_requests_give_one_line_and_no_file(tmp_path, capsys, tiny_model_path, extra, message):
    out = tmp_path / "out.png"
    code, _, err = run(capsys, "render", "--model", tiny_model_path, "--out", out, *extra)
    assert code == 2
    assert err.startswith("error:") and message in err and err.count("\n") == 1
    assert os.listdir(tmp_path) == []


def test_bad_models_and_outputs_give_one_line_and_no_file(tmp_path, capsys, tiny_model_path):
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"not a model at all")
    utf16 = tmp_path / "recipe.json"
    utf16.write_text('{"width": 64}', encoding="utf-16")  # what PowerShell 5's > writes
    cases = [
        (["--model", tiny_model_path, "--recipe", utf16, "--out", tmp_path / "r.png"], "UTF-8"),
        (["--model", tmp_path / "missing.safetensors", "--out", tmp_path / "a.png"], "not found"),
        (["--model", corrupt, "--out", tmp_path / "b.png"], "corrupt"),
        (["--model", tiny_model_path, "--out", tmp_path / "no" / "c.png"], "does not exist"),
        (["--model", tiny_model_path, "--out", tmp_path / "d.bmp"], ".png"),
        (["--model", tiny_model_path, "--out", tmp_path / "e.png", "--bit-depth", "12"], "12"),
    ]
    for argv, message in cases:
        code, _, err = run(capsys, "render", *argv)
        assert code == 2 and err.startswith("error:") and message in err, (argv, err)
        assert err.count("\n") == 1
    assert sorted(os.listdir(tmp_path)) == ["corrupt.safetensors", "recipe.json"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_missing_gpu_is_a_clear_error(tmp_path, capsys, tiny_model_path):
    argv = ["render", "--model", tiny_model_path, "--out", tmp_path / "x.png", "--device", "cuda"]
    code, _, err = run(capsys, *argv)
    assert code == 2 and "no CUDA GPU" in err and os.listdir(tmp_path) == []


def _limit_file_size():
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))


def test_full_disk_leaves_no_file_and_no_traceback(tmp_path, tiny_model_path):
    """A real failing write (file-size limit) in a real process: one line, a clean folder."""
    out = tmp_path / "big.tif"
    result = subprocess.run(
        [sys.executable, "-m", "generator", "render", "--model", str(tiny_model_path),
         "--width", "256", "--height", "256", "--out", str(out), "--quiet"],
        capture_output=True, text=True, preexec_fn=_limit_file_size, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.startswith("error:")
    assert os.listdir(tmp_path) == []


def test_help_explains_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for word in ("render", "extend", "info", "equirect", "--wrap xy"):
        assert word in text


def test_precision_budget_and_time_left(tmp_path, capsys, tiny_model_path):
    out = tmp_path / "fast.tif"
    code, _, err = run(
        capsys, "render", "--model", tiny_model_path, "--width", 96, "--height", 48,
        "--precision", "bf16", "--memory-budget", 1, "--bit-depth", 32, "--out", out,
    )  # fmt: skip
    assert code == 0
    assert "tiles" in err and "left" in err  # the bar shows the time left, not tqdm's guess
    recipe = read_recipe(out)
    assert recipe.extra["precision"] == "bf16"
    model = load_model(tiny_model_path)
    tiles_differ_by = np.abs(read_image(out) - render_array(model, recipe)).max()
    assert tiles_differ_by <= PRECISION_TOLERANCE["bf16"]  # other tiles, same precision
