"""Hostile files: playlists that open other files, live playlists that never end, absurdly large
files and decompression bombs are refused by content, before or while decoding, with bounded
time and memory; the quarantine keeps a bounded sample of what is not a dictation."""

from __future__ import annotations

import io
import shutil
import struct
import threading
import tracemalloc
import zipfile

import numpy as np
import pytest

from pipeline import audio, ingest, typed
from pipeline.errors import BadInput
from pipeline.job import run_job
from pipeline.store import ABSURD_SAMPLE, ABSURD_SAMPLE_BYTES
from pipeline.vault import create_key_file, is_sealed
from tests.conftest import REPO, write_tone

LIMITS = {"min_duration_s": 0.5, "max_duration_s": 600.0}
SAMPLE = REPO / "samples" / "fleurs-fr-002.ogg"


def refusal(path, **limits) -> str:
    with pytest.raises(BadInput) as caught:
        audio.decode(path, **{**LIMITS, **limits})
    assert caught.value.fr and caught.value.en
    return caught.value.code


def claim(settings, path):
    return ingest.claim_dictation(path, work_dir=settings.work_dir, outbox=settings.outbox)


def another_practitioners_recording(settings):
    """What an attacker would point at: practitioner A's drafted audio, in the outbox."""
    target = settings.outbox / "0123456789abcdef" / "audio.ogg"
    target.parent.mkdir(parents=True)
    shutil.copyfile(SAMPLE, target)
    return target


PLAYLISTS = {
    "hls.m3u8": "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:30\n#EXTINF:30.0,\n{target}\n#EXT-X-ENDLIST\n",
    "hls-named.wav": "#EXTM3U\n#EXT-X-TARGETDURATION:30\n#EXTINF:30.0,\n{target}\n#EXT-X-ENDLIST\n",
    "concat.ffconcat": "ffconcat version 1.0\nfile '{target}'\n",
    "session.sdp": "v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 5004 RTP/AVP 0\n",
}


@pytest.mark.parametrize("name", sorted(PLAYLISTS))
def test_a_playlist_never_reads_the_files_it_names(settings, fake_transcriber, name):
    target = another_practitioners_recording(settings)
    folder = settings.inbox / "b"
    folder.mkdir()
    playlist = folder / name
    playlist.write_text(PLAYLISTS[name].format(target=target))
    assert refusal(playlist) == "not_audio"
    dictation = claim(settings, playlist)
    outcome = run_job(dictation, settings)
    assert (outcome.status, outcome.reason) == ("quarantined", "not_audio")
    assert not (settings.outbox / dictation.job_id).exists()  # nothing drafted from A's recording
    reason = (settings.quarantine_dir / dictation.job_id / "raison.txt").read_text(encoding="utf-8")
    assert "pas un enregistrement" in reason and "not a recording" in reason


def test_a_live_playlist_is_refused_at_once_not_waited_for(settings):
    """Without #EXT-X-ENDLIST the HLS demuxer waits for more segments for ever."""
    target = another_practitioners_recording(settings)
    live = settings.inbox / "live.m3u8"
    live.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:2.0,\n{target}\n")
    outcome: list = []
    worker = threading.Thread(target=lambda: outcome.append(refusal(live)), daemon=True)
    worker.start()
    worker.join(timeout=60)  # a hang guard, not a speed target: before the fix this never returned
    assert outcome == ["not_audio"]


def test_content_decides_a_real_recording_under_any_name(settings, tmp_path):
    renamed = tmp_path / "dictee.m3u8"
    shutil.copyfile(SAMPLE, renamed)
    assert len(audio.decode(renamed, **LIMITS)) > 16_000


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(settings, tmp_path):
    big = write_tone(tmp_path / "big.wav", seconds=40.0)  # ~1.3 MB
    assert refusal(big, max_file_mb=1.0) == "too_large"


def sparse_wav(path, size: int):
    """A WAV header then a hole: `size` bytes on paper, nothing on disk."""
    header = b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16) \
        + b"data" + struct.pack("<I", 0xFFFFFFFF)
    with path.open("wb") as handle:
        handle.write(header)
        handle.truncate(size)
    return path


def test_a_2_gib_file_with_encryption_on_is_quarantined_as_a_bounded_sample(settings, tmp_path, fake_transcriber):
    """Sealing 2 GiB made the crypto library panic (not an Exception): every run died on it."""
    key = tmp_path / "keys" / "k.key"
    create_key_file(key, guarded=[])
    sealed = settings.model_copy(update={"encryption_key_file": key})
    huge = sparse_wav(sealed.inbox / "enorme.wav", 2 * 1024 ** 3 + 4096)
    dictation = claim(sealed, huge)
    outcome = run_job(dictation, sealed)
    assert (outcome.status, outcome.reason) == ("quarantined", "too_large")
    folder = sealed.quarantine_dir / dictation.job_id
    kept = folder / ABSURD_SAMPLE
    assert is_sealed(kept.read_bytes()) and len(sealed.store().read_bytes(kept)) == ABSURD_SAMPLE_BYTES
    assert not list(folder.glob("audio.*"))  # not a copy of gigabytes
    error = sealed.store().read_json(folder / "error.json")
    assert error["size"] == 2 * 1024 ** 3 + 4096 and error["sha256"] == dictation.sha256
    assert not list(sealed.work_dir.glob(f"{dictation.job_id}*"))  # the claim let go: no crash loop


def flac_bomb(path, *, seconds: float, states_seconds: float | None) -> int:
    """Digital silence in FLAC: minutes of audio in a few kilobytes. `states_seconds`: the length
    its header claims (None: unknown, as a streamed FLAC says)."""
    import av

    rate = 8000
    with av.open(str(path), "w", format="flac") as container:
        stream = container.add_stream("flac", rate=rate, layout="mono")
        frame_samples = 4096
        silence = np.zeros((1, frame_samples), dtype=np.int16)
        for _ in range(int(seconds * rate / frame_samples)):
            frame = av.AudioFrame.from_ndarray(silence, format="s16", layout="mono")
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    data = bytearray(path.read_bytes())
    # STREAMINFO's total samples: 36 bits after sample rate (20), channels (3) and bits (5).
    total = int(states_seconds * rate) if states_seconds is not None else 0
    packed = int.from_bytes(data[18:26], "big")
    packed = (packed & ~((1 << 36) - 1)) | total
    data[18:26] = packed.to_bytes(8, "big")
    path.write_bytes(bytes(data))
    return len(data)


@pytest.mark.parametrize("states", [1.0, None], ids=["claims-1s", "length-unknown"])
def test_a_flac_bomb_stops_decoding_early_with_bounded_memory(tmp_path, states):
    bomb = tmp_path / "bomb.flac"
    size = flac_bomb(bomb, seconds=1200, states_seconds=states)
    assert size < 400_000  # twenty minutes in a few hundred KB
    tracemalloc.start()
    try:
        code = refusal(bomb, max_duration_s=3600.0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert code == "inconsistent_length"
    assert peak < 64 * 1024 * 1024  # 20 min at 16 kHz would be 77 MB of float32 alone


def test_a_recording_longer_than_the_limit_stops_while_decoding(tmp_path):
    long = tmp_path / "long.flac"
    flac_bomb(long, seconds=120, states_seconds=None)  # no stated length: only decoding can tell
    assert refusal(long, max_duration_s=30.0) in {"too_long", "inconsistent_length"}


def docx_bomb(path, *, xml_bytes: int) -> bytes:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        with archive.open("word/document.xml", "w") as member:
            member.write(b'<?xml version="1.0"?><w:document xmlns:w="x"><w:body>')
            block = b" " * (1 << 20)
            for _ in range(xml_bytes >> 20):
                member.write(block)
            member.write(b"</w:body></w:document>")
    return path.read_bytes()


def test_a_docx_bomb_is_refused_from_its_zip_directory(tmp_path):
    data = docx_bomb(tmp_path / "notes.docx", xml_bytes=300 * 1024 * 1024)
    assert len(data) < 2 * 1024 * 1024
    tracemalloc.start()
    try:
        with pytest.raises(BadInput) as caught:
            typed.read_typed(data, ".docx")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert caught.value.code == "too_large"
    assert peak < 32 * 1024 * 1024


def test_a_real_word_document_still_reads(tmp_path):
    from docx import Document

    document = Document()
    document.add_paragraph("Courrier au docteur Martin. Bien confraternellement.")
    buffer = io.BytesIO()
    document.save(buffer)
    assert "docteur Martin" in typed.read_typed(buffer.getvalue(), ".docx")
