"""Decode a claimed audio file to 16 kHz mono and refuse what Whisper would silently mangle.

faster-whisper transcribes truncated or partly corrupt audio without complaint, so the
checks happen here, before transcription: container vs decoded duration, silence, size caps.
"""

from __future__ import annotations

import io
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


# What a recording is, by its first bytes: the name may say .wav of an mp3, or nothing at all.
MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"RIFF", 0, ".wav"), (b"OggS", 0, ".ogg"), (b"fLaC", 0, ".flac"), (b"ID3", 0, ".mp3"),
    (b"#!AMR", 0, ".amr"), (b"\x1aE\xdf\xa3", 0, ".webm"), (b"FORM", 0, ".aiff"),
    (b"ftyp3g", 4, ".3gp"), (b"ftyp", 4, ".m4a"), (b"\x02dss", 0, ".dss"), (b"\x03ds2", 0, ".ds2"),
)
MPEG_FRAME_SYNC = {b"\xff\xfb", b"\xff\xf3", b"\xff\xf2", b"\xff\xfa"}  # mp3 without an ID3 header
ADTS_SYNC = {b"\xff\xf1", b"\xff\xf9"}  # raw AAC


def sniff_suffix(path: Path) -> str | None:
    """The container's usual extension, read from its first bytes; None if unknown."""
    try:
        with path.open("rb") as handle:
            head = handle.read(16)
    except OSError:
        return None
    for magic, offset, suffix in MAGIC:
        if head[offset:offset + len(magic)] == magic:
            return suffix
    if head[:2] in MPEG_FRAME_SYNC:
        return ".mp3"
    if head[:2] in ADTS_SYNC:
        return ".aac"
    return None


def recognised_format(path: Path) -> str | None:
    """The format by content first, by extension else; refuses dictaphone formats with a way out."""
    suffix = sniff_suffix(path) or (path.suffix.lower() if path.suffix.lower() in AUDIO_EXTENSIONS else None)
    if suffix in PROPRIETARY_EXTENSIONS or path.suffix.lower() in PROPRIETARY_EXTENSIONS:
        shown = suffix if suffix in PROPRIETARY_EXTENSIONS else path.suffix.lower()
        raise UnsupportedFormat(
            "proprietary_format",
            f"Format de dictaphone {shown} non lisible : exportez l'enregistrement en WAV ou MP3 "
            "depuis le logiciel du dictaphone, puis déposez-le à nouveau.",
            f"Dictaphone format {shown} cannot be read: export the recording to WAV or MP3 "
            "from the dictaphone software, then drop it again.",
        )
    return suffix


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


def duration_text(seconds: float) -> str:
    """« 14 s », « 2 min 05 s »: minutes rounded to nothing said « 0 min »."""
    seconds = round(seconds)
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60:02d} s"


def decode(path: Path, *, min_duration_s: float, max_duration_s: float) -> np.ndarray:
    """Return 16 kHz mono float32 samples, or raise BadInput with a reason."""
    from faster_whisper.audio import decode_audio

    recognised = recognised_format(path)
    if path.stat().st_size == 0:
        raise BadInput("empty_file", "Le fichier est vide.", "The file is empty.")
    declared = container_duration(path)
    check_structure(path)
    if declared is not None and declared > max_duration_s:
        raise BadInput(
            "too_long",
            f"Enregistrement trop long ({duration_text(declared)}, maximum {duration_text(max_duration_s)}).",
            f"Recording too long ({duration_text(declared)}, limit {duration_text(max_duration_s)}).",
        )
    try:
        samples = decode_audio(str(path), sampling_rate=SAMPLE_RATE)
    except Exception as error:
        if recognised is None:  # neither its bytes nor its name say audio, and no decoder reads it
            raise UnsupportedFormat(
                "not_audio",
                f"Ce fichier n'est pas un enregistrement audio lisible (extension « {path.suffix or '(aucune)'} »).",
                f"This file is not a readable audio recording (extension '{path.suffix or '(none)'}').",
            ) from error
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
            f"Enregistrement trop long ({duration_text(decoded)}, maximum {duration_text(max_duration_s)}).",
            f"Recording too long ({duration_text(decoded)}, limit {duration_text(max_duration_s)}).",
        )
    if float(np.sqrt(np.mean(np.square(samples)))) < SILENCE_RMS:
        raise BadInput("silence", "L'enregistrement ne contient que du silence.", "The recording is silent.")
    return samples


def wav_bytes(samples: np.ndarray, *, rate: int = SAMPLE_RATE) -> bytes:
    """16-bit mono PCM WAV of samples in [-1, 1]: the one writer for test fixtures, fault
    injection, benchmark recordings and training examples."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(pcm.tobytes())
    return buffer.getvalue()


def write_wav(path, samples: np.ndarray, *, rate: int = SAMPLE_RATE):
    """`path` as `open` takes it: a Path, or bytes for a name that is not UTF-8."""
    with open(path, "wb") as handle:
        handle.write(wav_bytes(samples, rate=rate))
    return path


def read_wav(data: bytes) -> np.ndarray:
    """Samples of a WAV written by wav_bytes."""
    with wave.open(io.BytesIO(data), "rb") as handle:
        pcm = np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2")
    return (pcm.astype(np.float32) / 32767).astype(np.float32)


def tone(seconds: float, *, rate: int = SAMPLE_RATE, amplitude: float = 0.3, noise: bool = False) -> np.ndarray:
    """A 440 Hz sine (decodes, is not silent, has no speech), or white noise: generated audio for tests."""
    if noise:
        return np.random.default_rng(7).normal(0, 0.1, int(seconds * rate)).astype(np.float32)
    return (amplitude * np.sin(2 * np.pi * 440 * np.arange(int(seconds * rate)) / rate)).astype(np.float32)
