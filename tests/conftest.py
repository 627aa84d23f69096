"""Shared fixtures: isolated folders and settings, a fake transcriber, generated audio."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_EVAL = REPO.parent / "shared" / "eval"
FLEURS = SHARED_EVAL / "audio-fleurs-fr"
DEV_DICTATIONS = SHARED_EVAL / "dictations_dev.json"

os.environ.setdefault("TQDM_DISABLE", "1")


def write_tone(path: Path, *, seconds: float = 2.0, rate: int = 16_000, amplitude: float = 0.3) -> Path:
    """A plain sine tone: decodes, is not silent, and has no speech."""
    from pipeline.audio import tone, write_wav

    return write_wav(path, tone(seconds, rate=rate, amplitude=amplitude), rate=rate)


@pytest.fixture
def settings(tmp_path, monkeypatch):
    from pipeline.settings import Settings

    monkeypatch.chdir(tmp_path)  # no stray dictee.toml from the repo or the user
    for name in list(os.environ):
        if name.startswith("DICTEE_"):
            monkeypatch.delenv(name)
    (tmp_path / "inbox").mkdir()
    return Settings(
        inbox=tmp_path / "inbox",
        outbox=tmp_path / "outbox",
        models_dir=REPO / "models",
        letter_templates=REPO / "letter_templates",
        stable_seconds=0,
    )


class FakeTranscriber:
    """Returns a fixed dictation, one word per 0.4 s; the real one is tested end to end."""

    def __init__(self, text: str, probability: float = 0.9) -> None:
        self.text = text
        self.probability = probability
        self.unheard: tuple[tuple[float, float], ...] = ()
        self.calls = 0
        self.scored = 0

    def transcribe(self, samples, *, initial_prompt=None, hotwords=None, listening=None):
        from pipeline.records import Transcript, Word

        self.calls += 1
        self.hotwords, self.listening = hotwords, listening
        words = tuple(
            Word(start=round(i * 0.4, 2), end=round(i * 0.4 + 0.35, 2), word=" " + token, probability=self.probability)
            for i, token in enumerate(self.text.split())
        )
        return Transcript(raw=self.text, language="fr", language_probability=1.0, words=words,
                          duration_s=len(samples) / 16_000, unheard=self.unheard)

    def score_readings(self, samples, readings, *, prompt=None, heard=None, context=""):
        """Every reading as likely as the first: a second listening changes nothing."""
        self.scored += 1
        return [0.0] * len(readings)


SAMPLE_DICTATION = (
    "Courrier au docteur Martin, cardiologue à Lyon. Cher confrère, virgule, je vous adresse Monsieur Jean Dupont, "
    "né le douze mars mille neuf cent cinquante-six. Il est traité par amlodipine cinq milligrammes par jour. "
    "Pas de dyspnée. Point. Bien confraternellement."
)


@pytest.fixture
def fake_transcriber(monkeypatch):
    """A fake recognizer, put in through the pipeline's own seam (the engine registry): every
    step that asks for a recognizer in this process gets it."""
    from pipeline import transcribe

    fake = FakeTranscriber(SAMPLE_DICTATION)
    transcribe.get_transcriber.cache_clear()  # nothing loaded before stands in for it
    monkeypatch.setitem(transcribe.ENGINES, "faster-whisper", lambda config: fake)
    yield fake
    transcribe.get_transcriber.cache_clear()  # nor does it stand in for a real one afterwards


def require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"evaluation data not found at {path} (expected ../shared/eval beside the repo)")
    return path


REVIEW_PASSWORD = "correct horse battery"


# Test clients come from the practice's own machine: no second factor is asked (see test_remote.py).
LOCAL_CLIENT = ("127.0.0.1", 50000)


@contextmanager
def signed_in(settings, username: str = "sophie", *, role: str = "secretary", signs_for: str = "."):
    """A review-app test client, logged in as a new account (`client.app` is the app); a
    practitioner's account signs for `signs_for` (an inbox folder, "." for the main letterhead)."""
    from fastapi.testclient import TestClient

    from pipeline.review import create_app
    from pipeline.review.auth import add_user, set_practitioner

    app = create_app(settings)
    with app.state.sessions() as session:
        add_user(session, username, REVIEW_PASSWORD, role)
        if role == "practitioner":
            set_practitioner(session, username, signs_for, known_folders=settings.practitioners)
    with TestClient(app, follow_redirects=False, client=LOCAL_CLIENT) as client:
        client.post("/login", data={"username": username, "password": REVIEW_PASSWORD})
        yield client


POSTGRES_BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


def run_as_postgres(*command: str) -> subprocess.CompletedProcess:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=120)


def stop_process(process: subprocess.Popen, timeout: float = 30) -> None:
    """Ask a server started by a test to stop, and kill it if it does not in time."""
    process.terminate()
    try:
        process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class PostgresCluster:
    bin_dir: str
    port: int

    def url(self, driver: str) -> str:
        return f"{driver}://postgres@127.0.0.1:{self.port}/postgres"

    def dump(self) -> str:
        """Everything the database holds, as SQL text (to search it for leaks)."""
        return run_as_postgres(f"{self.bin_dir}/pg_dump", "-h", "127.0.0.1", "-p", str(self.port),
                               "-U", "postgres", "postgres").stdout.decode("utf-8", "replace")


@pytest.fixture
def postgres():
    """A throwaway PostgreSQL cluster on a free local port, trust authentication, deleted afterwards."""
    if not POSTGRES_BINARIES or (os.geteuid() == 0 and shutil.which("runuser") is None):
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql); scripts/test.sh installs it when run as root")
    # Directly under /tmp: pytest's own temporary root is closed to other users.
    data = Path(tempfile.mkdtemp(prefix="dictee-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres")
    cluster = PostgresCluster(POSTGRES_BINARIES[-1], free_port())
    run_as_postgres(f"{cluster.bin_dir}/initdb", "-D", str(data), "-A", "trust", "-U", "postgres")
    # -l: the server must not inherit our pipes, or waiting for pg_ctl never ends.
    run_as_postgres(f"{cluster.bin_dir}/pg_ctl", "-D", str(data), "-l", str(data / "server.log"), "-w",
                    "-o", f"-p {cluster.port} -k {data} -c listen_addresses=127.0.0.1", "start")
    try:
        yield cluster
    finally:
        run_as_postgres(f"{cluster.bin_dir}/pg_ctl", "-D", str(data), "-m", "fast", "stop")
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def models(tmp_path):
    """A models folder holding only the bundled model (linked, not copied)."""
    from pipeline.modelstore import BUNDLED_NAME

    folder = tmp_path / "models"
    folder.mkdir()
    (folder / BUNDLED_NAME).symlink_to(REPO / "models" / BUNDLED_NAME)
    return folder


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """cert.pem and key.pem for localhost and 127.0.0.1, valid a day: a desk's TLS as a practice
    would set it up with its own certificate."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
                   .not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                               x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .sign(key, hashes.SHA256()))
    (folder / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return folder / "cert.pem", folder / "key.pem"


@pytest.fixture
def practice_database_urls() -> dict[str, str]:
    """Review databases of a centre's desk ("centre") and practices by name: SQLite in each
    outbox unless a test module gives PostgreSQL ones (test_centre_postgres.py)."""
    return {}


@pytest.fixture
def two_practices(tmp_path, monkeypatch, fake_transcriber, practice_database_urls):
    """A centre with practices A and B (their own keys and letterheads), the same recording
    dictated at both (one job id, two drafts), and its accounts: sophie (A and B), anne (A only),
    dr_a and dr_b (practitioners of A and of B), chef (admin of both)."""
    import os

    from pipeline import ingest
    from pipeline.job import run_job
    from pipeline.practices import Centre
    from pipeline.review.app import review_sessions
    from pipeline.review.auth import add_user
    from pipeline.review.centre import desk_settings, grant
    from pipeline.settings import Settings
    from pipeline.vault import create_key_file

    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("DICTEE_"):
            monkeypatch.delenv(name)
    installation = Settings(models_dir=REPO / "models", letter_templates=REPO / "letter_templates",
                            database_url=practice_database_urls.get("centre"))
    centre = Centre(tmp_path / "centre")
    drafts = {}
    for name, doctor in (("cab-a", "Dr Alice Aubert"), ("cab-b", "Dr Bruno Bécu")):
        create_key_file(tmp_path / "keys" / name, guarded=[])
        practice = centre.add(name, outbox=tmp_path / name / "outbox", key=tmp_path / "keys" / name,
                              installation=installation)
        with practice.settings_file.open("a") as own:
            own.write(f'practitioner_name = "{doctor}"\nstable_seconds = 0\n')
            if name in practice_database_urls:
                own.write(f'database_url = "{practice_database_urls[name]}"\n')
        settings = centre.settings(practice)
        source = write_tone(settings.inbox / "dictation.wav", seconds=2.0)
        drafts[name] = ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox).job_id
        run_job(next(iter(ingest.unfinished_claims(settings.work_dir))), settings)
    assert drafts["cab-a"] == drafts["cab-b"]  # the same recording: only the practice tells them apart
    accounts = review_sessions(desk_settings(installation, centre))
    with accounts() as session:
        for username, role in (("sophie", "secretary"), ("anne", "secretary"), ("dr_a", "practitioner"),
                               ("dr_b", "practitioner"), ("chef", "admin")):
            add_user(session, username, REVIEW_PASSWORD, role)
        a, b = centre.find("cab-a"), centre.find("cab-b")
        for username, practice, folders in (("sophie", a, []), ("sophie", b, []), ("anne", a, []), ("dr_a", a, ["."]),
                                            ("dr_b", b, ["."]),
                                            ("chef", a, []), ("chef", b, [])):
            grant(session, username, practice, folders, known_folders={})
        session.commit()
    accounts.kw["bind"].dispose()  # no connection left open (PostgreSQL would warn of it)
    return installation, centre, drafts["cab-a"]
