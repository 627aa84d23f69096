"""A group practice: each practitioner drops into inbox/<folder>/ and their letters carry their letterhead."""

from __future__ import annotations

import io
import os
import re
import time

import pytest
from docx import Document
from pydantic import ValidationError

from pipeline import ingest
from pipeline.job import run_job
from pipeline.settings import Practitioner, Settings
from pipeline.watch import InboxWatcher
from tests.conftest import signed_in, write_tone

MARTIN = Practitioner(name="Dr Paul Martin", specialty="Rhumatologie", address="12 place Bellecour, 69002 Lyon",
                      rpps="10202020202", city="Lyon")


@pytest.fixture
def group(settings):
    for folder in ("martin", "martin/urgent", "inconnu"):
        (settings.inbox / folder).mkdir(parents=True)
    return settings.model_copy(update={"practitioners": {"martin": MARTIN}})


def letter_text(settings, job_id) -> str:
    docx = settings.vault().read_bytes(settings.outbox / job_id / "draft.docx")
    return "\n".join(p.text for p in Document(io.BytesIO(docx)).paragraphs)


def draft_links(worklist_page: str) -> list[str]:
    return re.findall(r'<a href="/jobs/\w+">Ouvrir</a>', worklist_page)


def test_practitioners_come_from_the_config_file_and_folder_names_are_checked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dictee.toml").write_text('[practitioners.martin]\nname = "Dr Paul Martin"\nrpps = "10202020202"\n')
    settings = Settings()
    assert settings.practitioner("martin").rpps == "10202020202"
    assert settings.practitioner(None).name == settings.practitioner_name  # the inbox root
    for folder in ("urgent", "../etc", "a b"):
        with pytest.raises(ValidationError):
            Settings(practitioners={folder: {"name": "Dr X"}})


def test_the_inbox_takes_practitioner_folders_and_counts_strays(group):
    for name in ("martin/a.wav", "martin/urgent/b.wav", "c.wav", "inconnu/d.wav"):
        (group.inbox / name).write_bytes(b"audio")
    names = [p.relative_to(group.inbox).as_posix() for p in ingest.list_candidates(group.inbox, group.practitioners)]
    assert names[0] == "martin/urgent/b.wav" and sorted(names) == ["c.wav", "martin/a.wav", "martin/urgent/b.wav"]
    assert ingest.author_of(group.inbox / "martin/urgent/b.wav", group.inbox, group.practitioners) == (True, "martin")
    assert ingest.author_of(group.inbox / "c.wav", group.inbox, group.practitioners) == (True, None)
    assert ingest.author_of(group.inbox / "inconnu/d.wav", group.inbox, group.practitioners) == (False, None)
    assert ingest.stray_files(group.inbox, group.practitioners) == 1


def test_the_letter_is_signed_by_the_practitioner_whose_folder_received_it(group, fake_transcriber):
    write_tone(group.inbox / "martin" / "a.wav")
    write_tone(group.inbox / "b.wav", seconds=3.0)
    dictations = ingest.claim_backlog(group).dictations
    by_author = {d.author: d for d in dictations}
    assert set(by_author) == {"martin", None}
    for dictation in dictations:
        run_job(dictation, group)
    martin = group.vault().read_json(group.outbox / by_author["martin"].job_id / "result.json")
    assert martin["author"] == "Dr Paul Martin" and martin["author_folder"] == "martin"
    assert "Dr Paul Martin" in letter_text(group, by_author["martin"].job_id)
    assert "10202020202" in letter_text(group, by_author["martin"].job_id)
    assert group.practitioner_name in letter_text(group, by_author[None].job_id)


def test_an_interrupted_claim_keeps_its_author(group):
    source = write_tone(group.inbox / "martin" / "a.wav")
    ingest.claim_dictation(source, work_dir=group.work_dir, outbox=group.outbox, author="martin")
    assert [d.author for d in ingest.unfinished_claims(group.work_dir)] == ["martin"]


def test_watch_takes_practitioner_folders_and_leaves_unknown_ones(group):
    processed = []
    watcher = InboxWatcher(group, processed.append)
    for name in ("martin/a.wav", "inconnu/b.wav"):
        path = group.inbox / name
        path.write_bytes(b"finished recording " + name.encode())
        os.utime(path, (time.time() - 60, time.time() - 60))
        watcher.notice(path)  # as a watchdog event would
    watcher.run_once()
    assert [(d.original_name, d.author) for d in processed] == [("a.wav", "martin")]
    assert (group.inbox / "inconnu" / "b.wav").exists()


def test_a_letter_regenerated_after_review_keeps_its_author(group, fake_transcriber):
    source = write_tone(group.inbox / "martin" / "a.wav", seconds=4.0)
    dictation = ingest.claim_dictation(source, work_dir=group.work_dir, outbox=group.outbox, author="martin")
    run_job(dictation, group)
    with signed_in(group) as client:
        page = client.get("/").text
        assert "Dr Paul Martin" in page  # the worklist's author column
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        client.post(f"/jobs/{dictation.job_id}/edit", data={"csrf": csrf, "patient.first_name": "Jacques"})
    text = letter_text(group, dictation.job_id)
    assert "Jacques" in text and "Dr Paul Martin" in text


def test_the_worklist_filters_by_author(group, fake_transcriber):
    for name in ("martin/a.wav", "b.wav"):
        source = write_tone(group.inbox / name, seconds=3.0 + len(name) / 10)
        _, author = ingest.author_of(source, group.inbox, group.practitioners)
        run_job(ingest.claim_dictation(source, work_dir=group.work_dir, outbox=group.outbox, author=author), group)
    with signed_in(group) as client:
        everyone = client.get("/").text
        martin_only = client.get("/", params={"author": "Dr Paul Martin"}).text
    assert len(draft_links(everyone)) == 2 and len(draft_links(martin_only)) == 1
    assert f'<option value="{group.practitioner_name}"' in everyone


def test_a_letter_keeps_its_signature_when_the_settings_change_before_review(group, fake_transcriber):
    source = write_tone(group.inbox / "martin" / "a.wav", seconds=4.0)
    dictation = ingest.claim_dictation(source, work_dir=group.work_dir, outbox=group.outbox, author="martin")
    run_job(dictation, group)
    left = group.model_copy(update={"practitioners": {}})  # Dr Martin has left the practice's settings
    with signed_in(left) as client:
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/").text).group(1)
        client.post(f"/jobs/{dictation.job_id}/edit", data={"csrf": csrf, "patient.first_name": "Jacques"})
    text = letter_text(left, dictation.job_id)
    assert "Jacques" in text and "Dr Paul Martin" in text and "10202020202" in text
