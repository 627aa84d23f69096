"""Misheard medical words corrected by sound, in context, and always flagged."""

from __future__ import annotations

import json

import pytest

from pipeline.records import Word
from pipeline.vocabulary import Corrector, Term, echoes_prompt, get_corrector, initial_prompt, phonetic_key
from pipeline.vocabulary.corrector import practice_terms


def words(text: str, probability: float = 0.9) -> list[Word]:
    return [Word(i * 0.5, i * 0.5 + 0.4, " " + token, probability) for i, token in enumerate(text.split())]


def said(result) -> str:
    return "".join(w.word for w in result[0]).strip()


@pytest.mark.parametrize(
    ("heard", "written"),
    [("amlodipine", "amlodipine"), ("metformine", "metformine"), ("lévo thyroxine", "lévothyroxine"),
     ("kéto profène", "kétoprofène")],
)
def test_words_that_sound_alike_share_a_key(heard, written):
    assert phonetic_key(heard) == phonetic_key(written)


def test_a_misheard_drug_before_a_dose_is_corrected_and_flagged_with_its_time():
    corrector = get_corrector(None)
    pieces = words("traité par un") + [Word(1.5, 1.7, " L", 0.3), Word(1.7, 1.9, "'Odi", 0.3), Word(1.9, 2.1, "-Pin", 0.4)]
    result = corrector.correct(pieces + words("5 milligrammes par jour"))
    assert said(result) == "traité par amlodipine 5 milligrammes par jour"
    [flag] = result[1]
    assert (flag.kind, flag.start) == ("vocabulary_correction", 1.0)
    assert "L'Odi-Pin" in flag.text and "amlodipine" in flag.text


@pytest.mark.parametrize("dose", ["5mg par jour", "5 mg par jour", "5 000 grammes par jour"])
def test_a_dose_as_whisper_writes_it_still_says_a_drug(dose):
    """« 40mg » in one word, or « 20 mg » heard as « 20 000 grammes »: still a dose after the word."""
    result = get_corrector(None).correct(words(f"elle prend un l'odipine {dose}"))
    assert said(result) == f"elle prend amlodipine {dose}" and len(result[1]) == 1


def test_a_drug_heard_right_is_left_alone():
    result = get_corrector(None).correct(words("metformine 1000 milligrammes deux fois par jour"))
    assert said(result) == "metformine 1000 milligrammes deux fois par jour" and result[1] == ()


def test_ordinary_words_outside_a_drug_context_are_never_rewritten():
    text = "il mange du pain le matin et de la confiture"
    result = get_corrector(None).correct(words(text))
    assert said(result) == text and result[1] == ()


def test_correspondents_from_the_practice_list_fix_names_after_docteur(tmp_path):
    csv_file = tmp_path / "cabinet.csv"
    csv_file.write_text("last_name,first_name\nMarchand,Paul\nDelacroix,Anne\n", encoding="utf-8")
    corrector = Corrector(practice_terms(csv_file))
    result = corrector.correct(words("courrier au docteur Delakroix cardiologue"))
    assert said(result) == "courrier au docteur Delacroix cardiologue"
    assert result[1][0].kind == "vocabulary_correction"


def test_the_prompt_is_capped_and_names_the_practice_correspondents():
    prompt = initial_prompt([Term("Delacroix", phonetic_key("Delacroix"), "name")] * 3)
    assert len(prompt) <= 600 and "amlodipine" in prompt
    assert "Docteur Delacroix" in initial_prompt([Term("Delacroix", "", "name")])
    assert len(initial_prompt([Term(f"Nom{i}", "", "name") for i in range(200)])) <= 600


def test_a_recited_prompt_is_detected():
    prompt = initial_prompt()
    assert echoes_prompt("paracétamol, amlodipine, metformine, lévothyroxine, atorvastatine, ramipril", prompt)
    assert not echoes_prompt("Il prend de l'amlodipine 5 mg par jour et de la metformine.", prompt)


def test_an_echoed_prompt_is_flagged_and_the_audio_heard_again_without_it(settings, fake_transcriber, monkeypatch):
    from pipeline import ingest
    from pipeline.job import run_job
    from tests.conftest import SAMPLE_DICTATION, write_tone

    original = fake_transcriber.transcribe

    def recites_when_prompted(samples, *, initial_prompt=None, hotwords=None, listening=None):
        transcript = original(samples)
        if initial_prompt:
            from dataclasses import replace

            return replace(transcript, raw=initial_prompt)
        return transcript

    monkeypatch.setattr(fake_transcriber, "transcribe", recites_when_prompted)
    settings = settings.model_copy(update={"vocabulary_prompt": True})
    source = write_tone(settings.inbox / "a.wav")
    dictation = ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox)
    run_job(dictation, settings)
    result = json.loads((settings.outbox / dictation.job_id / "result.json").read_text())
    assert any(flag["kind"] == "prompt_echo" for flag in result["flags"])
    assert result["transcript"]["raw"] == SAMPLE_DICTATION  # the second hearing, not the recited prompt


def test_the_practice_list_is_read_once_per_version_of_the_file(tmp_path, monkeypatch):
    csv_file = tmp_path / "cabinet.csv"
    csv_file.write_text("last_name,first_name\nMarchand,Paul\n", encoding="utf-8")
    assert get_corrector(str(csv_file)) is get_corrector(str(csv_file))
    opened = []
    real_open = open
    monkeypatch.setattr("builtins.open", lambda *a, **k: opened.append(a[0]) or real_open(*a, **k))
    practice_terms(csv_file)
    assert opened == []
    csv_file.write_text("last_name,first_name\nMarchand,Paul\nDelacroix,Anne\n", encoding="utf-8")
    assert [t.text for t in practice_terms(csv_file)] == ["Delacroix", "Marchand"]
    assert "delacroix" in get_corrector(str(csv_file)).known


def test_hotwords_follow_the_specialty_and_put_the_practice_names_first():
    from pipeline.vocabulary import hotwords

    cardiology = hotwords("Cardiologie")
    assert cardiology.startswith("coronarographie") and "appendicectomie" not in cardiology
    assert "appendicectomie" in hotwords("Chirurgie viscérale")
    assert hotwords("Spécialité inconnue") == hotwords(None) == hotwords("Médecine générale")
    with_names = hotwords("Cardiologie", [Term("Kerbrat", "", "name")])
    assert with_names.startswith("Kerbrat, coronarographie") and len(with_names) <= 600


def test_each_dictation_is_biased_towards_its_author_s_specialty(settings, fake_transcriber):
    from pipeline import ingest
    from pipeline.job import run_job
    from pipeline.settings import Practitioner
    from tests.conftest import write_tone

    settings = settings.model_copy(update={"vocabulary_hotwords": True,
                                           "practitioners": {"martin": Practitioner(name="Dr Martin", specialty="Cardiologie")}})
    (settings.inbox / "martin").mkdir()
    source = write_tone(settings.inbox / "martin" / "a.wav")
    dictation = ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox, author="martin")
    run_job(dictation, settings)
    assert fake_transcriber.hotwords.startswith("coronarographie")

    source = write_tone(settings.inbox / "b.wav", seconds=2.5)
    dictation = ingest.claim_dictation(source, work_dir=settings.work_dir, outbox=settings.outbox)
    run_job(dictation, settings.model_copy(update={"vocabulary_hotwords": False}))
    assert fake_transcriber.hotwords is None


@pytest.mark.parametrize("text", [
    "metformine 1000 mg deux fois par jour. Atorvastatine 20 mg le soir.",
    "Dans le cadre de son ALD : metformine 1000 mg. Hors ALD : paracétamol 1 g si douleur.",
])
def test_a_correction_never_swallows_the_words_beside_a_drug_heard_right(text):
    # « jour. Atorvastatine » and « ALD : paracétamol » sounded like one drug: « jour » and
    # « Hors ALD » were lost, and the prescription printed less than was dictated.
    heard = " ".join(text.replace(":", " :").split())  # « : » a word of its own, as a recognizer may give it
    result = get_corrector(None).correct(words(heard))
    assert said(result) == heard and result[1] == ()


def test_the_address_book_s_colleagues_fix_names_after_docteur_and_a_new_import_is_heard(settings):
    """One vocabulary handle: the address book imported on the desk feeds the name corrector
    (no separate CSV to keep in step), and a later import is used from the next dictation on."""
    from pipeline.directory.correspondents import AddressBook, Correspondent
    from pipeline.vocabulary.handle import Vocabulary

    heard = words("adressé au docteur Vandenberg pour avis")
    assert said(Vocabulary.from_settings(settings).corrector().correct(heard)) == "adressé au docteur Vandenberg pour avis"
    AddressBook([Correspondent(last_name="Vandenberghe", title="Dr", specialty="Cardiologie")]).save(settings.store())
    vocabulary = Vocabulary.from_settings(settings)
    assert vocabulary.correspondent_names == ("Vandenberghe",)
    fixed, flags = vocabulary.corrector().correct(heard)
    assert said((fixed, flags)) == "adressé au docteur Vandenberghe pour avis"
    assert [flag.written for flag in flags] == ["Vandenberghe"]
    # The address book does not crowd the recognizer's prompt: its own list and learned names do.
    assert "Vandenberghe" not in " ".join(term.text for term in vocabulary.spoken_names())


def test_a_patient_s_name_is_never_rewritten_towards_the_register(settings):
    """Patients are linked by the identity link, where the secretary chooses: the register does
    not feed the corrector, so a new patient who sounds like a registered one keeps his name."""
    from pipeline.directory.patients import PatientRegister, RegisterEntry
    from pipeline.vocabulary.handle import Vocabulary

    PatientRegister([RegisterEntry(birth_name="Vandenberghe", first_names="Paul", birth_date="1950-01-02")]).save(
        settings.store())
    heard = words("je revois monsieur Vandenberg et le docteur Vandenberg")
    assert said(Vocabulary.from_settings(settings).corrector().correct(heard)) == \
        "je revois monsieur Vandenberg et le docteur Vandenberg"
