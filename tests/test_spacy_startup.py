"""The deferred French TOKEN_MATCH: skipped while unused, identical once used.

Each case runs in a fresh interpreter, since the point is what happens at import time.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from pipeline.extract.spacy_startup import LazyPattern

HYPHENATED = "Il habite Saint-Jean-de-Luz, a fait un électro-encéphalogramme et va à Aix-en-Provence."


def run_python(code: str) -> dict:
    completed = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                               timeout=300, check=True)
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_extraction_never_compiles_the_french_token_match():
    state = run_python("""
        import json
        from pipeline.extract import extract
        from pipeline.normalize import normalize_text
        extraction = extract(normalize_text("Courrier au docteur Martin. Patiente Mme Jeanne Durand, sous amlodipine 5 mg, pas de diabète."))
        from spacy.lang.fr import tokenizer_exceptions
        pattern = tokenizer_exceptions.TOKEN_MATCH.__self__
        print(json.dumps({"lazy": type(pattern).__name__, "compiled": pattern.is_compiled,
                          "drugs": [d.name for d in extraction.drugs]}))
    """)
    assert state == {"lazy": "LazyPattern", "compiled": False, "drugs": ["amlodipine"]}


@pytest.mark.parametrize("deferred", [False, True])
def test_stock_french_tokenizer_is_unchanged(deferred):
    """Same tokens, same serialized rules, with and without the deferral."""
    tokens = run_python(f"""
        import json
        if {deferred}:
            from pipeline.extract.spacy_startup import defer_french_token_match
            defer_french_token_match()
        import spacy
        nlp = spacy.blank("fr")
        restored = spacy.blank("fr")
        restored.tokenizer.from_bytes(nlp.tokenizer.to_bytes())
        print(json.dumps({{"tokens": [t.text for t in nlp({HYPHENATED!r})],
                          "restored": [t.text for t in restored({HYPHENATED!r})]}}))
    """)
    assert "Saint-Jean-de-Luz" in tokens["tokens"]
    assert "Aix-en-Provence" in tokens["tokens"]
    assert tokens["restored"] == tokens["tokens"]


def test_lazy_pattern_behaves_like_the_compiled_one():
    lazy = LazyPattern("(?iu)(?:saint)|(?:^aux?$)")
    assert not lazy.is_compiled
    assert lazy.match("SAINT-Denis").group() == "SAINT"
    assert lazy.match("xx saint", 3).group() == "saint"
    assert lazy.match("auxiliaire") is None
    assert lazy.is_compiled
    assert lazy.search("à Saint") and lazy.match.__self__.pattern == lazy.pattern
