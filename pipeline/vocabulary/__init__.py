"""Medical vocabulary: prime the recognizer, then correct misheard drug and colleague names in
context and repair misheard medical terms by sound (all flagged)."""

from pipeline.french import phonetic_key
from pipeline.vocabulary.corrector import Corrector, Term, get_corrector
from pipeline.vocabulary.prompt import echoes_prompt, hotwords, initial_prompt
from pipeline.vocabulary.repair import Repairer, get_repairer

__all__ = ["Corrector", "Repairer", "Term", "echoes_prompt", "get_corrector", "get_repairer", "hotwords", "initial_prompt",
           "phonetic_key"]
