"""The audit trail's anchor outside the database, and its verification.

Each audit row is chained to the one before by a hash (db.AuditEvent.row_hash). A chain alone
does not see its last rows deleted, nor a row edited with every later hash recomputed. So:

- each row also carries a MAC of its hash under a key the database does not hold
  (`audit_key_file`, made owner-only on first use): rewriting history needs that key;
- the chain's head (rows, last id, last hash, and its MAC) is written after every commit to a
  head file outside the database (`audit-head.json` beside the key by default); truncating the
  trail leaves the head pointing at a row that is gone, or a count the database no longer has;
- appends are serialised by the head row of the database (`audit_head`), updated in the same
  transaction as the rows it covers: two writers never link to the same previous row.

`dictee audit verify` says which of these checks failed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock
from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline.files import write_bytes_atomic

HEAD_FILE = "audit-head.json"


@dataclass(frozen=True, slots=True)
class AuditAnchor:
    """The key that MACs the chain, and the file that keeps its head."""

    key: bytes
    head_file: Path

    @classmethod
    def at(cls, key_file: Path, head_file: Path | None = None) -> AuditAnchor:
        """The anchor kept in `key_file` (created, owner-only, if it does not exist yet)."""
        key_file = key_file.expanduser()
        key_file.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(descriptor, "w", encoding="ascii") as handle:
                handle.write(secrets.token_hex(32) + "\n")
        key = bytes.fromhex(key_file.read_text(encoding="ascii").strip())
        return cls(key=key, head_file=head_file or key_file.with_name(HEAD_FILE))

    def mac(self, row_hash: str) -> str:
        return hmac.new(self.key, row_hash.encode("ascii"), hashlib.sha256).hexdigest()

    def head_mac(self, rows: int, last_id: int, last_hash: str) -> str:
        return self.mac(f"{rows}:{last_id}:{last_hash}")

    def read_head(self) -> dict | None:
        try:
            return json.loads(self.head_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def record_head(self, rows: int, last_id: int, last_hash: str) -> None:
        """Move the head file forward (never back: a slower writer's older head is not kept)."""
        with FileLock(str(self.head_file) + ".lock", timeout=30):
            kept = self.read_head()
            if kept and kept.get("rows", 0) >= rows:
                return
            head = {"rows": rows, "last_id": last_id, "last_hash": last_hash,
                    "mac": self.head_mac(rows, last_id, last_hash)}
            write_bytes_atomic(self.head_file, json.dumps(head).encode("utf-8"))


@dataclass(frozen=True, slots=True)
class TrailCheck:
    rows: int
    unchained: int  # rows written before the chain existed
    broken_at: int | None = None  # id of the first row that does not hold
    failure: str | None = None  # which check failed, in French and English

    @property
    def intact(self) -> bool:
        return self.failure is None


def verify_trail(session: Session, anchor: AuditAnchor | None) -> TrailCheck:
    """Walk the trail in order: every link, every MAC (with the key), and the head file."""
    from pipeline.review.db import GENESIS, AuditEvent

    previous, rows, unchained, last_id = GENESIS, 0, 0, 0
    for item in session.scalars(select(AuditEvent).order_by(AuditEvent.id)):
        rows += 1
        if item.row_hash is None and item.prev_hash is None and previous == GENESIS:
            unchained += 1
            continue
        if item.prev_hash != previous or item.row_hash != item.content_hash(previous):
            return TrailCheck(rows, unchained, item.id, "chaîne de hachage rompue / hash chain broken")
        if anchor is not None and item.mac is not None and not hmac.compare_digest(item.mac, anchor.mac(item.row_hash)):
            return TrailCheck(rows, unchained, item.id,
                              "ligne réécrite sans la clé d'audit (MAC invalide) / row rewritten without the audit "
                              "key (invalid MAC)")
        previous, last_id = item.row_hash, item.id
    if anchor is None:
        return TrailCheck(rows, unchained)
    return _against_head(session, anchor, TrailCheck(rows, unchained), last_id, previous)


def _against_head(session: Session, anchor: AuditAnchor, check: TrailCheck, last_id: int, last_hash: str) -> TrailCheck:
    from pipeline.review.db import AuditEvent

    head = anchor.read_head()
    if head is None:
        if check.rows > check.unchained:
            return TrailCheck(check.rows, check.unchained, None,
                              f"fichier de tête absent : {anchor.head_file} / head file missing")
        return check
    if not hmac.compare_digest(str(head.get("mac", "")), anchor.head_mac(head["rows"], head["last_id"], head["last_hash"])):
        return TrailCheck(check.rows, check.unchained, None, "fichier de tête altéré / head file altered")
    kept = session.get(AuditEvent, head["last_id"])
    if check.rows < head["rows"] or kept is None or kept.row_hash != head["last_hash"]:
        return TrailCheck(check.rows, check.unchained, head["last_id"],
                          f"lignes supprimées : la tête en compte {head['rows']}, la base {check.rows} / rows deleted: "
                          f"the head counts {head['rows']}, the database {check.rows}")
    return check
