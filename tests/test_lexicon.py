"""Lexicon lookup and its on-disk index cache."""

from __future__ import annotations

from pipeline.extract import lexicon


def test_matching_ignores_case_and_accents_and_prefers_the_longest_term():
    index = lexicon.Lexicon({"douleur": ("R52", "Douleur"), "douleur thoracique": ("R074", "Douleur thoracique")})
    [match] = index.find("Une DOULEUR thoracique aiguë")
    assert (match.entry.code, match.start, match.end) == ("R074", 4, 22)


def test_an_index_is_built_once_then_read_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    builds = []

    def build():
        builds.append(1)
        return {"fievre": ("R50", "Fièvre")}

    assert lexicon._cached("test-index", build) == {"fievre": ("R50", "Fièvre")}
    assert lexicon._cached("test-index", build) == {"fievre": ("R50", "Fièvre")}
    assert len(builds) == 1
    assert not list((tmp_path / "dictee").glob("*.partial"))


def test_an_unwritable_cache_only_costs_a_rebuild(tmp_path, monkeypatch):
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert lexicon._cached("test-index", lambda: {"a": ("b", "c")}) == {"a": ("b", "c")}
