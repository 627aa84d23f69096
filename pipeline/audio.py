"""Decode a claimed audio file to 16 kHz mono and refuse what Whisper would silently mangle.

faster-whisper transcribes truncated or partly corrupt audio without complaint, so the
checks happen here, before transcription: container vs decoded duration, silence, size caps.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from pipeline.errors import BadInput, UnsupportedFormat

SAMPLE_RATE = 16_000
AUDIO_EXTENSIONS = frozenset({".wav", ".mp3", ".m4a", ".ogg", ".opus", ".oga", ".flac", ".webm", ".aac", ".mp4", ".wma"})
# Proprietary dictaphone formats: PyAV cannot decode them; the user must export.
PROPRIETARY_EXTENSIONS = frozenset({".dss", ".ds2"})
# Decoded audio shorter than this share of the container's stated length means truncation.
MIN_DECODED_SHARE = 0.9
SILENCE_RMS = 1e-4


def check_extension(path: Path) -> None:
    suffix = path.suffix.lower()
    if suffix in PROPRIETARY_EXTENSIONS:
        raise UnsupportedFormat(
            "proprietary_format",
            f"Format de dictaphone {suffix} non lisible : exportez l'enregistrement en WAV ou MP3 "
            "depuis le logiciel du dictaphone, puis déposez-le à nouveau.",
            f"Dictaphone format {suffix} cannot be read: export the recording to WAV or MP3 "
            "from the dictaphone software, then drop it again.",
        )
    if suffix not in AUDIO_EXTENSIONS:
        raise UnsupportedFormat(
            "not_audio",
            f"Extension « {suffix or '(aucune)'} » non reconnue comme audio.",
            f"Extension '{suffix or '(none)'}' is not a recognised audio format.",
        )


def wav_is_truncated(data: bytes) -> bool:
    """The RIFF data chunk announces more bytes than the file holds."""
    offset = 12
    while offset + 8 <= len(data):
        chunk_id, size = data[offset:offset + 4], int.from_bytes(data[offset + 4:offset + 8], "little")
        if chunk_id == b"data":
            present = len(data) - offset - 8
            return size != 0xFFFFFFFF and present < size * MIN_DECODED_SHARE
        offset += 8 + size + (size & 1)
    return True  # no data chunk at all


def ogg_is_truncated(data: bytes) -> bool:
    """A complete Ogg stream ends with a page flagged end-of-stream, whole."""
    last = data.rfind(b"OggS")
    if last < 0 or last + 27 > len(data):
        return True
    header_type, segments = data[last + 5], data[last + 26]
    table = data[last + 27:last + 27 + segments]
    page_end = last + 27 + segments + sum(table)
    return not (header_type & 0x04) or len(table) < segments or page_end > len(data)


STRUCTURE_CHECKS = {".wav": (b"RIFF", wav_is_truncated), ".ogg": (b"OggS", ogg_is_truncated),
                    ".opus": (b"OggS", ogg_is_truncated), ".oga": (b"OggS", ogg_is_truncated)}


def check_structure(path: Path) -> None:
    """Catch cut files that decoders would read as merely shorter recordings."""
    check = STRUCTURE_CHECKS.get(path.suffix.lower())
    if check is None:
        return
    magic, is_truncated = check
    data = path.read_bytes()
    if data.startswith(magic) and is_truncated(data):
        raise BadInput(
            "truncated",
            "Fichier audio incomplet (copie interrompue ?) : redéposez l'enregistrement complet.",
            "Incomplete audio file (interrupted copy?): drop the complete recording again.",
        )


def container_duration(path: Path) -> float | None:
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise BadInput(
                    "no_audio_stream",
                    "Le fichier ne contient aucune piste audio.",
                    "The file contains no audio track.",
                )
            stream = container.streams.audio[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            return container.duration / 1_000_000 if container.duration else None
    except BadInput:
        raise
    except Exception as error:  # PyAV raises many types for unreadable input
        raise BadInput(
            "unreadable",
            "Fichier illisible : ce n'est pas un enregistrement audio valide.",
            "Unreadable file: this is not a valid audio recording.",
        ) from error


def probe_duration(path: Path) -> float:
    """Stated duration for progress and ETA; 0 when unknown (the decode step will say why)."""
    try:
        return container_duration(path) or 0.0
    except BadInput:
        return 0.0


def decode(path: Path, *, min_duration_s: float, max_duration_s: float) -> np.ndarray:
    """Return 16 kHz mono float32 samples, or raise BadInput with a reason."""
    from faster_whisper.audio import decode_audio

    check_extension(path)
    if path.stat().st_size == 0:
        raise BadInput("empty_file", "Le fichier est vide.", "The file is empty.")
    declared = container_duration(path)
    check_structure(path)
    if declared is not None and declared > max_duration_s:
        raise BadInput(
            "too_long",
            f"Enregistrement trop long ({declared / 60:.0f} min, maximum {max_duration_s / 60:.0f} min).",
            f"Recording too long ({declared / 60:.0f} min, limit {max_duration_s / 60:.0f} min).",
        )
    try:
        samples = decode_audio(str(path), sampling_rate=SAMPLE_RATE)
    except Exception as error:
        raise BadInput(
            "corrupt",
            "Le décodage de l'audio a échoué : fichier endommagé.",
            "Decoding the audio failed: the file is damaged.",
        ) from error
    decoded = len(samples) / SAMPLE_RATE
    if declared and decoded < declared * MIN_DECODED_SHARE:
        raise BadInput(
            "truncated",
            f"Audio tronqué ou endommagé : {decoded:.1f} s lisibles sur {declared:.1f} s annoncées.",
            f"Audio truncated or damaged: {decoded:.1f} s decodable of {declared:.1f} s declared.",
        )
    if decoded < min_duration_s:
        raise BadInput(
            "too_short",
            f"Enregistrement trop court ({decoded:.1f} s).",
            f"Recording too short ({decoded:.1f} s).",
        )
    if decoded > max_duration_s:
        raise BadInput(
            "too_long",
            f"Enregistrement trop long ({decoded / 60:.0f} min).",
            f"Recording too long ({decoded / 60:.0f} min).",
        )
    if float(np.sqrt(np.mean(np.square(samples)))) < SILENCE_RMS:
        raise BadInput("silence", "L'enregistrement ne contient que du silence.", "The recording is silent.")
    return samples


def write_wav(path: Path, samples: np.ndarray, *, rate: int = SAMPLE_RATE) -> Path:
    """16-bit mono PCM WAV of samples in [-1, 1]: the one writer for test fixtures, fault
    injection and benchmark recordings."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(pcm.tobytes())
    return path


def tone(seconds: float, *, rate: int = SAMPLE_RATE, amplitude: float = 0.3, noise: bool = False) -> np.ndarray:
    """A 440 Hz sine (decodes, is not silent, has no speech), or white noise: generated audio for tests."""
    if noise:
        return np.random.default_rng(7).normal(0, 0.1, int(seconds * rate)).astype(np.float32)
    return (amplitude * np.sin(2 * np.pi * 440 * np.arange(int(seconds * rate)) / rate)).astype(np.float32)
