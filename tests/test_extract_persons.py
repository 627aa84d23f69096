"""Finding every person name and birth date in clinical text (eds-pseudo style)."""

from __future__ import annotations

from pipeline.extract.persons import find_persons


def labelled(text: str, **options) -> set[tuple[str, str]]:
    return {(span.label, text[span.start:span.end]) for span in find_persons(text, **options)}


def test_civility_and_title_introduce_names():
    found = labelled("Vu avec le Dr Paul Girard. Madame Inès Roche, née le 13/05/1988.", use_model=False)
    assert {("PRENOM", "Paul"), ("NOM", "Girard"), ("PRENOM", "Inès"), ("NOM", "Roche"),
            ("DATE_NAISSANCE", "13/05/1988")} <= found


def test_surname_in_capitals_marks_the_order():
    assert labelled("Internes : JALONNET Christine (Interne)", use_model=False) == {("NOM", "JALONNET"), ("PRENOM", "Christine")}
    assert labelled("staff : Rémi FOLIET", use_model=False) == {("PRENOM", "Rémi"), ("NOM", "FOLIET")}


def test_initials_before_a_surname():
    assert labelled("Dr X. MOQUET 01.42.21.10", use_model=False) == {("PRENOM", "X."), ("NOM", "MOQUET")}


def test_names_do_not_run_across_lines_and_headers_are_not_names():
    found = labelled("Pr. Maxime Breban\nTel : 03 01\nSecrétariat: Equipe", use_model=False)
    assert found == {("PRENOM", "Maxime"), ("NOM", "Breban")}


def test_birth_dates_in_form_layouts():
    assert ("DATE_NAISSANCE", "22|8|1923") in labelled("Mme Marie Humble Née le 22|8|1923", use_model=False)


def test_the_french_model_finds_names_said_without_any_cue():
    assert {("PRENOM", "Christine"), ("NOM", "Jalonnet")} <= labelled("Nous avons revu Christine Jalonnet hier.")
