"""Configuration: defaults, file, environment, and one clear error per bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from hutong import logs, metrics, rekey_task
from hutong.config import load_config, settings_of
from hutong.errors import ConfigError


def test_defaults_without_a_file(tmp_path: Path) -> None:
    cfg = load_config(tmp_path, env={})
    assert cfg.effective_database_url.startswith("sqlite:///") and cfg.uses_embedded_hsm
    assert cfg.server.listen == "127.0.0.1:7443" and cfg.pin_file == tmp_path.resolve() / "secrets" / "hsm-pin"


def test_environment_overrides_file(tmp_path: Path) -> None:
    (tmp_path / "hutong.toml").write_text('[node]\nid = "a"\n[server]\nworkers = 2\n[identity]\nx = 1\n')
    cfg = load_config(tmp_path, env={"HUTONG_NODE_ID": "b", "HUTONG_DATABASE_URL": "postgresql://h/db"})
    assert cfg.node.id == "b" and cfg.server.workers == 2 and cfg.section("identity") == {"x": 1}
    assert cfg.effective_database_url == "postgresql://h/db"


@pytest.mark.parametrize(
    ("text", "reason", "names"),
    [
        ("[server\n", "CONFIG_INVALID", "not valid TOML"),
        ('[server]\nlisten = "nowhere"\n', "CONFIG_INVALID", "listen"),
        ("[server]\nworkers = 0\n", "CONFIG_INVALID", "workers"),
        ('[server]\nworkers = "many"\n', "CONFIG_INVALID", "workers"),
        ("[hsm]\ncolour = 1\n", "CONFIG_INVALID", "colour"),
        ('[hsm]\nmodule = "/nonexistent/pkcs11.so"\n', "HSM_MODULE_NOT_FOUND", "/nonexistent/pkcs11.so"),
    ],
)
def test_bad_values_name_what_to_fix(tmp_path: Path, text: str, reason: str, names: str) -> None:
    (tmp_path / "hutong.toml").write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path, env={})
    assert err.value.reason == reason and names in err.value.message


@pytest.mark.parametrize(
    ("text", "cls_name", "section", "names"),
    [
        ('[log]\nlevel = "LOUD"\n', "LogSettings", "log", "LOUD"),
        ("[log]\nverbose = true\n", "LogSettings", "log", "verbose"),
        ('[metrics]\nlisten = "9100"\n', "MetricsSettings", "metrics", "HOST:PORT"),
        ('[metrics]\nsample_seconds = "often"\n', "MetricsSettings", "metrics", "sample_seconds"),
        ("[rekey]\nbatch = 0\n", "RekeySettings", "rekey", "batch is 1 to"),
        ("[rekey]\ncheck_seconds = 0\n", "RekeySettings", "rekey", "check_seconds"),
        ("[rekey]\nby_hand = true\n", "RekeySettings", "rekey", "by_hand"),
    ],
)
def test_log_and_metrics_sections_read_like_every_other(tmp_path: Path, text: str, cls_name: str, section: str,
                                                        names: str) -> None:
    """``[log]`` and ``[metrics]`` go through ``settings_of`` like every section: bad values name what to fix."""
    cls = {"LogSettings": logs.LogSettings, "MetricsSettings": metrics.MetricsSettings,
           "RekeySettings": rekey_task.RekeySettings}[cls_name]
    (tmp_path / "hutong.toml").write_text(text)
    config = load_config(tmp_path, env={})
    with pytest.raises(ConfigError) as err:
        settings_of(config, cls, section)
    assert err.value.reason == "CONFIG_INVALID" and names in err.value.message
