"""One settings object: arguments > DICTEE_* environment > dictee.toml > defaults."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pipeline.settings import Settings, load_settings


def test_precedence(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dictee.toml").write_text('workers = 3\nbeam_size = 2\npractitioner_name = "Dr Toml"\n')
    monkeypatch.setenv("DICTEE_WORKERS", "4")
    settings = load_settings(beam_size=None, practitioner_name="Dr Argument")
    assert settings.workers == 4  # env beats toml
    assert settings.beam_size == 2  # toml beats default; None argument does not override
    assert settings.practitioner_name == "Dr Argument"  # argument beats all


def test_config_file_can_be_named_by_environment(tmp_path, monkeypatch):
    config = tmp_path / "elsewhere.toml"
    config.write_text("workers = 7\n")
    monkeypatch.setenv("DICTEE_CONFIG", str(config))
    assert Settings().workers == 7


def test_unknown_settings_are_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValidationError):
        Settings(wokers=2)
    (tmp_path / "dictee.toml").write_text("wokers = 2\n")
    with pytest.raises(ValidationError):
        Settings()


def test_default_model_is_the_bundled_one_and_any_folder_can_replace_it(tmp_path):
    assert Settings(models_dir=tmp_path).whisper_model_dir == tmp_path / "whisper-base"
    assert Settings(whisper_model=tmp_path / "large-v3-turbo").whisper_model_dir == tmp_path / "large-v3-turbo"


@pytest.mark.parametrize("name, value, said", [
    ("DICTEE_COMPUTE_TYPE", "int3", "compute_type"),
    ("DICTEE_DEVICE", "tpu", "device"),
    ("DICTEE_LANGUAGE", "xx", "language"),
    ("DICTEE_MAX_DURATION", "5", "DICTEE_MAX_DURATION_S"),  # misspelt: refused, with the right name
    ("DICTEE_CONFIG", "/missing.toml", "settings file not found"),
])
def test_bad_settings_are_refused_before_any_file_is_touched(tmp_path, name, value, said):
    import os
    import subprocess
    import sys

    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "a.wav").write_bytes(b"RIFF")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DICTEE_")} | {name: value}
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "batch", "inbox", "--outbox", "outbox"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and said in done.stderr and "Traceback" not in done.stderr
    assert "réglage" in done.stderr or "introuvable" in done.stderr or "inconnue" in done.stderr  # French too
    assert (tmp_path / "inbox" / "a.wav").exists() and not (tmp_path / "outbox").exists()
