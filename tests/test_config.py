"""Settings: defaults < TOML file < environment < command line, and failures that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgewatch.config import CameraSettings, CloudSettings, EdgeSettings, SettingsError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "edgewatch.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_precedence_file_env_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(tmp_path, '[camera]\nfps = 2.0\ncamera_id = "door"\njpeg_quality = 70\n[edge]\nport = 9001\n')
    monkeypatch.setenv("EDGEWATCH_FPS", "3.5")
    settings = load_settings(CameraSettings, config, jpeg_quality=60)
    assert settings.camera_id == "door"  # from the file
    assert settings.fps == 3.5  # env beats file
    assert settings.jpeg_quality == 60  # command line beats everything
    assert load_settings(EdgeSettings, config).port == 9001  # each node reads its own table


def test_defaults_are_documented() -> None:
    for cls in (CameraSettings, EdgeSettings, CloudSettings):
        for name, info in cls.model_fields.items():
            assert info.description, f"{cls.__name__}.{name} has no description"


def test_bad_value_names_field_and_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEWATCH_INPUT_SIZE", "333")
    with pytest.raises(SettingsError, match=r"input_size \(env EDGEWATCH_INPUT_SIZE\).*multiple of 32"):
        load_settings(EdgeSettings)
    with pytest.raises(SettingsError, match=r"fps \(command line\)"):
        load_settings(CameraSettings, fps="-1")


def test_unknown_key_and_broken_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="unknown setting.*fsp"):
        load_settings(CameraSettings, write(tmp_path, "[camera]\nfsp = 2\n"))
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(CameraSettings, write(tmp_path, "[camera\n"))
    with pytest.raises(SettingsError, match="not found"):
        load_settings(CameraSettings, tmp_path / "missing.toml")


def test_lists_accept_commas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEWATCH_SITES", "north, south")
    assert load_settings(EdgeSettings).sites == ["north", "south"]
    assert load_settings(EdgeSettings, cameras="a,b").cameras == ["a", "b"]
    with pytest.raises(SettingsError, match="sites"):
        load_settings(EdgeSettings, sites="bad site!")


def test_config_file_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEWATCH_CONFIG", str(write(tmp_path, "[cloud]\nport = 9999\n")))
    assert load_settings(CloudSettings).port == 9999


def test_bad_value_names_its_true_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 10: every bad value was reported as "(command line)", also from a file or the environment."""
    config = write(tmp_path, '[edge]\nport = "abc"\n')
    with pytest.raises(SettingsError, match=rf"port \(config file {config} \[edge\]\).*got 'abc'"):
        load_settings(EdgeSettings, config)
    monkeypatch.setenv("EDGEWATCH_PORT", "abc")
    with pytest.raises(SettingsError, match=r"port \(env EDGEWATCH_PORT\)"):
        load_settings(EdgeSettings, config)  # the environment beats the file, so it is the one named
    with pytest.raises(SettingsError, match=r"port \(command line\)"):
        load_settings(EdgeSettings, config, port="-5")
    monkeypatch.delenv("EDGEWATCH_PORT")
    # An untouched default is never blamed on the command line.
    with pytest.raises(SettingsError) as caught:
        load_settings(EdgeSettings, sites="")
    assert "sites (command line)" in str(caught.value) and "port" not in str(caught.value)


def test_config_file_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="is a directory"):
        load_settings(EdgeSettings, tmp_path)
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes(b'[edge]\nsites = "caf\xe9"\n')
    with pytest.raises(SettingsError, match="not UTF-8"):
        load_settings(EdgeSettings, latin1)


def test_paths_and_urls_are_checked_at_start(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(SettingsError, match=r"log_dir \(command line\): .* is a file"):
        load_settings(EdgeSettings, log_dir=str(afile))
    with pytest.raises(SettingsError, match=r"alarm_db \(command line\): .* is a folder"):
        load_settings(EdgeSettings, alarm_db=str(tmp_path))
    with pytest.raises(SettingsError, match=r"db_path \(command line\): .* cannot be created"):
        load_settings(CloudSettings, db_path=str(afile / "faces.db"))
    for url in ("notaurl", "not a url", "ftp://host/x", "http://", "http://host:99999"):
        with pytest.raises(SettingsError, match="edge_url"):
            load_settings(CameraSettings, edge_url=url)
    assert load_settings(CameraSettings, edge_url="https://edge.example:8443").edge_url == "https://edge.example:8443"
    assert load_settings(EdgeSettings, cloud_url="http://127.0.0.1:8080", log_dir=str(tmp_path / "new" / "logs"))


def test_a_misspelt_table_is_an_error_not_silently_ignored(tmp_path: Path) -> None:
    # [egde] instead of [edge]: the edge would otherwise start on its defaults, its zones and masks unset.
    config = tmp_path / "site.toml"
    config.write_text('[egde]\nport = 8001\n\n[camera]\nfps = 2\n')
    with pytest.raises(SettingsError, match=r"unknown table\(s\) \[egde\]; valid: \[alarm\], \[camera\]"):
        load_settings(EdgeSettings, config)
    with pytest.raises(SettingsError, match="egde"):  # every node reading the file says so
        load_settings(CameraSettings, config)
    config.write_text('[edge]\nport = 8001\n\n[camera]\nfps = 2\n')  # a shared file with several nodes' tables
    assert load_settings(EdgeSettings, config).port == 8001
    assert load_settings(CameraSettings, config).fps == 2
