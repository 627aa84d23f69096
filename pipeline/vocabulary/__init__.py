"""Medical vocabulary: prime the recognizer, then correct misheard drug and colleague names (flagged)."""

from pipeline.vocabulary.corrector import Corrector, Term, get_corrector, phonetic_key
from pipeline.vocabulary.prompt import echoes_prompt, initial_prompt

__all__ = ["Corrector", "Term", "echoes_prompt", "get_corrector", "initial_prompt", "phonetic_key"]
