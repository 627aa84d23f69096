"""Identitovigilance: dictated identities against a register of 5,000 fictitious patients."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace

import pytest

from pipeline.records import Patient
from pipeline.directory.patients import PatientRegister, RegisterEntry, RegisterError, read_csv, registered_patient

# Fictitious names made from syllables: many sound alike (« Berot », « Beraud »), as in life.
STEMS = ("Ber", "Dur", "Mar", "Lef", "Gar", "Ros", "Fou", "Bou", "Ler", "Mor", "Gir", "Dub", "Lam", "Fau", "Mer",
         "Rou", "Sim", "Lau", "Gau", "Cha", "Bla", "Bri", "Cou", "Dan", "Fer", "Gil", "Jou", "Lac", "Mic", "Pel",
         "Ren", "Tes", "Val", "Vin", "Hum", "Pon", "Sau", "Tar")
ENDINGS = ("ard", "ois", "et", "ier", "on", "in", "and", "eau", "ault", "elle", "aud", "ay", "ot", "ac", "ez",
           "ique", "oux", "ès", "ol", "ange")
FIRST = {"F": ("Marie", "Inès", "Camille", "Léa", "Chloé", "Manon", "Sarah", "Julie", "Anne", "Claire", "Louise",
               "Emma", "Jeanne", "Alice", "Lucie", "Hélène", "Nathalie", "Sophie", "Céline", "Agathe"),
         "M": ("Jean", "Pierre", "Louis", "Paul", "Hugo", "Lucas", "Thomas", "Nicolas", "Julien", "Antoine",
               "Marc", "Olivier", "Éric", "Michel", "Bernard", "Yves", "Denis", "Rémi", "Hervé", "Gilles")}


def fictitious_register(size: int, rng: random.Random) -> list[RegisterEntry]:
    entries = []
    for number in range(size):
        sex = rng.choice("MF")
        birth_name = rng.choice(STEMS) + rng.choice(ENDINGS)
        used = rng.choice(STEMS) + rng.choice(ENDINGS) if sex == "F" and rng.random() < 0.3 else None
        born = f"{rng.randint(1925, 2024)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        firsts = " ".join(rng.sample(FIRST[sex], rng.choice((1, 1, 2, 3))))
        entries.append(RegisterEntry(birth_name=birth_name, first_names=firsts, birth_date=born, used_name=used,
                                     sex=sex, ins=f"{1 if sex == 'M' else 2}{number:012d}", ipp=f"IPP{number:05d}"))
    # Homonyms (same names, another birth date) and twins (same birth name and date).
    for entry in rng.sample(entries, 150):
        entries.append(replace(entry, birth_date=f"{rng.randint(1925, 2024)}-03-15", ipp=entry.ipp + "H"))
    for entry in rng.sample(entries, 80):
        other = rng.choice([name for name in FIRST[entry.sex] if name not in entry.first_names])
        entries.append(replace(entry, first_names=other, used_name=None, ipp=entry.ipp + "J"))
    return entries


def misspelt(name: str, rng: random.Random) -> str:
    at = rng.randrange(1, len(name))
    return name[:at] + rng.choice("aeioulnrst") + name[at + 1:]


def sounds_alike(name: str) -> str:
    for written, said in (("ault", "ault"), ("aud", "ot"), ("eau", "o"), ("ois", "oy"), ("ès", "ez"),
                          ("and", "ant"), ("et", "ay"), ("in", "ain"), ("on", "ond"), ("ique", "ic")):
        if name.endswith(written) and written != said:
            return name[: -len(written)] + said
    return name + "t" if not name.endswith("t") else name[:-1] + "d"


def swapped(iso: str) -> str:
    year, month, day = iso.split("-")
    return f"{year}-{day}-{month}"


def dictated(entry: RegisterEntry, variant: str, rng: random.Random) -> Patient:
    spoken = Patient(sex=entry.sex, last_name=entry.used_name or entry.birth_name, first_name=entry.first_given_name,
                     birth_date=entry.birth_date)
    if variant == "misspelt":
        return replace(spoken, last_name=misspelt(spoken.last_name, rng))
    if variant == "sounds_alike":
        return replace(spoken, last_name=sounds_alike(spoken.last_name))
    if variant == "swapped_date":
        return replace(spoken, birth_date=swapped(entry.birth_date))
    if variant == "birth_name_said":
        return replace(spoken, last_name=entry.birth_name)
    if variant == "no_birth_date":
        return replace(spoken, birth_date=None)
    return spoken


LINKABLE = ("exact", "sounds_alike", "birth_name_said")  # enough said to link without a person
VARIANTS = (*LINKABLE, "misspelt", "swapped_date", "no_birth_date")


def test_on_5000_fictitious_patients_no_wrong_automatic_link_and_the_right_one_offered():
    rng = random.Random(7)
    entries = fictitious_register(5000, rng)
    register = PatientRegister(entries)
    automatic, right_automatic, offered, wrong = Counter(), Counter(), Counter(), []
    asked = Counter()
    for entry in rng.sample(entries, 600):
        for variant in VARIANTS:
            patient = dictated(entry, variant, rng)
            if variant == "swapped_date" and patient.birth_date == entry.birth_date:
                continue  # 05/05: nothing to swap
            # The same identity may be in the register twice (a sampled homonym may repeat one):
            # any entry with the dictated identity's exact name, first name and date is right.
            link = register.link(patient)
            asked[variant] += 1
            if link.status == "automatic":
                automatic[variant] += 1
                chosen = link.patient
                if chosen.ipp.rstrip("HJ") == entry.ipp.rstrip("HJ") and chosen.birth_date == entry.birth_date \
                        and chosen.first_names == entry.first_names:
                    right_automatic[variant] += 1
                else:
                    wrong.append((variant, patient, chosen))
            if any(c.entry == entry for c in link.candidates):
                offered[variant] += 1
    report = {variant: (f"auto {automatic[variant] / asked[variant]:.2f}",
                        f"offered {offered[variant] / asked[variant]:.2f}") for variant in VARIANTS}
    print("\nregister of", len(entries), "patients:", report)
    assert wrong == []  # a wrong automatic link must never happen
    assert automatic["swapped_date"] == 0  # a date that is not the register's is never linked alone
    linkable = sum(asked[v] for v in LINKABLE)
    assert sum(right_automatic[v] for v in LINKABLE) / linkable >= 0.85, report
    for variant in ("misspelt", "swapped_date"):  # the right patient is offered to choose
        assert offered[variant] / asked[variant] >= 0.9, report
    assert automatic["no_birth_date"] == 0  # without a birth date, a person decides


def test_homonyms_and_twins_are_never_linked_alone_and_the_register_wins_over_a_wrong_date():
    ana = RegisterEntry("Roche", "Inès Marie", "1988-05-13", sex="F", ipp="1")
    twin = RegisterEntry("Roche", "Léa", "1988-05-13", sex="F", ipp="2")
    homonym = RegisterEntry("Roche", "Inès", "1990-01-02", sex="F", ipp="3")
    register = PatientRegister([ana, twin, homonym])
    exact = register.link(Patient(sex="F", last_name="Roche", first_name="Inès", birth_date="1988-05-13"))
    assert exact.status == "automatic" and exact.patient == ana  # the date and first name tell them apart
    no_date = register.link(Patient(sex="F", last_name="Roche", first_name="Inès"))
    assert no_date.status == "to_choose" and {c.entry for c in no_date.candidates} >= {ana, homonym}
    wrong_date = register.link(Patient(sex="F", last_name="Roche", first_name="Inès", birth_date="1988-05-31"))
    assert wrong_date.status == "to_choose"
    assert [f.kind for f in wrong_date.flags] == ["birth_date_mismatch"]
    assert "registre 13/05/1988" in wrong_date.flags[0].text


def test_the_letter_names_the_patient_as_the_ins_rules_want():
    entry = RegisterEntry("Roche", "Inès Marie", "1988-05-13", used_name="Martin", sex="F",
                          ins="288057512345678", ipp="IPP1")
    patient = registered_patient(entry, Patient(last_name="Martin", first_name="Ines"))
    assert (patient.birth_name, patient.last_name, patient.first_name) == ("Roche", "Martin", "Inès")
    assert (patient.nir, patient.ipp, patient.birth_date, patient.sex) == ("288057512345678", "IPP1", "1988-05-13", "F")


def test_the_practices_csv_export_is_read_with_its_own_columns_and_bad_rows_are_counted():
    export = ("Nom naissance;Nom usage;Prénoms;Né le;Sexe;INS;N° dossier\n"
              "Roche;Martin;Inès Marie;13/05/1988;F;288057512345678;IPP1\n"
              "Durand;;Paul;1950-02-30;M;;IPP2\n"
              ";;Luc;01/01/1960;M;;IPP3\n").encode("cp1252")
    columns = {"birth_name": "Nom naissance", "used_name": "Nom usage", "first_names": "Prénoms",
               "birth_date": "Né le", "sex": "Sexe", "ins": "INS", "ipp": "N° dossier"}
    entries, skipped = read_csv(export, columns)
    assert entries == [RegisterEntry("Roche", "Inès Marie", "1988-05-13", used_name="Martin", sex="F",
                                     ins="288057512345678", ipp="IPP1", birthplace=None)]
    assert [number for number, _ in skipped] == [3, 4]  # by row number, never by name
    with pytest.raises(RegisterError, match="not a readable CSV"):
        read_csv(b"\x00\x01binary")
    with pytest.raises(RegisterError, match="missing columns: prenoms"):
        read_csv("nom_naissance;date_naissance\nRoche;13/05/1988\n".encode())


REGISTER_CSV = ("nom_naissance;nom_utilise;prenoms;date_naissance;sexe;matricule_ins;ipp\n"
                "Dupont;;Jean Michel;12/03/1956;M;156037512345678;IPP77\n"
                "Durand;;Paul;01/02/1950;M;;IPP78\n")


def import_register(settings, monkeypatch, csv_text: str):
    from typer.testing import CliRunner

    from pipeline.cli import app

    source = settings.outbox.parent / "patients.csv"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text(csv_text, encoding="utf-8")
    monkeypatch.setenv("DICTEE_OUTBOX", str(settings.outbox))
    done = CliRunner().invoke(app, ["register", "import", str(source)])
    assert done.exit_code == 0, done.output
    return done


def draft_sample(settings) -> dict:
    import json

    from pipeline import ingest
    from pipeline.job import run_job
    from tests.conftest import write_tone

    source = write_tone(settings.inbox / "dictee.wav", seconds=4.0)
    dictation = ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox)
    run_job(dictation, settings)
    return json.loads((settings.outbox / dictation.job_id / "result.json").read_text(encoding="utf-8"))


def test_a_dictated_patient_found_in_the_register_is_linked_and_named_as_registered(settings, fake_transcriber,
                                                                                    monkeypatch):
    import_register(settings, monkeypatch, REGISTER_CSV)
    result = draft_sample(settings)  # « Monsieur Jean Dupont, né le douze mars 1956 »
    assert result["identity_link"]["status"] == "automatic" and result["identity_link"]["score"] >= 0.92
    assert result["patient"]["ipp"] == "IPP77" and result["patient"]["nir"] == "156037512345678"
    assert result["patient"]["birth_name"] == "Dupont" and result["patient"]["first_name"] == "Jean"
    assert not any(flag["kind"] == "patient_to_choose" for flag in result["flags"])


def test_without_a_clear_best_the_secretary_chooses_on_the_desk_in_one_click(settings, fake_transcriber, monkeypatch):
    import re

    from tests.conftest import signed_in

    twins = REGISTER_CSV + "Dupont;;Jean;12/03/1956;M;;IPP79\n"  # the same identity twice: a person decides
    import_register(settings, monkeypatch, twins)
    result = draft_sample(settings)
    job_id = result["job_id"]
    assert result["identity_link"]["status"] == "to_choose"
    assert any(flag["kind"] == "patient_to_choose" for flag in result["flags"])
    with signed_in(settings) as client:
        page = client.get(f"/jobs/{job_id}").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        assert "Patients possibles" in page and "IPP79" in page and "patient à choisir" in page
        refused = client.post(f"/jobs/{job_id}/approve", data={"csrf": csrf})
        assert refused.status_code == 422 and "choisissez le patient" in refused.text
        ranked = [ipp for ipp in re.findall(r"IPP (IPP\d+)", page)]
        chosen = client.post(f"/jobs/{job_id}/patient", data={"csrf": csrf, "choice": str(ranked.index("IPP79"))})
        assert chosen.status_code == 303
        page = client.get(f"/jobs/{job_id}").text
        assert "patient choisi par sophie" in page and "Patients possibles" not in page
        assert client.post(f"/jobs/{job_id}/approve", data={"csrf": csrf}).status_code == 303  # on to « à signer »
    saved = draft_result(settings, job_id)
    assert saved["patient"]["ipp"] == "IPP79" and saved["identity_link"]["by"] == "sophie"


def test_a_new_patient_is_declared_by_a_person_and_recorded(settings, fake_transcriber, monkeypatch):
    import re

    from tests.conftest import signed_in

    import_register(settings, monkeypatch, REGISTER_CSV + "Dupont;;Jean;12/03/1956;M;;IPP79\n")
    job_id = draft_sample(settings)["job_id"]
    with signed_in(settings) as client:
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get(f"/jobs/{job_id}").text).group(1)
        assert client.post(f"/jobs/{job_id}/patient", data={"csrf": csrf, "choice": "new"}).status_code == 303
    saved = draft_result(settings, job_id)
    assert saved["identity_link"]["status"] == "new" and saved["patient"]["ipp"] is None


def draft_result(settings, job_id: str) -> dict:
    import json

    return json.loads((settings.outbox / job_id / "result.json").read_text(encoding="utf-8"))


AGENDA_ICS = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Dictée tests//FR\r\n"
              "BEGIN:VEVENT\r\nUID:1\r\nDTSTAMP:20261202T080000Z\r\nDTSTART:{day}T103000\r\nSUMMARY:DUPONT Jean\r\n"
              "DESCRIPTION:né le 12/03/1956\r\nEND:VEVENT\r\n"
              "BEGIN:VEVENT\r\nUID:2\r\nDTSTAMP:20261202T080000Z\r\nDTSTART:{day}T110000\r\nSUMMARY:Inès Roche\r\n"
              "END:VEVENT\r\nEND:VCALENDAR\r\n")


def test_appointments_are_read_from_an_agenda_export_or_icalendar():
    from pipeline.directory.appointments import Appointment, read_agenda

    events, skipped = read_agenda(AGENDA_ICS.format(day="20261202").encode(), ".ics")
    assert events == [Appointment("2026-12-02", "DUPONT", "10:30", "Jean", "1956-03-12"),
                      Appointment("2026-12-02", "Roche", "11:00", "Inès")] and not skipped
    rows, skipped = read_agenda("date;heure;nom;prenom\n02/12/2026;09:15;Durand;Paul\n;;Sans date;\n".encode(), ".csv")
    assert rows == [Appointment("2026-12-02", "Durand", "09:15", "Paul")] and [n for n, _ in skipped] == [3]
    with pytest.raises(RegisterError, match="not a readable iCalendar"):
        read_agenda(b"\x00\x01", ".ics")


def test_a_patient_seen_today_comes_first_among_candidates_but_is_never_linked_by_it(settings, fake_transcriber,
                                                                                    monkeypatch):
    import datetime as dt

    from typer.testing import CliRunner

    from pipeline.cli import app

    twins = REGISTER_CSV + "Dupont;;Jean;12/03/1956;M;;IPP79\n"
    import_register(settings, monkeypatch, twins)
    agenda = settings.outbox.parent / "agenda.ics"
    # The twin IPP79 has the appointment; the agenda gives his name and birth date, as twins share.
    agenda.write_text(AGENDA_ICS.format(day=f"{dt.date.today():%Y%m%d}"), encoding="utf-8")
    done = CliRunner().invoke(app, ["register", "appointments", str(agenda)])
    assert done.exit_code == 0 and "2 rendez-vous importé(s)" in done.output, done.output
    result = draft_sample(settings)
    link = result["identity_link"]
    assert link["status"] == "to_choose"  # an appointment is a hint, never a proof
    assert all(candidate["appointment"] == "10:30" for candidate in link["candidates"][:2])  # both Jean Dupont
    from tests.conftest import signed_in

    with signed_in(settings) as client:
        assert "RDV aujourd&#39;hui à 10:30" in client.get(f"/jobs/{result['job_id']}").text


def test_an_appointment_moves_the_patient_seen_up_the_list():
    from pipeline.directory.appointments import Agenda, Appointment

    register = PatientRegister([RegisterEntry("Berot", "Marie", "1970-01-02", sex="F", ipp="A"),
                                RegisterEntry("Beraud", "Marie", "1971-05-06", sex="F", ipp="B")])
    dictated = Patient(sex="F", last_name="Bero", first_name="Marie")
    plain = register.link(dictated)
    seen = register.link(dictated, agenda=Agenda([Appointment("2026-12-02", "Beraud", "09:00", "Marie")]),
                         day="2026-12-02")
    assert plain.status == seen.status == "to_choose"
    assert [c.entry.ipp for c in seen.candidates][0] == "B" and seen.candidates[0].appointment == "09:00"
    assert {c.entry.ipp for c in plain.candidates} == {"A", "B"}


@pytest.mark.parametrize("choice", ["-1", "7", "¹", "1" * 5000, "", "0x1", " 0"])
def test_a_choice_that_is_no_candidate_s_rank_changes_nothing(settings, fake_transcriber, monkeypatch, choice):
    """« -1 » used to pick the last candidate, and 5,000 digits went to int(): only a rank shown
    on the page chooses."""
    import re

    from tests.conftest import signed_in

    import_register(settings, monkeypatch, REGISTER_CSV + "Dupont;;Jean;12/03/1956;M;;IPP79\n")
    job_id = draft_sample(settings)["job_id"]
    with signed_in(settings) as client:
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get(f"/jobs/{job_id}").text).group(1)
        refused = client.post(f"/jobs/{job_id}/patient", data={"csrf": csrf, "choice": choice})
        assert refused.status_code == 422 and "choix invalide" in refused.text
    saved = draft_result(settings, job_id)
    assert saved["identity_link"]["status"] == "to_choose" and saved["patient"]["ipp"] is None
