"""Where a draft goes once reviewed, as a French practice works: the secretary types and
corrects, the practitioner validates and signs.

    à relire (pending_review) ──secretary: submit──▶ à signer (to_sign) ──practitioner: sign──▶ signé / classé (filed)
          │   ◀──────practitioner: send back, with a comment──────┘
          └──secretary: reject, with a comment──▶ renvoyé au praticien (rejected)

A practitioner may sign straight from « à relire ». Certificates and prescriptions are signed
by their own practitioner only. With `signing = "secretary"` (a practice where the
practitioner signs on paper), the secretary files directly, as before.

Every transition is atomic: of two at the same moment, exactly one goes through and the other
is told, never crashed (see `transition`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.orm import Session

from pipeline import store
from pipeline.adapt.collect import learn_from_approved
from pipeline.documents import kind_of
from pipeline.draft import french_date
from pipeline.filing import file_job
from pipeline.review.db import Job, audit, utcnow
from pipeline.review.jobs import ReviewError, extraction_of, load_result, regenerate
from pipeline.settings import Practitioner, Settings
from pipeline.store import FILED, REJECTED, STATE_PENDING, TO_SIGN, JobFiles, Step

# Who takes each step: the secretary submits or sends a draft back to its author; the
# practitioner signs, or sends a letter to sign back for correction. The admin acts as a secretary.
MAY_TAKE = {
    "submit": frozenset({"secretary", "admin"}),
    "file": frozenset({"secretary", "admin"}),
    "sign": frozenset({"practitioner"}),
    "reject": frozenset({"secretary", "admin"}),
    "send_back": frozenset({"practitioner"}),
    "reopen": frozenset({"practitioner"}),
}
ROLE_REFUSED = "cette action n'est pas celle de votre rôle / this action is not your role's"


def require_role(step: str, role: str) -> None:
    if role not in MAY_TAKE[step]:
        raise PermissionError(ROLE_REFUSED)
NOT_PENDING = "ce brouillon n'est pas en attente / this draft is not pending"
HANDLED_BY_SOMEONE_ELSE = ("ce brouillon vient d'être traité par quelqu'un d'autre / "
                           "this draft was just handled by someone else")


@contextmanager
def transition(files: JobFiles, *, expected: frozenset[str]) -> Iterator[None]:
    """`Outbox.transition`, told to the reviewer who came second."""
    try:
        with files.outbox.transition(files.folder, expected=expected):
            yield
    except store.MovedOn:
        raise ReviewError(HANDLED_BY_SOMEONE_ELSE) from None


def _job_in(session: Session, job_id: str, states: frozenset[str]) -> Job:
    """The job, if it is still in one of `states`. One that has moved on was decided by someone
    else a moment ago (or from a page left open): said the same way as a transition lost."""
    job = session.get(Job, job_id)
    if job is None:
        raise ReviewError(NOT_PENDING)
    if job.state not in states:
        raise ReviewError(HANDLED_BY_SOMEONE_ELSE)
    return job


def _require_identity(result: dict) -> None:
    if (result.get("identity_link") or {}).get("status") == "to_choose":
        raise ReviewError("choisissez le patient dans le registre, ou « nouveau patient » / "
                          "choose the patient from the register, or « new patient »")
    if not extraction_of(result).patient.is_complete:
        raise ReviewError(
            "identité du patient incomplète (nom, prénom, date de naissance) : complétez-la avant de valider / "
            "patient identity incomplete (last name, first name, birth date): complete it first"
        )


def signing_refusal(result: dict, signer_folder: str | None, *, colleagues_sign: bool = False) -> str | None:
    """Why this practitioner's account may not sign this letter, or None. `signer_folder`: the
    practitioner the account signs for ("" for the practice's main letterhead), None if unset.
    Read from the stored draft, never from a request: a letter is signed by its author; a
    colleague signs an ordinary letter only where the practice allows it (`colleagues_sign`)."""
    if signer_folder is None:
        return ("ce compte n'est relié à aucun praticien (dictee users set-practitioner) / "
                "this account signs for no practitioner (dictee users set-practitioner)")
    author = result.get("author_folder") or ""
    if author == signer_folder:
        return None
    if kind_of(result.get("document_type")).author_signs_only:
        return ("un certificat ou une ordonnance ne peut être signé que par son praticien / "
                "a certificate or prescription can only be signed by its own practitioner")
    if not colleagues_sign:
        return ("ce courrier est signé par son auteur ; le cabinet n'autorise pas la signature pour un confrère "
                "(réglage colleagues_sign) / this letter is signed by its author; the practice does not allow "
                "signing for a colleague (colleagues_sign setting)")
    return None


def submit_for_signature(session: Session, files: JobFiles, *, username: str) -> None:
    """The secretary has corrected the draft: it waits for its practitioner's signature."""
    job = _job_in(session, files.job_id, frozenset({STATE_PENDING}))
    _require_identity(load_result(files))
    with transition(files, expected=frozenset({STATE_PENDING})):
        files.outbox.set_state(files.folder, TO_SIGN, username)
    job.state = TO_SIGN
    session.commit()


def signature_line(signer: Practitioner, when: dt.datetime, *, on_behalf_of: Practitioner | None = None) -> str:
    """« Signé électroniquement par Dr A le … », with « , pour le Dr B » when A signs B's letter."""
    behalf = f", pour le {on_behalf_of.name}" if on_behalf_of and on_behalf_of.name != signer.name else ""
    return f"Signé électroniquement par {signer.name}{behalf} le {french_date(when.date())} à {when:%H:%M}"


def approve(session: Session, files: JobFiles, settings: Settings, *, username: str,
            signer: Practitioner | None = None) -> Path:
    """File the letter: final docx + result.json copied (sealed as they are) into
    outbox/filed/<job_id>/, read-only. With `signer`, the letter says who signed it and when.
    The audit row (« sign » or « approve ») is committed with the filing, inside the
    transition: no export or other slow step stands between them."""
    job_id = files.job_id
    job = _job_in(session, job_id, frozenset({STATE_PENDING, TO_SIGN}))
    result = load_result(files)  # as filed: regenerating the letter does not change it
    _require_identity(result)
    with transition(files, expected=frozenset({STATE_PENDING, TO_SIGN})):
        author = settings.practitioner(result.get("author_folder") or None)
        signature = signature_line(signer, dt.datetime.now(), on_behalf_of=author) if signer else None
        regenerate(files, settings, signature=signature)
        step = {"signed_by": signer.name, "signed_by_rpps": signer.rpps, "signature": signature} if signer else {}
        filed = file_job(files.outbox, job_id, username=username, **step)
        job.state, job.decided_at, job.decided_by = FILED, utcnow(), username
        audit(session, username=username, action="sign" if signer else "approve", job_id=job_id)
        session.commit()
    return filed  # learning from it, and its export, follow in the background (`after_filing`)


def after_filing(settings: Settings, files: JobFiles) -> Callable[[], None]:
    """What learns from a filed letter (the practice lexicon, a training example): run after the
    signature has answered, never inside it — the first one of the day loads the lexicons."""
    result = files.outbox.filed_job(files.job_id).result_data()
    return lambda: learn_from_approved(settings, files, result)


def _back_with_comment(session: Session, files: JobFiles, *, username: str, comment: str,
                       from_state: str, to_state: str) -> Job:
    """A draft sent back, with the reason why (sealed in the database: it may name the patient)."""
    job = _job_in(session, files.job_id, frozenset({from_state}))
    comment = comment.strip()
    if not comment:
        raise ReviewError("un commentaire est nécessaire pour renvoyer / a comment is needed to send it back")
    with transition(files, expected=frozenset({from_state})):
        files.outbox.set_state(files.folder, to_state, username, comment=comment)
    job.state = to_state
    job.comment = files.outbox.sealed_text(comment)
    return job


def reject(session: Session, files: JobFiles, *, username: str, comment: str) -> None:
    """The secretary cannot make a letter of it (inaudible, wrong patient): back to the practitioner."""
    job = _back_with_comment(session, files, username=username, comment=comment,
                             from_state=STATE_PENDING, to_state=REJECTED)
    job.decided_at, job.decided_by = utcnow(), username
    session.commit()


def send_back(session: Session, files: JobFiles, *, username: str, comment: str) -> None:
    """The practitioner wants a correction before signing: back to « à relire », the comment shown."""
    _back_with_comment(session, files, username=username, comment=comment,
                       from_state=TO_SIGN, to_state=STATE_PENDING)
    session.commit()


def reopen(session: Session, files: JobFiles, *, username: str, comment: str) -> None:
    """The practitioner answers a draft sent back to him: back to « à relire », his precisions shown."""
    _back_with_comment(session, files, username=username, comment=comment,
                       from_state=REJECTED, to_state=STATE_PENDING)
    session.commit()


def last_comment(files: JobFiles) -> Step | None:
    """The latest comment in the draft's history (who, when, what), for the page."""
    return files.state().last_comment


def letter_date(files: JobFiles) -> dt.date:
    """A letter is dated the day it is signed and filed; a draft, today."""
    filed = files.state().filed
    return dt.datetime.fromisoformat(filed.at).astimezone().date() if filed else dt.date.today()


def signature_of(files: JobFiles) -> str | None:
    """The signature line a signed letter bears, None while it is a draft."""
    return files.state().signature
