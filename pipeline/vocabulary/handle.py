"""One handle on the words a practice's dictations are heard and written with.

The medical lexicons (bundled, or the practice's updated BDPM under `models_dir`), the
practice's own list (its CSV), the words its secretary corrected (pipeline/adapt/learned.py)
and its address book's correspondents: built once from the settings, where `models_dir` and
the practice's files used to be threaded one by one. Each reader below is cached by what it
reads, so a handle built again after an import or a correction sees the new words.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.adapt.learned import learned_words
from pipeline.directory import correspondents
from pipeline.settings import Settings
from pipeline.vocabulary.corrector import Corrector, Term, get_corrector, name_terms, practice_terms
from pipeline.vocabulary.repair import Repairer, get_repairer


@dataclass(frozen=True, slots=True)
class Vocabulary:
    models_dir: Path | None
    practice_csv: Path | None = None
    learned: tuple[str, ...] = ()  # every word the secretary corrected…
    learned_names: tuple[str, ...] = ()  # …and those of them that are names
    # Colleagues' surnames from the address book: « Docteur … » is corrected towards them. The
    # register's patients are not: a patient's name is settled by the identity link, where the
    # secretary chooses among candidates, never rewritten by sound.
    correspondent_names: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> Vocabulary:
        outbox = settings.store()
        learned = learned_words(outbox)
        book = correspondents.cached(outbox)
        surnames = sorted({entry.last_name for entry in book.entries if entry.last_name}) if book else []
        return cls(settings.models_dir, settings.practice_vocabulary, tuple(word.text for word in learned),
                   tuple(word.text for word in learned if word.kind == "name"), tuple(surnames))

    def spoken_names(self) -> tuple[Term, ...]:
        """Names the recognizer is primed with: the practice's list, then the names its secretary
        corrected (the address book stays out of the prompt: hundreds of names would crowd it)."""
        return practice_terms(self.practice_csv) + name_terms(self.learned_names)

    def corrector(self) -> Corrector:
        names = tuple(dict.fromkeys((*self.learned_names, *self.correspondent_names)))
        return get_corrector(self._csv, self.models_dir, names)

    def repairer(self) -> Repairer:
        return get_repairer(self.models_dir, self._csv, self.learned)

    @property
    def _csv(self) -> str | None:
        return str(self.practice_csv) if self.practice_csv else None
