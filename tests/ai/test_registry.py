"""The model registry, the command line's dispatch and the environment read at the entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

from medcloud.ai import registry
from medcloud.ai.runtime import AIRuntime
from medcloud.core.paths import REPO_ROOT, shared_data_dir


def test_bundled_models_are_registered_with_their_entry_points():
    assert "ynet" in registry.names()
    spec = registry.get("ynet")
    for command in registry.COMMANDS:
        module, _, attr = getattr(spec, command).partition(":")
        assert module.startswith("medcloud.ai.ynet.") and attr == "main"


def test_unknown_model_is_a_clear_error_listing_the_known_ones(capsys):
    from medcloud.ai.__main__ import main

    with pytest.raises(registry.UnknownModelError, match="known models: ynet"):
        registry.get("nope")
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--model", "nope", "--data", "x"])
    assert exc.value.code == 2
    assert "unknown model 'nope'; known models: ynet" in capsys.readouterr().err


def test_a_name_is_registered_once():
    spec = registry.get("ynet")
    assert registry.register(spec) is spec  # the same spec again: no-op
    other = registry.ModelSpec("ynet", "another", "a:b", "a:b", "a:b")
    with pytest.raises(ValueError, match="already registered"):
        registry.register(other)


def test_dispatch_hands_the_runtime_to_the_entry_point(monkeypatch):
    from medcloud.ai.__main__ import main

    seen = {}
    spec = registry.get("ynet")
    monkeypatch.setattr(
        registry.ModelSpec, "entry_point", lambda self, command: lambda argv, rt: seen.update(c=command, a=argv, r=rt)
    )
    monkeypatch.setenv("MEDCLOUD_DATA_DIR", "/tmp/medcloud-data")
    monkeypatch.setenv("MEDCLOUD_YNET_WEIGHTS", "/tmp/other.keras")
    assert main(["benchmark", "--model", spec.name, "--slices", "2"]) == 0
    assert seen["c"] == "benchmark" and seen["a"] == ["--slices", "2"]
    assert seen["r"].data_dir == Path("/tmp/medcloud-data")
    assert seen["r"].weights_for("ynet") == Path("/tmp/other.keras")


def test_runtime_from_environ():
    env = {"MEDCLOUD_AI_THREADS": "3", "MEDCLOUD_YNET_WEIGHTS": "w.keras", "MEDCLOUD_WEIGHTS": "x"}
    rt = AIRuntime.from_environ(env)
    assert rt.threads == 3 and rt.weights_for("ynet") == Path("w.keras") and rt.weights_for("other") is None
    assert rt.data_dir == shared_data_dir({}) == (REPO_ROOT.parent / "shared" / "data").resolve()
    assert AIRuntime.from_environ({}).weights_for("ynet", Path("default")) == Path("default")
    assert shared_data_dir({"MEDCLOUD_DATA_DIR": "/data/x"}) == Path("/data/x")
