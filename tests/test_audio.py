"""Bad audio is refused with a reason before Whisper can silently mangle it."""

from __future__ import annotations

import os
import struct

import pytest

from pipeline import audio
from pipeline.errors import BadInput, UnsupportedFormat
from tests.conftest import REPO, write_tone

LIMITS = {"min_duration_s": 0.5, "max_duration_s": 60.0}


def code_of(path, **limits):
    with pytest.raises(BadInput) as caught:
        audio.decode(path, **{**LIMITS, **limits})
    assert caught.value.fr and caught.value.en
    return caught.value.code


def test_a_good_recording_decodes_to_16k_mono(tmp_path):
    samples = audio.decode(write_tone(tmp_path / "ok.wav", seconds=2.0), **LIMITS)
    assert samples.dtype.name == "float32" and abs(len(samples) - 32_000) < 200


def test_empty_file(tmp_path):
    (tmp_path / "e.wav").write_bytes(b"")
    assert code_of(tmp_path / "e.wav") == "empty_file"


def test_random_bytes_and_text_renamed_wav(tmp_path):
    (tmp_path / "r.wav").write_bytes(os.urandom(4096))
    (tmp_path / "t.wav").write_text("Ceci n'est pas un son.\n" * 50)
    # Content decides: bytes that are no audio container are « not a recording », whatever the name.
    assert code_of(tmp_path / "r.wav") == "not_audio"
    assert code_of(tmp_path / "t.wav") == "not_audio"


def test_header_only_wav(tmp_path):
    full = write_tone(tmp_path / "full.wav", seconds=1.0).read_bytes()
    (tmp_path / "h.wav").write_bytes(full[:44])
    assert code_of(tmp_path / "h.wav") in {"unreadable", "corrupt", "truncated", "too_short"}


def test_truncated_audio_is_caught_by_declared_versus_decoded_length(tmp_path):
    full = write_tone(tmp_path / "full.wav", seconds=10.0).read_bytes()
    (tmp_path / "cut.wav").write_bytes(full[: len(full) // 3])  # header still says 10 s
    assert code_of(tmp_path / "cut.wav") == "truncated"


def test_truncated_ogg_is_caught_by_its_missing_last_page(tmp_path):
    fleurs = tmp_path / "cut.ogg"
    source = REPO / "samples" / "fleurs-fr-002.ogg"
    data = source.read_bytes()
    fleurs.write_bytes(data[: len(data) // 2])
    assert code_of(fleurs) == "truncated"
    (tmp_path / "whole.ogg").write_bytes(data)
    assert len(audio.decode(tmp_path / "whole.ogg", **LIMITS)) > 16_000


def test_mid_file_corruption_is_caught(tmp_path):
    data = bytearray((REPO / "samples" / "fleurs-fr-002.ogg").read_bytes())
    middle = len(data) // 2
    data[middle:middle + 4000] = os.urandom(4000)
    (tmp_path / "damaged.ogg").write_bytes(bytes(data))
    assert code_of(tmp_path / "damaged.ogg") in {"truncated", "corrupt"}


def test_silence_only(tmp_path):
    assert code_of(write_tone(tmp_path / "s.wav", seconds=3.0, amplitude=0.0)) == "silence"


def test_too_long_by_configurable_cap(tmp_path):
    assert code_of(write_tone(tmp_path / "long.wav", seconds=3.0), max_duration_s=2.0) == "too_long"


def test_too_short(tmp_path):
    assert code_of(write_tone(tmp_path / "blip.wav", seconds=0.2)) == "too_short"


@pytest.mark.parametrize("suffix", [".dss", ".ds2"])
def test_dictaphone_formats_ask_for_an_export(tmp_path, suffix):
    path = tmp_path / f"dictaphone{suffix}"
    path.write_bytes(struct.pack("<4s", b"\x02dss") * 100)
    with pytest.raises(UnsupportedFormat) as caught:
        audio.decode(path, **LIMITS)
    assert "export" in caught.value.fr.lower() and "export" in caught.value.en.lower()
