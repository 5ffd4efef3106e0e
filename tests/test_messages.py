"""Messages that say what happened, where, and what to do (issue #15 item 14)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from dispatcher.auth import TokenSource, load_credentials
from dispatcher.cli import main
from dispatcher.client import Retry, StartRequest, VoximplantClient
from dispatcher.config import ApiSettings, load_campaign
from dispatcher.errors import ConfigError, ExitCode
from dispatcher.runner import RunOptions, execute
from dispatcher.sandbox import Fault, Sandbox
from dispatcher.source import TargetReader
from tests.conftest import NoWait, campaign_at, write_campaign
from tests.keys import write_credentials
from tests.processes import SandboxProcess


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_connection_failure_names_host_and_port(tmp_path: Path) -> None:
    """Nothing listening: the retry reason says which host and port could not be reached."""
    credentials = write_credentials(tmp_path)
    port = _free_port()
    api = ApiSettings(base_url=f"http://127.0.0.1:{port}/platform_api", credentials=credentials)
    tokens = TokenSource(load_credentials(credentials))
    async with VoximplantClient(api, tokens, max_connections=1) as client:
        outcome = await client.start_scenarios(StartRequest(script_custom_data="{}", rule_id=10))
    assert isinstance(outcome, Retry)
    assert f"cannot connect to 127.0.0.1:{port}" in outcome.reason


def test_a_tls_failure_in_the_preflight_gives_the_reason_and_the_ca_bundle_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``run --dry-run`` against an HTTPS sandbox whose certificate nobody vouches for: exit 3,
    one line with why verification failed and the api.ca_bundle hint."""
    server = SandboxProcess(tmp_path / "sandbox", "--tls")
    try:
        api = {"base_url": server.url, "credentials": str(server.credentials)}
        target = {"application_name": "demo", "rule_name": "outbound", "rule_id": None}
        path = write_campaign(tmp_path, None, count=2, sections={"api": api, "target": target})
        assert main(["run", str(path), "--dry-run"]) == ExitCode.FATAL_API_ERROR
    finally:
        server.stop()
    err = capsys.readouterr().err
    [line] = [line for line in err.splitlines() if line.startswith("vox-dispatch: ")]
    assert "TLS certificate not trusted: " in line
    assert "API error 0" not in line  # no API answer came, so no API error code either
    assert "certificate verify failed" in line or "self-signed" in line
    assert "api.ca_bundle" in line
    assert "Traceback" not in err


async def test_api_messages_never_end_in_two_full_stops(tmp_path: Path, sandbox: Sandbox) -> None:
    """The API's own full stop is dropped before ours: "Insufficient money." gives one "."."""
    sandbox.faults = [Fault("api_error", code=127, msg="Insufficient money.")]
    summary = await execute(
        campaign_at(write_campaign(tmp_path, sandbox, count=2)), RunOptions(sleep=NoWait())
    )
    assert summary.exit_code == ExitCode.FATAL_API_ERROR
    assert "Insufficient money. " in summary.reason
    assert ".." not in summary.reason


async def test_error_182_says_the_scenario_does_not_exist(tmp_path: Path, sandbox: Sandbox) -> None:
    """Error 182 stops the run with a hint naming target.scenarios."""
    sandbox.faults = [Fault("api_error", code=182, msg="Scenario not found")]
    summary = await execute(
        campaign_at(write_campaign(tmp_path, sandbox, count=2)), RunOptions(sleep=NoWait())
    )
    assert summary.exit_code == ExitCode.FATAL_API_ERROR
    assert "The scenario does not exist" in summary.reason
    assert "target.scenarios" in summary.reason


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ("id,name\n1,Ann\n".encode("utf-16"), "UTF-16 byte-order mark"),
        (b"\x00\x01\x02PK\x03\x04\xff\xfe binary\n", "NUL bytes"),
        (b"id,caf\xe9\n1,x\n", r"bytes \xe9 cannot be decoded"),
    ],
)
def test_a_file_in_another_encoding_points_at_columns_encoding(
    tmp_path: Path, data: bytes, says: str
) -> None:
    """UTF-16, binary or cp1252 read as UTF-8: a configuration error naming columns.encoding
    and what was found, not a header of escaped bytes."""
    path = write_campaign(tmp_path, None, count=1)
    (tmp_path / "targets.csv").write_bytes(data)
    campaign = load_campaign(path)
    with pytest.raises(ConfigError) as error:
        TargetReader(campaign.csv, campaign.columns)
    message = str(error.value)
    assert says in message
    assert "columns.encoding" in message
    assert "\udcff" not in message
    assert "\\udc" not in message


def test_the_right_encoding_still_reads_the_file(tmp_path: Path) -> None:
    """The same UTF-16 file with columns.encoding = "utf-16" reads as usual."""
    path = write_campaign(tmp_path, None, count=1, sections={"columns": {"encoding": "utf-16"}})
    (tmp_path / "targets.csv").write_bytes("id,name\n1,Ann\n".encode("utf-16"))
    campaign = load_campaign(path)
    with TargetReader(campaign.csv, campaign.columns) as reader:
        assert reader.header == ("id", "name")
        assert len(list(reader)) == 1


@pytest.mark.parametrize("value", [0.5, 29, 3596, 7200])
def test_a_token_lifetime_out_of_range_is_a_configuration_error(
    tmp_path: Path, value: float
) -> None:
    """api.token_lifetime_s below 30 or above 3595 is refused, naming the key and the range
    (it used to be quietly clamped)."""
    path = write_campaign(tmp_path, None, count=1, sections={"api": {"token_lifetime_s": value}})
    with pytest.raises(ConfigError, match=r"api\.token_lifetime_s = .* use 30 to 3595 seconds"):
        load_campaign(path)


@pytest.mark.parametrize("value", [30, 600, 3595])
def test_a_token_lifetime_in_range_is_kept(tmp_path: Path, value: float) -> None:
    """The bounds themselves are allowed."""
    path = write_campaign(tmp_path, None, count=1, sections={"api": {"token_lifetime_s": value}})
    assert load_campaign(path).api.token_lifetime_s == value
