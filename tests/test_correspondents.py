"""The right correspondent: the address book (CSV, vCard), colleagues resolved by sound and
specialty, « Copie à », and candidates chosen on the desk."""

from __future__ import annotations

import random
import re

import pytest
from docx import Document

from pipeline.directory.correspondents import (
    AddressBook, Correspondent, read_csv, read_vcards, specialty_key,
)
from pipeline.directory.tables import ImportFormatError
from pipeline.extract import extract
from pipeline.extract.recipient import extract_copies
from pipeline.normalize import normalize_text
from pipeline.records import Recipient
from tests.conftest import signed_in

BOOK_CSV = ("nom;prenom;titre;specialite;adresse;code_postal;ville;mssante;rpps;telephone\n"
            "Martin;Claire;Dr;Cardiologie;12 rue de la République;69002;Lyon;claire.martin@cardio.mssante.fr;10003456789;\n"
            "Martin;Paul;Dr;Médecine générale;3 place Bellecour;69002;Lyon;;10001112223;\n"
            "Durand;Marc;Dr;Pneumologue;8 avenue Foch, Bâtiment B;75016;Paris;;;\n")


def test_the_address_book_reads_a_csv_export_in_either_encoding():
    entries, skipped = read_csv(BOOK_CSV.encode("cp1252") + b";Sans nom;;;;;;;;\n")
    assert [e.last_name for e in entries] == ["Martin", "Martin", "Durand"]
    assert entries[0] == Correspondent("Martin", "Claire", "Dr", "Cardiologie", "12 rue de la République", "69002",
                                       "Lyon", "claire.martin@cardio.mssante.fr", "10003456789", None)
    assert [number for number, _ in skipped] == [5]
    renamed = read_csv("NOM;VILLE\nRoux;Nantes\n".encode(), {"last_name": "NOM", "city": "VILLE"})[0]
    assert renamed == [Correspondent("Roux", title="Dr", city="Nantes")]
    with pytest.raises(ImportFormatError, match="missing columns: nom"):
        read_csv(b"name;city\nRoux;Nantes\n")


VCARDS = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Lenoir;Paul;;Pr;\r\nFN:Pr Paul Lenoir\r\nROLE:Pneumologie\r\n"
    "ADR;TYPE=WORK:;;Hôpital Nord\\nService de pneumologie;Marseille;;13015;France\r\n"
    "EMAIL:paul.lenoir@gmail.com\r\nEMAIL:paul.lenoir@ap-hm.mssante.fr\r\nNOTE:RPPS 10009876543\r\nEND:VCARD\r\n"
    "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Dr Anne Roux\r\nTITLE:dermatologue\r\nX-RPPS:10005554443\r\nEND:VCARD\r\n"
)


def test_vcards_give_name_title_specialty_address_mssante_and_rpps():
    (lenoir, roux), skipped = read_vcards(VCARDS.encode())
    assert not skipped
    assert (lenoir.title, lenoir.first_name, lenoir.last_name, lenoir.specialty) == ("Pr", "Paul", "Lenoir", "Pneumologie")
    assert lenoir.address == "Hôpital Nord, Service de pneumologie" and (lenoir.postal_code, lenoir.city) == ("13015", "Marseille")
    assert lenoir.mssante == "paul.lenoir@ap-hm.mssante.fr" and lenoir.rpps == "10009876543"
    assert (roux.title, roux.first_name, roux.last_name, roux.rpps) == ("Dr", "Anne", "Roux", "10005554443")
    with pytest.raises(ImportFormatError, match="not a readable vCard"):
        read_vcards(b"BEGIN:VCARD\r\nthis is not\r\n")


def test_specialties_compare_as_dictated_and_as_written_in_address_books():
    assert specialty_key("cardiologue") == specialty_key("Cardiologie")
    assert specialty_key("ophtalmologiste") == specialty_key("Ophtalmologie")
    assert specialty_key("médecin traitant") == specialty_key("Médecine générale")
    assert specialty_key("gastro-entérologue") == specialty_key("Gastroentérologie")
    assert specialty_key("cardiologue") != specialty_key("pneumologue")


def test_a_colleague_is_resolved_alone_only_when_one_entry_fits_what_was_dictated():
    book = AddressBook(read_csv(BOOK_CSV.encode())[0])
    alone = book.resolve(Recipient(title="Dr", last_name="Martin", specialty="cardiologue"))
    assert alone.status == "automatic" and alone.correspondent.first_name == "Claire"
    assert book.resolve(Recipient(title="Dr", last_name="Martin")).status == "to_choose"  # two Dr Martin
    assert book.resolve(Recipient(title="Dr", last_name="Durant")).correspondent.last_name == "Durand"  # by sound
    assert book.resolve(Recipient(title="Dr", last_name="Durand", specialty="cardiologue")).status == "to_choose"
    assert book.resolve(Recipient(title="Dr", last_name="Zapata")).status == "unknown"
    letter = alone.correspondent.as_recipient(Recipient(title="Dr", last_name="Martin", greeting="Chère consœur"))
    assert letter.address == "12 rue de la République" and letter.rpps == "10003456789"
    assert letter.greeting == "Chère consœur"


SPECIALTIES = ("cardiologue", "pneumologue", "dermatologue", "rhumatologue", "néphrologue", "généraliste")
NAMES = ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
         "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "David", "Bertrand", "Roux", "Vincent", "Fournier",
         "Morel", "Girard", "André", "Lefebvre", "Mercier", "Dupont", "Lambert", "Bonnet", "François", "Martinez")


def test_on_a_generated_address_book_no_colleague_is_ever_resolved_wrongly():
    rng = random.Random(17)
    book = [Correspondent(rng.choice(NAMES) + rng.choice(("", "", "-Roy", "eau", "ier")), rng.choice(("Anne", "Paul", "Luc", "Inès")),
                          "Dr", rng.choice(SPECIALTIES), f"{n} rue des Lilas", "69000", rng.choice(("Lyon", "Vienne")))
            for n in range(400)]
    address_book = AddressBook(book)
    resolved = wrong = 0
    for entry in rng.sample(book, 200):
        said = Recipient(title="Dr", last_name=entry.last_name.lower().replace("eau", "o").capitalize(),
                         specialty=entry.specialty if rng.random() < 0.7 else None,
                         city=entry.city if rng.random() < 0.5 else None)
        link = address_book.resolve(said)
        if link.status == "automatic":
            resolved += 1
            wrong += link.correspondent != entry
        else:
            assert entry in [c.entry for c in link.candidates]  # never missing from the list to choose from
    assert wrong == 0 and resolved > 40, (resolved, wrong)


def test_copies_are_read_from_the_dictation_and_taken_out_of_the_letter():
    copies, _ = extract_copies("Je le revois dans un mois.\nDouble au docteur Jean Roux et au professeur Lenoir, pneumologue.")
    assert [(c.title, c.first_name, c.last_name, c.specialty) for c in copies] == [
        ("Dr", "Jean", "Roux", None), ("Pr", None, "Lenoir", "pneumologue")]
    assert extract_copies("Il a apporté une copie de son bilan.")[0] == ()
    extraction = extract(normalize_text("Courrier au docteur Martin. Cher confrère, je vous adresse Monsieur Jean "
                                        "Dupont. Bien confraternellement. Copie au docteur Durand, pneumologue à Paris."))
    assert [c.last_name for c in extraction.copies] == ["Durand"] and "Copie" not in extraction.body
    assert extraction.body.endswith("Bien confraternellement.")


COPY_DICTATION = ("Courrier au docteur Martin, cardiologue à Lyon. Cher confrère, virgule, je vous adresse Monsieur "
                  "Jean Dupont, né le douze mars mille neuf cent cinquante-six. Pas de dyspnée. Point. "
                  "Bien confraternellement. Copie au docteur Martin.")


def import_book(settings, monkeypatch, name: str, data: bytes) -> None:
    from typer.testing import CliRunner

    from pipeline.cli import app

    source = settings.outbox.parent / name
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(data)
    monkeypatch.setenv("DICTEE_OUTBOX", str(settings.outbox))
    done = CliRunner().invoke(app, ["correspondents", "import", str(source)])
    assert done.exit_code == 0, done.output
    assert "3 correspondant(s) importé(s)" in done.output


def test_the_letter_gets_the_address_block_and_copies_are_chosen_on_the_desk(settings, fake_transcriber, monkeypatch):
    from tests.test_register import draft_result, draft_sample

    fake_transcriber.text = COPY_DICTATION
    import_book(settings, monkeypatch, "carnet.csv", BOOK_CSV.encode())
    result = draft_sample(settings)
    job_id = result["job_id"]
    assert result["recipient"]["address"] == "12 rue de la République" and result["recipient"]["postal_code"] == "69002"
    assert result["correspondent_links"]["recipient"]["status"] == "automatic"
    assert result["correspondent_links"]["copies"][0]["status"] == "to_choose"  # « docteur Martin »: which one?
    assert any(flag["kind"] == "correspondent_to_choose" for flag in result["flags"])
    paragraphs = [p.text for p in Document(settings.outbox / job_id / "draft.docx").paragraphs]
    assert "Docteur Claire Martin" in paragraphs and "12 rue de la République" in paragraphs and "69002 Lyon" in paragraphs
    assert "Copie à :\tDocteur Martin" in paragraphs

    with signed_in(settings) as client:
        page = client.get(f"/jobs/{job_id}").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        assert "Copie 1 : correspondants possibles" in page and "10001112223" in page
        ranked = re.findall(r'value="(copy:0:\d)"[^>]*>Choisir', page)
        paul = next(choice for choice, rpps in zip(ranked, re.findall(r"RPPS (\d+)", page.split("Copie 1")[1]))
                    if rpps == "10001112223")
        assert client.post(f"/jobs/{job_id}/correspondent", data={"csrf": csrf, "choice": paul}).status_code == 303
        assert client.post(f"/jobs/{job_id}/correspondent", data={"csrf": csrf, "choice": "copy:7:0"}).status_code == 422
        page = client.get(f"/jobs/{job_id}").text
        assert "Copie 1 : correspondants possibles" not in page and "choisi par sophie" in page
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        typed = re.search(r'<textarea name="copies"[^>]*>([^<]*)</textarea>', page).group(1)
        added = client.post(f"/jobs/{job_id}/edit", data={"csrf": csrf, "copies": typed + "\nDr Durand ; pneumologue"})
        assert added.status_code == 303
    saved = draft_result(settings, job_id)
    assert [c["first_name"] for c in saved["copies"]] == ["Paul", "Marc"]  # the new line resolved by itself
    assert saved["copies"][1]["address"] == "8 avenue Foch, Bâtiment B"
    assert saved["correspondent_links"]["copies"][0]["by"] == "sophie"
    assert not any(flag["kind"] == "correspondent_to_choose" for flag in saved["flags"])
    paragraphs = [p.text for p in Document(settings.outbox / job_id / "draft.docx").paragraphs]
    copies = paragraphs.index("Copie à :\tDocteur Paul Martin, Médecine générale — 69002 Lyon")
    assert paragraphs[copies + 1] == "\tDocteur Marc Durand, Pneumologue — 75016 Paris"  # one per line


def test_a_vcard_address_book_is_imported_and_used(settings, fake_transcriber, monkeypatch):
    from tests.test_register import draft_sample

    sophie = ("BEGIN:VCARD\r\nVERSION:3.0\r\nN:Martin;Sophie;;Dr;\r\nROLE:cardiologue\r\n"
              "ADR:;;5 quai Saint-Antoine;Lyon;;69002;\r\nEND:VCARD\r\n")
    import_book(settings, monkeypatch, "carnet.vcf", (VCARDS + sophie).encode())
    result = draft_sample(settings)
    assert result["recipient"]["first_name"] == "Sophie" and result["recipient"]["address"] == "5 quai Saint-Antoine"


def test_a_corrected_recipient_name_is_looked_up_again(settings, fake_transcriber, monkeypatch):
    from tests.test_register import draft_result, draft_sample

    fake_transcriber.text = COPY_DICTATION.replace("docteur Martin, cardiologue à Lyon", "docteur Zapata")
    import_book(settings, monkeypatch, "carnet.csv", BOOK_CSV.encode())
    result = draft_sample(settings)
    job_id = result["job_id"]
    assert result["correspondent_links"]["recipient"]["status"] == "unknown" and not result["recipient"]["address"]
    with signed_in(settings) as client:
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get(f"/jobs/{job_id}").text).group(1)
        edited = client.post(f"/jobs/{job_id}/edit", data={"csrf": csrf, "recipient.last_name": "Durand"})
        assert edited.status_code == 303
    saved = draft_result(settings, job_id)
    assert saved["recipient"]["address"] == "8 avenue Foch, Bâtiment B" and saved["recipient"]["first_name"] == "Marc"
    assert saved["correspondent_links"]["recipient"]["status"] == "automatic"


def test_a_choice_that_is_no_rank_shown_on_the_page_chooses_nothing(settings, fake_transcriber, monkeypatch):
    """« copy:-1:0 » and « copy:0:-1 » used to pick the last copy or the last candidate."""
    from tests.test_register import draft_result, draft_sample

    fake_transcriber.text = COPY_DICTATION
    import_book(settings, monkeypatch, "carnet.csv", BOOK_CSV.encode())
    job_id = draft_sample(settings)["job_id"]
    with signed_in(settings) as client:
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get(f"/jobs/{job_id}").text).group(1)
        for choice in ("copy:-1:0", "copy:0:-1", "copy:0:¹", "copy:0:" + "1" * 5000, "recipient:0", "copy:0",
                       "copy:0:0:0", ":", ""):
            refused = client.post(f"/jobs/{job_id}/correspondent", data={"csrf": csrf, "choice": choice})
            assert refused.status_code == 422, choice
    saved = draft_result(settings, job_id)
    assert saved["correspondent_links"]["copies"][0]["status"] == "to_choose" and "by" not in str(saved["review"] or "")
