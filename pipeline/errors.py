"""One error tree. The class decides the policy, not the caller.

    DicteeError
    ├── BadInput            the dictation itself is unusable → quarantine with a reason, never retried
    │   ├── UnsupportedFormat   e.g. .dss/.ds2: the user must export to another format
    │   └── NoSpeech            silence, noise, nothing recognised
    ├── TransientError      I/O that may succeed later (disk full, busy file) → retried, then left in place
    ├── ModelError          a model is missing or corrupt → stop and tell how to install it
    └── TemplateError       a letter template is broken → fail loudly, this is our bug

Messages carry no patient data: they may reach logs and Prefect's database.
Every BadInput carries a French and an English sentence for the quarantine file.
"""

from __future__ import annotations


class DicteeError(Exception):
    """Base of every error Dictée raises on purpose."""


class BadInput(DicteeError):
    def __init__(self, code: str, fr: str, en: str) -> None:
        super().__init__(f"{code}: {en}")
        self.code = code
        self.fr = fr
        self.en = en


class UnsupportedFormat(BadInput):
    pass


class NoSpeech(BadInput):
    pass


class TransientError(DicteeError):
    pass


class ModelError(DicteeError):
    pass


class TemplateError(DicteeError):
    pass
