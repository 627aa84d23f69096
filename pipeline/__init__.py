"""Dictée: offline French medical dictation → reviewed Word letters.

Stages, one module each: ingest → transcribe → normalize → extract → draft → outbox.
Orchestration lives in `flows` (Prefect) and `cli`; the stages never import Prefect.
"""

__version__ = "0.1.0"
