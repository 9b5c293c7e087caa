"""Model files: safetensors + JSON config, validated, never unpickled."""

from __future__ import annotations

import json
import os
import stat

import pytest
from safetensors import safe_open

from generator import ModelConfig, ModelError, load_model
from generator.errors import OutputError, RequestError
from generator.files.modelfile import file_hash, save_model


def test_round_trip_keeps_config_weights_and_hash(tiny_model_path, tiny_model):
    again = load_model(tiny_model_path)
    assert again.config == tiny_model.config
    assert again.hash == file_hash(tiny_model_path) == tiny_model.hash
    for (name, a), (_, b) in zip(
        again.generator.state_dict().items(), tiny_model.generator.state_dict().items(), strict=True
    ):
        assert (a == b).all(), name
    with safe_open(str(tiny_model_path), framework="pt") as handle:
        assert ModelConfig.from_json(handle.metadata()["config"]) == tiny_model.config


def test_missing_corrupt_and_foreign_files_are_clear_errors(tmp_path, tiny_model_path):
    with pytest.raises(ModelError, match="not found"):
        load_model(tmp_path / "nope.safetensors")
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(tiny_model_path.read_bytes()[:500])
    with pytest.raises(ModelError, match="corrupt"):
        load_model(truncated)
    pickle_like = tmp_path / "model.safetensors"
    pickle_like.write_bytes(b"\x80\x04\x95" + b"\x00" * 64)
    with pytest.raises(ModelError, match="corrupt"):
        load_model(pickle_like)


def test_incompatible_config_is_reported(tmp_path, tiny_model_path):
    data = bytearray(tiny_model_path.read_bytes())
    header_len = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_len])
    config = json.loads(header["__metadata__"]["config"])
    config["gs_width"] = 17
    header["__metadata__"]["config"] = json.dumps(config)
    new_header = json.dumps(header).encode()
    new_header += b" " * (-len(new_header) % 8)
    patched = tmp_path / "patched.safetensors"
    patched.write_bytes(len(new_header).to_bytes(8, "little") + new_header + data[8 + header_len :])
    with pytest.raises(ModelError, match="incompatible"):
        load_model(patched)


def test_config_rejects_nonsense():
    with pytest.raises(ModelError, match="gs_kernel"):
        ModelConfig(gs_kernel=4)
    with pytest.raises(ModelError, match="unknown fields"):
        ModelConfig.from_json('{"zg_dim": 8, "frobnicate": 1}')


def test_writing_a_model_to_a_folder_or_unwritable_place_is_one_line(tmp_path, tiny_model):
    folder = tmp_path / "models"
    folder.mkdir()
    with pytest.raises(OutputError, match="folder"):
        save_model(tiny_model.generator, folder)
    with pytest.raises(OutputError, match="cannot write model"):
        save_model(tiny_model.generator, tmp_path / "missing" / "m.safetensors")
    assert list(tmp_path.rglob("*")) == [folder], "no partial file is left behind"


def test_a_written_model_is_readable_by_others_as_the_umask_allows(tmp_path, tiny_model):
    """Models are shared (a studio's render farm, a bundled file): never private like a
    temporary file."""
    umask = os.umask(0o022)
    try:
        save_model(tiny_model.generator, tmp_path / "m.safetensors")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "m.safetensors").stat().st_mode) == 0o644


def test_a_device_name_is_checked_as_on_the_command_line(tiny_model_path):
    assert load_model(tiny_model_path, device="auto").hash == file_hash(tiny_model_path)
    with pytest.raises(RequestError, match="unknown device"):
        load_model(tiny_model_path, device="gpu")
