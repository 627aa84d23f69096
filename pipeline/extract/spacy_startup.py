"""Defer compiling spaCy's French hyphenated-word regex until a tokenizer actually uses it.

Importing `spacy.lang.fr` (edsnlp's language class derives from it) compiles one
7,000-alternative regex, `TOKEN_MATCH`, which takes about 3 s — more than half of the
cold start of `dictee extract`. EDS's own tokenizer never calls it. We let the import
build a `LazyPattern` instead, compiled on first use, so anything that does tokenize
with the stock French rules still gets exactly the same regex.

Only that one pattern is deferred: the hook recognises it by its shape, and any other
pattern (or a future spaCy that builds it differently) takes the normal path.
"""

from __future__ import annotations

import functools
import importlib
import re
import sys

FRENCH_EXCEPTIONS_MODULE = "spacy.lang.fr.tokenizer_exceptions"
# The pattern is "(?iu)" + thousands of alternatives; nothing else spaCy compiles looks like it.
_PATTERN_PREFIX = "(?iu)"
_MIN_LENGTH = 10_000


class LazyPattern:
    """A compiled-regex stand-in that compiles on first use.

    spaCy stores `pattern.match` and serializes it through `match.__self__.pattern`,
    so `match` is a real bound method and `pattern` the source string.
    """

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self.pattern = pattern
        self.flags = flags

    @functools.cached_property
    def compiled(self) -> re.Pattern[str]:
        return _real_compile(self.pattern, self.flags)

    @property
    def is_compiled(self) -> bool:
        return "compiled" in self.__dict__

    def match(self, string: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        return self.compiled.match(string, pos, endpos)

    def __getattr__(self, name: str):  # search, finditer, groups… as on a real pattern
        return getattr(self.compiled, name)

    def __reduce__(self):
        return (LazyPattern, (self.pattern, self.flags))


_real_compile = re.compile


def _compile_lazily_if_french_exceptions(pattern, flags=0):
    if isinstance(pattern, str) and pattern.startswith(_PATTERN_PREFIX) and len(pattern) >= _MIN_LENGTH:
        return LazyPattern(pattern, flags)
    return _real_compile(pattern, flags)


def defer_french_token_match() -> None:
    """Import spaCy's French exceptions with the big regex deferred. Idempotent.

    Call before anything imports `spacy.lang.fr` (edsnlp does). If it was already
    imported, nothing changes: that process has paid the cost already.
    """
    if FRENCH_EXCEPTIONS_MODULE in sys.modules:
        return
    # Import what the package needs first, so the hook is in place for as little as possible.
    for dependency in ("spacy.language", "spacy.lang.tokenizer_exceptions", "spacy.lang.punctuation"):
        importlib.import_module(dependency)
    re.compile = _compile_lazily_if_french_exceptions
    try:
        importlib.import_module("spacy.lang.fr")  # its __init__ imports the exceptions
    finally:
        re.compile = _real_compile
