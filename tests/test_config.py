"""The campaign file: defaults, relative paths, overrides and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatcher.config import load_campaign
from dispatcher.errors import ConfigError

MINIMAL = """
csv = "targets.csv"
[target]
rule_id = 10
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "campaign.toml"
    path.write_text(text)
    return path


def test_defaults_and_relative_paths(tmp_path: Path) -> None:
    """Paths resolve against the campaign file; unspecified settings take their defaults."""
    campaign = load_campaign(write(tmp_path, MINIMAL))
    assert campaign.name == "campaign"
    assert campaign.csv == tmp_path / "targets.csv"
    assert campaign.output_dir == tmp_path / "out" / "campaign"
    assert campaign.api.base_url == "https://api.voximplant.com/platform_api"
    assert campaign.dispatch.concurrency == 180
    assert campaign.columns.custom_data_max_bytes == 200
    assert campaign.columns.encoding == "utf-8-sig"


def test_cli_overrides_win(tmp_path: Path) -> None:
    """Dotted overrides replace file values and are validated like them."""
    campaign = load_campaign(
        write(tmp_path, MINIMAL + "[dispatch]\nconcurrency = 20\n"),
        {"dispatch.concurrency": 42, "csv": "other.csv", "dispatch.rate_per_s": None},
    )
    assert campaign.dispatch.concurrency == 42
    assert campaign.csv == tmp_path / "other.csv"
    with pytest.raises(ConfigError, match="too high"):
        load_campaign(write(tmp_path, MINIMAL), {"dispatch.concurrency": 250})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (MINIMAL + "[dispatch]\nconcurrency = 200\n", "dispatch.concurrency = 200 is too high"),
        (MINIMAL + "[dispatch]\nconcurency = 10\n", "unknown key dispatch.concurency"),
        ("colour = 1\n" + MINIMAL, "unknown key 'colour'"),
        ('csv = "x.csv"\n[target]\n', "needs rule_id or rule_name"),
        ('csv = "x.csv"\n[target]\nrule_name = "r"\n', "rule_name needs target.application"),
        (MINIMAL.replace("rule_id = 10", "rule_id = 10\nrule_name = 'x'"), "both set"),
        ("[target]\nrule_id = 1\n", "csv = "),
        (MINIMAL + "[target.x]\n", "unknown key target.x"),
        (MINIMAL + "[columns]\nencoding = 'klingon'\n", "unknown encoding 'klingon'"),
        (MINIMAL + "[columns]\ndelimiter = ';;'\n", "columns.delimiter must be"),
        (MINIMAL + "[api]\nbase_url = 'ftp://x'\n", "api.base_url must be an http"),
        (MINIMAL.replace("rule_id = 10", "rule_id = 10\nreference_ip = '1.2.3'"), "IPv4"),
        (MINIMAL.replace("rule_id = 10", "rule_id = 10\nscenarios = ['a', 2]"), "mixes names"),
        (MINIMAL + "[dispatch]\nconcurrency = 'many'\n", "must be a whole number"),
        ("csv = [\n", "not valid TOML"),
    ],
)
def test_bad_campaign_files_name_the_key(tmp_path: Path, text: str, expected: str) -> None:
    """Each mistake is one ConfigError naming the file and the key at fault."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_campaign(path)
    assert expected in str(caught.value)
    assert str(path) in str(caught.value)


def test_missing_campaign_file(tmp_path: Path) -> None:
    """A campaign file that does not exist is a configuration error naming it."""
    with pytest.raises(ConfigError, match="campaign file not found"):
        load_campaign(tmp_path / "nope.toml")


def test_credentials_fall_back_to_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without [api] credentials, VOXIMPLANT_CREDENTIALS is used; without both, a clear error."""
    campaign = load_campaign(write(tmp_path, MINIMAL))
    monkeypatch.delenv("VOXIMPLANT_CREDENTIALS", raising=False)
    with pytest.raises(ConfigError, match="VOXIMPLANT_CREDENTIALS"):
        campaign.credentials_path()
    monkeypatch.setenv("VOXIMPLANT_CREDENTIALS", str(tmp_path / "c.json"))
    assert campaign.credentials_path() == tmp_path / "c.json"
