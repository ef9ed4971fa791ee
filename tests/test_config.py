"""Settings: environment variables over scalepipe.toml over the defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from scalepipe.config import ConfigError, Settings


def test_the_file_sets_and_the_environment_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "scalepipe.toml").write_text(
        '[scalepipe]\nwarehouse = "from-file.duckdb"\nplots_dir = "figures"\n'
    )
    monkeypatch.setenv("SCALEPIPE_WAREHOUSE", "postgresql://127.0.0.1/test")
    monkeypatch.delenv("SCALEPIPE_PLOTS_DIR")
    settings = Settings.load(tmp_path)
    assert settings.warehouse == "postgresql://127.0.0.1/test"
    assert settings.plots_dir == "figures"


def test_unknown_settings_and_bad_toml_are_named(tmp_path: Path) -> None:
    (tmp_path / "scalepipe.toml").write_text('[scalepipe]\nwarehose = "x"\n')
    with pytest.raises(ConfigError, match=r"unknown setting.*warehose"):
        Settings.load(tmp_path)
    (tmp_path / "scalepipe.toml").write_text("[scalepipe\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        Settings.load(tmp_path)
