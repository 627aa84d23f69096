"""`dictee send`: recordings sent to a remote desk from the practitioner's own machine, as
« Dicter » sends them from a browser — signed in with his account, in chunks, resumed after a
network drop or a killed run, delivered into his inbox folder at the desk.

The password never travels in clear: https, or http to this machine only. A run that stops
midway leaves a small state file (the upload's id, nothing of the patient) under the user's
state folder; the next run for the same recording, desk and account asks the desk where it
stopped and goes on from there.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

import httpx

from pipeline import audio, upload
from pipeline.errors import DicteeError
from pipeline.files import write_bytes_atomic
from pipeline.practices import PracticeError, check_name

CHUNK_BYTES = 1024 * 1024  # under the desk's 4 MB a chunk
RETRIES = 6  # per chunk, across network drops, waiting 1, 2, 4 … s
TIMEOUT_S = 60.0
CSRF = re.compile(r'data-csrf="([^"]+)"')


class SendError(DicteeError):
    """Said to the user in both languages, never with the recording's name or the password."""


@dataclass(frozen=True, slots=True)
class SentRecording:
    job_id: str
    size: int
    resumed_at: int  # bytes the desk already had when this run began


def desk_url(url: str) -> str:
    """The desk's base address; refused when it would carry the password in clear."""
    invalid = SendError("adresse du bureau invalide (https://…) / invalid desk address (https://…)")
    url = url.strip()
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        raise invalid
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a port out of range)
    except ValueError:
        raise invalid from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid
    if parts.username or parts.password or parts.query or parts.fragment:
        raise SendError("adresse du bureau : sans identifiants ni paramètres / desk address: no credentials or parameters")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise SendError("le mot de passe ne part jamais en clair : https:// (ou http:// vers cette machine) / "
                        "the password is never sent in clear: https:// (or http:// to this machine)")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def checked_recording(path: Path) -> int:
    """The recording's size, after the checks the desk would make (said before signing in)."""
    if not path.is_file():
        raise SendError("fichier introuvable / file not found")
    size = path.stat().st_size
    if size == 0:
        raise SendError("fichier vide / empty file")
    if size > upload.MAX_RECORDING_BYTES:
        raise SendError(f"enregistrement trop volumineux (plus de {upload.MAX_RECORDING_BYTES // 2**20} Mo) / "
                        f"recording too large (over {upload.MAX_RECORDING_BYTES // 2**20} MB)")
    if audio.sniff_suffix(path) not in upload.RECORDING_FORMATS:
        raise SendError("pas un enregistrement audio lisible (wav, mp3, ogg, m4a, webm, flac…) / "
                        "not a readable audio recording (wav, mp3, ogg, m4a, webm, flac…)")
    return size


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "dictee" / "send"


def _state_file(base: str, username: str, digest: str) -> Path:
    key = hashlib.sha256(f"{base}\n{username}\n{digest}".encode()).hexdigest()[:32]
    return state_dir() / f"{key}.json"


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Desk:
    """A signed-in practitioner's session at the desk, over `http` (an httpx client whose
    base_url is the desk; tests pass the app's own)."""

    def __init__(self, http: httpx.Client, username: str, practice: str | None = None) -> None:
        self.http, self.username = http, username
        self.csrf = ""
        # A centre's desk: the practice's « Dicter » is under /p/<practice>/; signing in is the centre's.
        self.practice = practice
        self.at = f"/p/{practice}" if practice else ""

    def sign_in(self, password: str, code: Callable[[], str]) -> None:
        """Password, then the second factor when the desk asks for it (`code` is asked then)."""
        answer = self._call("post", "/login", data={"username": self.username, "password": password})
        if answer.status_code == 429:
            raise SendError("trop d'essais : réessayez plus tard / too many attempts: try again later")
        if answer.status_code != 303:
            raise SendError("identifiants incorrects / wrong credentials")
        step = answer.headers.get("location", "")
        if step.endswith("/login/enrol"):
            raise SendError("second facteur à activer d'abord dans un navigateur sur le bureau / "
                            "enrol a second factor in a browser at the desk first")
        if step.endswith("/login/code"):
            answer = self._call("post", "/login/code", data={"code": code().strip()})
            if answer.status_code == 429:
                raise SendError("trop d'essais : réessayez plus tard / too many attempts: try again later")
            if answer.status_code != 303:
                raise SendError("code incorrect / wrong code")
        page = self._call("get", f"{self.at}/dicter")
        if page.status_code == 404 and self.practice:
            raise SendError(f"cabinet {self.practice} inconnu du bureau ou non accordé à ce compte / practice "
                            f"{self.practice} unknown to the desk or not granted to this account")
        if page.status_code == 403:
            raise SendError("ce compte ne dicte pas (praticien relié à son dossier) / this account does not dictate "
                            "(a practitioner linked to his folder)")
        found = CSRF.search(page.text) if page.status_code == 200 else None
        if found is None:
            raise SendError(f"le bureau n'a pas ouvert « Dicter » (HTTP {page.status_code}) / "
                            f"the desk did not open « Dicter » (HTTP {page.status_code})")
        self.csrf = found.group(1)

    def send(self, path: Path, *, urgent: bool = False, patient: str | None = None, recipient: str | None = None,
             on_progress: Callable[[int, int], None] = lambda sent, total: None) -> SentRecording:
        size = checked_recording(path)
        state = _state_file(str(self.http.base_url) + self.at, self.username, _file_sha256(path))
        upload_id, offset = self._resumed(state)
        if upload_id is None:
            started = self._json("post", f"{self.at}/dicter/uploads",
                                 json={"urgent": urgent, "patient": patient, "recipient": recipient})
            upload_id, offset = started["id"], 0
            state.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_bytes_atomic(state, json.dumps({"upload_id": upload_id}).encode())
        resumed_at = offset
        with path.open("rb") as recording:
            while offset < size:
                on_progress(offset, size)
                recording.seek(offset)
                offset = self._chunk(upload_id, offset, recording.read(CHUNK_BYTES))
        on_progress(size, size)
        done = self._json("post", f"{self.at}/dicter/uploads/{upload_id}/finish", params={"size": size})
        state.unlink(missing_ok=True)
        return SentRecording(done["job_id"], size, resumed_at)

    def _resumed(self, state: Path) -> tuple[str | None, int]:
        """The upload a stopped run left, and where the desk has it; (None, 0) to start anew."""
        try:
            upload_id = json.loads(state.read_text(encoding="utf-8"))["upload_id"]
        except (OSError, ValueError, KeyError, TypeError):
            return None, 0
        if not isinstance(upload_id, str) or not upload.UPLOAD_ID.match(upload_id):
            return None, 0
        answer = self._call("get", f"{self.at}/dicter/uploads/{upload_id}")
        offset = _body(answer).get("offset")
        if answer.status_code != 200 or not isinstance(offset, int):  # finished, expired or forgotten: start again
            return None, 0
        return upload_id, offset

    def _chunk(self, upload_id: str, offset: int, data: bytes) -> int:
        """Sends one chunk; returns where the desk now is. After a drop, the desk is asked where
        it stands: a chunk it got before the answer was lost is not sent twice."""
        for attempt in range(RETRIES):
            try:
                answer = self.http.put(f"{self.at}/dicter/uploads/{upload_id}", params={"offset": offset}, content=data,
                                       headers={"X-CSRF-Token": self.csrf})
            except httpx.TransportError:
                time.sleep(2 ** attempt)
                try:
                    now = int(self._json("get", f"{self.at}/dicter/uploads/{upload_id}")["offset"])
                except SendError:
                    continue
                if now != offset:
                    return now
                continue
            offset_said = _body(answer).get("offset")
            if answer.status_code == 409 and isinstance(offset_said, int):
                return offset_said  # the desk had more (or less) than we thought: go on from there
            return int(self._checked(answer)["offset"])
        raise SendError("bureau injoignable : relancez la même commande pour reprendre / desk unreachable: "
                        "run the same command again to resume")

    def _call(self, method: str, url: str, **kwargs) -> httpx.Response:
        headers = {"X-CSRF-Token": self.csrf} if self.csrf else {}
        try:
            return self.http.request(method, url, headers=headers, **kwargs)
        except httpx.TransportError as error:
            raise SendError(f"bureau injoignable ({type(error).__name__}) / desk unreachable "
                            f"({type(error).__name__})") from None

    def _json(self, method: str, url: str, **kwargs) -> dict:
        return self._checked(self._call(method, url, **kwargs))

    @staticmethod
    def _checked(answer: httpx.Response) -> dict:
        body = _body(answer)
        if answer.status_code != 200 or not body:
            said = body.get("error") if isinstance(body.get("error"), str) else ""
            raise SendError(f"refusé par le bureau (HTTP {answer.status_code}) / refused by the desk "
                            f"(HTTP {answer.status_code})" + (f" : {said[:200]}" if said else ""))
        return body


def _body(answer: httpx.Response) -> dict:
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def checked_hint(text: str | None, what: tuple[str, str]) -> str | None:
    """A patient or recipient typed on the command line, as the page's field takes it."""
    if text is None or not text.strip():
        return None
    if len(text) > 200 or any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in text):
        raise SendError(f"{what[0]} : 200 caractères au plus, sans caractère de contrôle / "
                        f"{what[1]}: at most 200 characters, no control character")
    return text.strip()


def open_desk(url: str, username: str, *, ca_file: Path | None = None, practice: str | None = None) -> Desk:
    if practice is not None:
        try:
            check_name(practice)  # the centre's own rule for a practice's name
        except PracticeError as refused:
            raise SendError(str(refused)) from None
    verify: bool | str = str(ca_file) if ca_file else True
    if ca_file and not ca_file.is_file():
        raise SendError("certificat introuvable / certificate file not found")
    http = httpx.Client(base_url=desk_url(url), verify=verify, timeout=TIMEOUT_S, follow_redirects=False)
    return Desk(http, username, practice)
