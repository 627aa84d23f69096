"""Decode a claimed audio file to 16 kHz mono and refuse what Whisper would silently mangle.

faster-whisper transcribes truncated or partly corrupt audio without complaint, so the
checks happen here, before transcription: container vs decoded duration, silence, size caps.
"""

from __future__ import annotations

import io
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from pipeline.errors import BadInput, UnsupportedFormat

SAMPLE_RATE = 16_000
AUDIO_EXTENSIONS = frozenset({".wav", ".mp3", ".m4a", ".ogg", ".opus", ".oga", ".flac", ".webm", ".aac", ".mp4", ".wma"})
# Proprietary dictaphone formats: PyAV cannot decode them; the user must export.
PROPRIETARY_EXTENSIONS = frozenset({".dss", ".ds2"})
# Decoded audio shorter than this share of the container's stated length means truncation.
MIN_DECODED_SHARE = 0.9
SILENCE_RMS = 1e-4
MIB = 1024 * 1024
# The least a real recording spends per second of speech: AMR-NB's lowest mode is 4.75 kbit/s,
# Opus speech 6. A file that decodes to much more audio than its bytes could hold is a bomb
# (a few KB of FLAC can claim hours of silence), stopped while it decodes.
MIN_BYTES_PER_SECOND = 250  # 2 kbit/s, half the lowest real codec
# Lossless containers: a real recording (room noise, breath) never compresses below ~100 kbit/s;
# FLAC of digital silence does, by a thousand times.
LOSSLESS_MIN_BYTES_PER_SECOND = 2000  # 16 kbit/s
LOSSLESS = frozenset({".flac", ".wav", ".aiff"})
BOMB_GRACE_S = 60.0
# Wall-clock bound of one decode: a minute, plus time in proportion to the file's size (an hour
# of Opus is ~15 MB and decodes in ~15 s here). A decoder that stalls is stopped, not waited for.
DECODE_BASE_S = 60.0
DECODE_S_PER_MIB = 4.0
DECODE_IO_TIMEOUT_S = 10.0
GROUP_SAMPLES = 160_000  # resampled ten seconds at a time (as faster-whisper groups frames)


# What a recording is, by its first bytes: the name may say .wav of an mp3, or nothing at all.
MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"RIFF", 0, ".wav"), (b"OggS", 0, ".ogg"), (b"fLaC", 0, ".flac"), (b"ID3", 0, ".mp3"),
    (b"#!AMR", 0, ".amr"), (b"\x1aE\xdf\xa3", 0, ".webm"), (b"FORM", 0, ".aiff"),
    (b"ftyp3g", 4, ".3gp"), (b"ftyp", 4, ".m4a"), (b"\x02dss", 0, ".dss"), (b"\x03ds2", 0, ".ds2"),
    (b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", 0, ".wma"),
)
# The one FFmpeg demuxer allowed to open each container. Never probing: a probe would accept
# playlists (HLS, concat, SDP…), which open other files on the machine or wait for ever.
DEMUXERS = {
    ".wav": "wav", ".ogg": "ogg", ".flac": "flac", ".mp3": "mp3", ".amr": "amr", ".webm": "matroska",
    ".aiff": "aiff", ".3gp": "mov", ".m4a": "mov", ".aac": "aac", ".wma": "asf",
}


def _frame_sync(head: bytes) -> str | None:
    """An MPEG audio stream without a header: mp3 frames, or raw AAC (ADTS, layer bits 00)."""
    if len(head) < 2 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return None
    if head[1] & 0xF6 == 0xF0:
        return ".aac"
    return ".mp3" if head[1] & 0x06 else None


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
    return _frame_sync(head)


def recognised_format(path: Path) -> str | None:
    """The format by content; refuses dictaphone formats with a way out. None if the bytes say
    no audio container we read, whatever the name says."""
    suffix = sniff_suffix(path)
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


def not_a_recording(path: Path) -> UnsupportedFormat:
    return UnsupportedFormat(
        "not_audio",
        f"Ce fichier n'est pas un enregistrement audio lisible (extension « {path.suffix or '(aucune)'} ») : "
        "pas un enregistrement.",
        f"This file is not a readable audio recording (extension '{path.suffix or '(none)'}'): not a recording.",
    )


def too_large(size: int, limit_mb: float) -> BadInput:
    return BadInput(
        "too_large",
        f"Fichier trop volumineux ({size / MIB:.0f} Mo, maximum {limit_mb:.0f} Mo) : ce n'est pas une dictée.",
        f"File too large ({size / MIB:.0f} MB, limit {limit_mb:.0f} MB): not a dictation.",
    )


def check_size(path: Path, *, max_file_mb: float) -> int:
    """The file's size, refused before anything reads it whole (sealing, hashing, decoding)."""
    size = path.stat().st_size
    if size == 0:
        raise BadInput("empty_file", "Le fichier est vide.", "The file is empty.")
    if size > max_file_mb * MIB:
        raise too_large(size, max_file_mb)
    return size


def wav_is_truncated(handle: BinaryIO, size: int) -> bool:
    """The RIFF data chunk announces more bytes than the file holds (chunks walked by seeking)."""
    offset = 12
    while offset + 8 <= size:
        handle.seek(offset)
        header = handle.read(8)
        chunk_id, length = header[:4], int.from_bytes(header[4:8], "little")
        if chunk_id == b"data":
            present = size - offset - 8
            return length != 0xFFFFFFFF and present < length * MIN_DECODED_SHARE
        offset += 8 + length + (length & 1)
    return True  # no data chunk at all


OGG_TAIL_BYTES = 65_536 + 282  # an Ogg page is at most 65,307 bytes


def ogg_is_truncated(handle: BinaryIO, size: int) -> bool:
    """A complete Ogg stream ends with a page flagged end-of-stream, whole (its last page only is read)."""
    start = max(0, size - OGG_TAIL_BYTES)
    handle.seek(start)
    data = handle.read()
    last = data.rfind(b"OggS")
    if last < 0 or last + 27 > len(data):
        return True
    header_type, segments = data[last + 5], data[last + 26]
    table = data[last + 27:last + 27 + segments]
    page_end = last + 27 + segments + sum(table)
    return not (header_type & 0x04) or len(table) < segments or page_end > len(data)


STRUCTURE_CHECKS = {".wav": wav_is_truncated, ".ogg": ogg_is_truncated}


def check_structure(path: Path, recognised: str) -> None:
    """Catch cut files that decoders would read as merely shorter recordings."""
    is_truncated = STRUCTURE_CHECKS.get(recognised)
    if is_truncated is None:
        return
    with path.open("rb") as handle:
        truncated = is_truncated(handle, path.stat().st_size)
    if truncated:
        raise BadInput(
            "truncated",
            "Fichier audio incomplet (copie interrompue ?) : redéposez l'enregistrement complet.",
            "Incomplete audio file (interrupted copy?): drop the complete recording again.",
        )


def open_container(path: Path, *, timeout_s: float = DECODE_IO_TIMEOUT_S):
    """The file opened by the one demuxer its bytes allow; BadInput for anything else."""
    import av

    recognised = recognised_format(path)
    if recognised is None:
        raise not_a_recording(path)
    try:
        container = av.open(str(path), mode="r", format=DEMUXERS[recognised], metadata_errors="ignore",
                            timeout=(timeout_s, timeout_s))
    except Exception as error:  # PyAV raises many types for unreadable input
        raise unreadable() from error
    if not container.streams.audio:
        container.close()
        raise BadInput("no_audio_stream", "Le fichier ne contient aucune piste audio.", "The file contains no audio track.")
    return container


def unreadable() -> BadInput:
    return BadInput(
        "unreadable",
        "Fichier illisible : ce n'est pas un enregistrement audio valide.",
        "Unreadable file: this is not a valid audio recording.",
    )


def stated_duration(container) -> float | None:
    stream = container.streams.audio[0]
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return container.duration / 1_000_000 if container.duration else None


def container_duration(path: Path) -> float | None:
    with open_container(path) as container:
        return stated_duration(container)


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


def too_long(seconds: float, limit_s: float) -> BadInput:
    return BadInput(
        "too_long",
        f"Enregistrement trop long ({duration_text(seconds)}, maximum {duration_text(limit_s)}).",
        f"Recording too long ({duration_text(seconds)}, limit {duration_text(limit_s)}).",
    )


@dataclass(frozen=True, slots=True)
class DecodeBounds:
    """What one decode may take: audio seconds, and wall-clock seconds."""

    max_audio_s: float
    deadline: float  # time.monotonic()

    @classmethod
    def for_file(cls, size: int, *, declared: float | None, max_duration_s: float,
                 lossless: bool = False) -> "DecodeBounds":
        floor = LOSSLESS_MIN_BYTES_PER_SECOND if lossless else MIN_BYTES_PER_SECOND
        plausible = BOMB_GRACE_S + size / floor
        if declared:
            plausible = min(plausible, declared / MIN_DECODED_SHARE + BOMB_GRACE_S)
        return cls(max_audio_s=min(plausible, max_duration_s),
                   deadline=time.monotonic() + DECODE_BASE_S + DECODE_S_PER_MIB * size / MIB)


def stream_samples(container, bounds: DecodeBounds, *, max_duration_s: float) -> np.ndarray:
    """Decode, resample to 16 kHz mono int16 ten seconds at a time, and stop as soon as the audio
    passes its bound or the clock its deadline: never the whole of a bomb in memory."""
    import av

    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    fifo = av.AudioFifo()
    parts: list[np.ndarray] = []
    decoded_s = 0.0

    def drain(frame) -> None:
        for out in resampler.resample(frame):
            parts.append(out.to_ndarray().reshape(-1).copy())

    for frame in _valid_frames(container.decode(audio=0)):
        decoded_s += frame.samples / (frame.sample_rate or SAMPLE_RATE)
        if decoded_s > bounds.max_audio_s:
            if decoded_s > max_duration_s:
                raise too_long(decoded_s, max_duration_s)
            raise BadInput("inconsistent_length",
                           "Le fichier contient bien plus d'audio qu'il ne le peut ou ne l'annonce : refusé.",
                           "The file holds far more audio than it can or than it states: refused.")
        if time.monotonic() > bounds.deadline:
            raise BadInput("decode_timeout", "Le décodage de l'audio ne se termine pas : fichier refusé.",
                           "Decoding the audio does not finish: file refused.")
        frame.pts = None
        fifo.write(frame)
        if fifo.samples >= GROUP_SAMPLES:
            drain(fifo.read())
    if fifo.samples:
        drain(fifo.read())
    drain(None)  # flush the resampler
    pcm = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
    return pcm.astype(np.float32) / 32768.0


def _valid_frames(frames):
    """Skip frames the decoder says are invalid, as faster-whisper does."""
    import av

    iterator = iter(frames)
    while True:
        try:
            yield next(iterator)
        except StopIteration:
            return
        except av.error.InvalidDataError:
            continue


def decode(path: Path, *, min_duration_s: float, max_duration_s: float,
           max_file_mb: float = 512.0) -> np.ndarray:
    """Return 16 kHz mono float32 samples, or raise BadInput with a reason. Size, container,
    audio length and time are bounded before or while decoding, never after."""
    size = check_size(path, max_file_mb=max_file_mb)
    recognised = recognised_format(path)
    if recognised is None:
        raise not_a_recording(path)
    with open_container(path) as container:
        declared = stated_duration(container)
        check_structure(path, recognised)
        if declared is not None and declared > max_duration_s:
            raise too_long(declared, max_duration_s)
        bounds = DecodeBounds.for_file(size, declared=declared, max_duration_s=max_duration_s,
                                       lossless=recognised in LOSSLESS)
        try:
            samples = stream_samples(container, bounds, max_duration_s=max_duration_s)
        except BadInput:
            raise
        except Exception as error:
            raise BadInput("corrupt", "Le décodage de l'audio a échoué : fichier endommagé.",
                           "Decoding the audio failed: the file is damaged.") from error
    decoded = len(samples) / SAMPLE_RATE
    if declared and decoded < declared * MIN_DECODED_SHARE:
        raise BadInput(
            "truncated",
            f"Audio tronqué ou endommagé : {decoded:.1f} s lisibles sur {declared:.1f} s annoncées.",
            f"Audio truncated or damaged: {decoded:.1f} s decodable of {declared:.1f} s declared.",
        )
    if decoded < min_duration_s:
        raise BadInput("too_short", f"Enregistrement trop court ({decoded:.1f} s).", f"Recording too short ({decoded:.1f} s).")
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
