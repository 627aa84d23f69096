"""The letter's colleagues on the desk: « Copie à » edited one per line, and the address book's
candidates chosen in one click when the dictated name was not clear enough to resolve alone."""

from __future__ import annotations

from dataclasses import asdict, replace

from pipeline.directory import correspondents
from pipeline.directory.correspondents import Correspondent
from pipeline.extract.recipient import typed_recipient
from pipeline.store import now_iso
from pipeline.records import Recipient
from pipeline.store import Outbox

def copy_line(copy: dict) -> str:
    """« Dr Durand ; pneumologue ; Lyon » (title and name ; specialty ; city)."""
    name = " ".join(part for part in (copy.get("title"), copy.get("first_name"), copy.get("last_name")) if part)
    return " ; ".join(part or "" for part in (name, copy.get("specialty"), copy.get("city"))).rstrip(" ;")


def copy_lines(copies: list[dict]) -> str:
    return "\n".join(copy_line(copy) for copy in copies)


def parse_copy_lines(text: str, *, previous: list[dict], previous_links: list, outbox: Outbox
                     ) -> tuple[list[dict], list]:
    """The copies as typed, one per line. A line left as it was keeps its address; a new one is
    looked up in the address book (and gets candidates to choose from when unsure)."""
    known = {copy_line(copy): (copy, link) for copy, link in zip(previous, previous_links + [None] * len(previous))}
    book = correspondents.cached(outbox)
    copies, links = [], []
    for line in filter(None, (line.strip() for line in text.splitlines())):
        if line in known:
            copy, link = known[line]
        else:
            copy, link = _typed_copy(line), None
            if book is not None and copy["last_name"]:
                resolved, found = book.lookup(Recipient(**copy))
                copy, link = asdict(resolved), found.as_json()
        copies.append(copy)
        links.append(link)
    return copies, links


def _typed_copy(line: str) -> dict:
    """« Dr Durand ; pneumologue ; Lyon »: the name read as any typed colleague is, then the
    specialty and city from their own fields."""
    name, specialty, city = ([part.strip() or None for part in line.split(";")] + [None, None])[:3]
    typed = typed_recipient(name or "")
    return asdict(replace(typed, specialty=specialty or typed.specialty, city=city or typed.city))


def choose_correspondent(result: dict, choice: str, *, username: str) -> dict[str, list]:
    """`choice`: « recipient:N » or « copy:I:N », the N-th candidate of the recipient or of the I-th
    copy. The entry takes the address book's name and address; the link records who chose."""
    links = result.get("correspondent_links") or {}
    parts = choice.split(":")
    try:
        if parts[0] == "recipient" and len(parts) == 2:
            link, where, rank = links.get("recipient"), ("recipient",), int(parts[1])
        elif parts[0] == "copy" and len(parts) == 3:
            index, rank = int(parts[1]), int(parts[2])
            link, where = (links.get("copies") or [])[index], ("copies", index)
        else:
            raise ValueError(choice)
        picked = link["candidates"][rank] if link and link["status"] == "to_choose" else None
    except (ValueError, IndexError, TypeError):
        picked = None
    if picked is None:
        raise ValueError("choix invalide / invalid choice")
    entry = Correspondent(**{key: value for key, value in picked.items() if key in Correspondent.__slots__})
    before = result["recipient"] if where == ("recipient",) else result["copies"][where[1]]
    dictated = Recipient(**{key: before.get(key) for key in Recipient.__slots__})
    after = asdict(entry.as_recipient(dictated))
    if where == ("recipient",):
        result["recipient"] = after
    else:
        result["copies"][where[1]] = after
    link.update(status="chosen", score=picked["score"], by=username, at=now_iso())
    if not _left_to_choose(links):
        result["flags"] = [flag for flag in result["flags"] if flag["kind"] != "correspondent_to_choose"]
    label = "recipient" if where == ("recipient",) else f"copies.{where[1]}"
    return {f"{label}.{key}": [before.get(key), value] for key, value in after.items() if before.get(key) != value}


def _left_to_choose(links: dict) -> bool:
    every = [links.get("recipient"), *(links.get("copies") or [])]
    return any(link and link["status"] == "to_choose" for link in every)


ADDRESS_FIELDS = ("address", "postal_code", "mssante", "rpps")


def resolve_corrected_recipient(result: dict, changed: set[str], *, outbox: Outbox) -> dict[str, list]:
    """The secretary corrected the recipient's name or specialty (a misheard « Dr Marten ») but
    typed no address: the address book is asked again. Returns the fields it filled."""
    recipient = result.get("recipient")
    book = correspondents.cached(outbox)
    if (book is None or not recipient or not recipient.get("last_name")
            or not changed & {"recipient.last_name", "recipient.first_name", "recipient.specialty", "recipient.city"}
            or changed & {f"recipient.{key}" for key in ADDRESS_FIELDS}):
        return {}
    dictated = Recipient(**{key: recipient.get(key) for key in Recipient.__slots__ if key not in ADDRESS_FIELDS})
    resolved, found = book.lookup(dictated)
    after = result["recipient"] = asdict(resolved)
    links = result.get("correspondent_links") or {"copies": [None] * len(result.get("copies") or [])}
    result["correspondent_links"] = {**links, "recipient": found.as_json()}
    return {f"recipient.{key}": [recipient.get(key), value] for key, value in after.items() if recipient.get(key) != value}
