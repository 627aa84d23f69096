"""The letter's colleagues on the desk: « Copie à » edited one per line, and the address book's
candidates chosen in one click when the dictated name was not clear enough to resolve alone."""

from __future__ import annotations

from dataclasses import asdict, replace

from pipeline.directory import correspondents
from pipeline.directory.correspondents import Correspondent
from pipeline.extract.recipient import typed_recipient
from pipeline.store import now_iso
from pipeline.plain import shown_rank
from pipeline.records import Recipient
from pipeline.result import CorrespondentLinksOut
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
                copy, link = asdict(resolved), found.out().model_dump(mode="json")
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
    links = CorrespondentLinksOut.model_validate(result.get("correspondent_links") or {})
    copies = result.get("copies") or []
    parts = choice.split(":")
    index, link = None, None
    if parts[0] == "recipient" and len(parts) == 2 and result.get("recipient"):
        link, rank = links.recipient, shown_rank(parts[1])
    elif parts[0] == "copy" and len(parts) == 3 and 0 <= (index := shown_rank(parts[1])) < min(len(copies), len(links.copies)):
        link, rank = links.copies[index], shown_rank(parts[2])
    if link is None or link.status != "to_choose" or not 0 <= rank < len(link.candidates):
        raise ValueError("choix invalide / invalid choice")
    picked = link.candidates[rank]
    before = result["recipient"] if index is None else copies[index]
    dictated = Recipient(**{key: before.get(key) for key in Recipient.__slots__})
    after = asdict(Correspondent.of(picked).as_recipient(dictated))
    chosen = link.model_copy(update={"status": "chosen", "score": picked.score, "by": username, "at": now_iso()})
    if index is None:
        result["recipient"], links.recipient = after, chosen
    else:
        copies[index], links.copies[index] = after, chosen
    result["correspondent_links"] = links.model_dump(mode="json")
    if not any(link and link.status == "to_choose" for link in (links.recipient, *links.copies)):
        result["flags"] = [flag for flag in result["flags"] if flag["kind"] != "correspondent_to_choose"]
    label = "recipient" if index is None else f"copies.{index}"
    return {f"{label}.{key}": [before.get(key), value] for key, value in after.items() if before.get(key) != value}



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
    result["correspondent_links"] = {**links, "recipient": found.out().model_dump(mode="json")}
    return {f"recipient.{key}": [recipient.get(key), value] for key, value in after.items() if recipient.get(key) != value}
