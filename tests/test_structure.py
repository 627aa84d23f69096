"""The package's shape: no import cycle between its modules (a cycle makes import order matter
and hides which stage depends on which)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "pipeline"


def module_imports() -> dict[str, set[str]]:
    """Each module's imports of other modules of the package, at module level (an import inside
    a function runs later and makes no cycle at import time); a package's own submodules' imports
    of it are left out, as Python resolves them."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        modules[name] = path
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                submodules = [f"{node.module}.{alias.name}" for alias in node.names
                              if f"{node.module}.{alias.name}" in modules]
                targets = submodules or [node.module]
            else:
                continue
            graph[name] |= {target for target in targets
                            if target in modules and target != name and not name.startswith(target + ".")}
    return graph


def cycle_from(graph: dict[str, set[str]], start: str) -> list[str] | None:
    stack = [(start, [start])]
    seen = set()
    while stack:
        node, path = stack.pop()
        for following in graph[node]:
            if following == start:
                return path + [start]
            if following not in seen:
                seen.add(following)
                stack.append((following, path + [following]))
    return None


def test_no_module_of_the_package_imports_itself_back():
    graph = module_imports()
    assert len(graph) > 40 and any(graph.values())
    cycles = [cycle for name in graph if (cycle := cycle_from(graph, name))]
    assert cycles == [], " ; ".join(" → ".join(cycle) for cycle in cycles[:5])


def test_the_cycle_check_sees_a_cycle():
    assert cycle_from({"a": {"b"}, "b": {"c"}, "c": {"a"}}, "a") == ["a", "b", "c", "a"]
    assert cycle_from({"a": {"b"}, "b": set()}, "a") is None


JOB_FILE_NAMES = frozenset({"audio.*", "result.json", "state.json", "draft.docx"})


def test_only_the_store_spells_a_job_file_s_name():
    """A job's files are reached through `Outbox.job(id)` (`.result()`, `.save()`, `.state()`,
    `.audio`, `.draft`): only the store knows what they are called."""
    spelled = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "store.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.strip("/' ") in JOB_FILE_NAMES:
                spelled.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.value!r}")
    assert spelled == []


def test_a_recognizer_is_chosen_by_its_engine_setting_through_the_registry(settings, monkeypatch):
    """A second recognizer is one class behind the Recognizer protocol and one ENGINES entry;
    every step gets it through get_transcriber, loaded once per process."""
    from pipeline import transcribe
    from pipeline.transcribe import ENGINES, TranscriberConfig, get_transcriber

    built = []

    class Other:
        def __init__(self, config):
            built.append(config.engine)

    monkeypatch.setitem(ENGINES, "faster-whisper", Other)
    transcribe.get_transcriber.cache_clear()
    try:
        config = TranscriberConfig.from_settings(settings)
        assert isinstance(get_transcriber(config), Other) and get_transcriber(config) is get_transcriber(config)
        assert built == ["faster-whisper"]
    finally:
        transcribe.get_transcriber.cache_clear()
    assert settings.engine == "faster-whisper" and set(ENGINES) >= {"faster-whisper"}
