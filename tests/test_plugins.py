"""Discovery of built-in and third-party plugins through the ``vocfw`` entry points."""

from __future__ import annotations

from pathlib import Path

import pytest

from vocfw.core.plugins import get_plugin_manager
from vocfw.core.registry import RegistrationError, Registry, build_registry

THIRD_PARTY = (Path(__file__).parent / "fake_plugins" / "toys.py").read_text(encoding="utf-8")


def test_builtins_are_discovered_through_entry_points() -> None:
    pm = get_plugin_manager()
    names = {name for name, _ in pm.list_name_plugin()}
    builtins = {f"vocfw:vocfw-builtin-{kind}" for kind in ("datasets", "models", "samplers")}
    assert builtins <= names
    assert {pm.distribution_of(name)[0] for name in builtins} == {"vocfw"}
    registry = build_registry(pm)
    assert registry.failures == []
    assert registry.get("models", "DiffWave").__module__ == "vocfw.plugins.models.diffwave"
    assert registry.get("samplers", "DDPM").__module__ == "vocfw.plugins.samplers.ddpm"
    recipe = {"csd", "kising", "m4singer", "nus48e", "opencpop", "opensinger", "opera", "pjs",
              "popbutfy", "popcs", "ljspeech", "vctk", "libritts"}
    assert recipe | {"folder"} == set(registry.entries["corpora"])
    assert all(e.distribution == "vocfw" for e in registry.entries["corpora"].values())


def test_third_party_distribution_registers_all_three_kinds(fake_distribution) -> None:
    module = fake_distribution("vocfw-toys", THIRD_PARTY)
    registry = build_registry()
    assert registry.failures == []
    for kind, key in (("corpora", "toycorpus"), ("models", "ToyVocoder"),
                      ("samplers", "ToySampler")):
        entry = registry.entries[kind][key]
        assert entry.distribution == "vocfw-toys"
        assert entry.version == "1.2.3"
        assert entry.module == module
    assert "DiffWave" in registry.entries["models"]


def test_autoload_can_be_disabled_and_plugins_blocked(fake_distribution, monkeypatch) -> None:
    fake_distribution("vocfw-toys", THIRD_PARTY, plugin="toys")
    monkeypatch.setenv("VOCFW_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert "ToyVocoder" not in build_registry().entries["models"]
    assert "DiffWave" in build_registry().entries["models"]
    monkeypatch.delenv("VOCFW_DISABLE_PLUGIN_AUTOLOAD")
    monkeypatch.setenv("VOCFW_BLOCK_PLUGINS", "toys")
    assert "ToyVocoder" not in build_registry().entries["models"]
    monkeypatch.setenv("VOCFW_BLOCK_PLUGINS", "vocfw-toys")
    assert "ToyVocoder" not in build_registry().entries["models"]


def test_plugin_that_fails_to_import_is_reported_and_others_work(fake_distribution) -> None:
    fake_distribution("vocfw-broken", "raise ImportError('missing native library')\n")
    fake_distribution("vocfw-toys", THIRD_PARTY)
    registry = build_registry()
    [failure] = registry.failures
    assert failure.plugin == "vocfw-broken:vocfw-broken"
    assert failure.distribution == "vocfw-broken"
    assert "missing native library" in str(failure)
    assert {"DiffWave", "ToyVocoder"} <= set(registry.entries["models"])


def test_duplicate_and_wrong_base_registrations_name_the_distribution(fake_distribution) -> None:
    fake_distribution("vocfw-clash", """
        from vocfw.core import hookimpl
        from vocfw.core.model import Vocoder

        class DiffWave(Vocoder):
            def condition(self, mel):
                return mel

            def denoise(self, audio, step, condition):
                return audio

        class NotASampler:
            pass

        @hookimpl
        def vocfw_register_models():
            return [DiffWave]

        @hookimpl
        def vocfw_register_samplers():
            return [NotASampler]
    """)
    registry = build_registry()
    messages = [str(f) for f in registry.failures]
    assert len(messages) == 2
    assert all("vocfw-clash" in m for m in messages)
    assert any("'DiffWave'" in m and "already registered" in m and "'vocfw'" in m
               for m in messages)
    assert any("NotASampler" in m and "not a subclass" in m for m in messages)
    assert registry.get("models", "DiffWave").__module__ == "vocfw.plugins.models.diffwave"


SHADOW = """
    from vocfw.core import hookimpl
    from vocfw.core.model import Vocoder

    class DiffWave(Vocoder):
        def condition(self, mel):
            return mel

        def denoise(self, audio, step, condition):
            return audio

    @hookimpl
    def vocfw_register_models():
        return [DiffWave]
"""


def test_outside_entry_point_named_models_leaves_the_builtins_and_reports_the_clash(
    fake_distribution,
) -> None:
    fake_distribution("vocfw-shadow", SHADOW, plugin="models")
    registry = build_registry()
    assert registry.get("models", "DiffWave").__module__ == "vocfw.plugins.models.diffwave"
    assert registry.get("samplers", "DDPM").__module__ == "vocfw.plugins.samplers.ddpm"
    assert "vocfw-shadow:models" in registry.plugins
    [failure] = registry.failures
    assert failure.distribution == "vocfw-shadow"
    assert "'DiffWave'" in failure.message and "'vocfw'" in failure.message


def test_entry_point_name_declared_twice_is_a_failure_naming_both_distributions(
    fake_distribution,
) -> None:
    fake_distribution("vocfw-copycat", THIRD_PARTY, plugin="vocfw-builtin-models")
    fake_distribution("vocfw-alpha", "", plugin="shared")
    fake_distribution("vocfw-beta", THIRD_PARTY, plugin="shared")
    registry = build_registry()
    assert registry.get("models", "DiffWave").__module__ == "vocfw.plugins.models.diffwave"
    assert "ToyVocoder" not in registry.entries["models"]
    messages = {f.distribution: f.message for f in registry.failures}
    assert set(messages) == {"vocfw-copycat", "vocfw-beta"}
    assert "'vocfw-builtin-models'" in messages["vocfw-copycat"]
    assert "'vocfw'" in messages["vocfw-copycat"]
    assert "'vocfw-alpha'" in messages["vocfw-beta"] and "'vocfw-beta'" in messages["vocfw-beta"]
    assert "vocfw-alpha:shared" in registry.plugins


def test_plugin_with_a_misspelt_hook_is_reported_and_others_work(fake_distribution) -> None:
    fake_distribution("vocfw-typo", """
        from vocfw.core import hookimpl

        @hookimpl
        def vocfw_register_modles():
            return []
    """)
    fake_distribution("vocfw-toys", THIRD_PARTY)
    registry = build_registry()
    [failure] = registry.failures
    assert failure.distribution == "vocfw-typo"
    assert "vocfw_register_modles, which is not a vocfw hook" in failure.message
    assert "vocfw_register_models" in failure.message
    assert {"DiffWave", "ToyVocoder"} <= set(registry.entries["models"])
    assert "vocfw-typo:vocfw-typo" not in registry.plugins


def test_registry_add_rejects_directly() -> None:
    from vocfw.plugins.models.diffwave import DiffWave

    registry = Registry()
    registry.add("models", DiffWave, "vocfw:vocfw-builtin-models", "vocfw")
    with pytest.raises(RegistrationError, match="other-dist"):
        registry.add("models", DiffWave, "p", "other-dist")
    with pytest.raises(RegistrationError, match="other-dist.*not a subclass"):
        registry.add("samplers", DiffWave, "p", "other-dist")


def test_corpus_lookup_by_prefix() -> None:
    registry = build_registry()
    assert registry.corpus_for("opencpop_v2").name == "opencpop"
    assert registry.corpus_for("folder-mine").name == "folder"
    with pytest.raises(KeyError, match="matches no registered corpus"):
        registry.corpus_for("nonsense")
