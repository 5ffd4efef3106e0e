"""The client: TLS verification, timeouts, refused connections and error classification."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatcher.auth import TokenSource, load_credentials
from dispatcher.client import (
    Failed,
    Fatal,
    Retry,
    Started,
    StartRequest,
    Uncertain,
    VoximplantClient,
    classify_api_error,
    start_body,
)
from dispatcher.config import ApiSettings, load_campaign
from dispatcher.errors import ConfigError, ExitCode
from dispatcher.runner import RunOptions, execute
from dispatcher.sandbox import Sandbox, start_sandbox
from tests.conftest import NoWait, write_campaign
from tests.keys import write_credentials


def client_for(url: str, credentials: Path, **settings: object) -> VoximplantClient:
    api = ApiSettings(base_url=url, credentials=credentials, **settings)  # type: ignore[arg-type]
    return VoximplantClient(api, TokenSource(load_credentials(credentials)), max_connections=4)


REQUEST = StartRequest(script_custom_data='{"id":"x"}', rule_id=10)


async def test_tls_with_the_campaign_ca_bundle(tmp_path: Path) -> None:
    """Against HTTPS with a private CA, api.ca_bundle makes verification succeed."""
    async with start_sandbox(tmp_path / "sb", tls=True) as server:
        assert server.ca_bundle is not None
        async with client_for(server.url, server.credentials_path, ca_bundle=server.ca_bundle) as c:
            outcome = await c.start_scenarios(REQUEST)
    assert isinstance(outcome, Started)


async def test_ssl_cert_file_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ca_bundle, the SSL_CERT_FILE environment variable supplies the trusted CA."""
    async with start_sandbox(tmp_path / "sb", tls=True) as server:
        monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_bundle))
        async with client_for(server.url, server.credentials_path) as client:
            outcome = await client.start_scenarios(REQUEST)
    assert isinstance(outcome, Started)


async def test_untrusted_certificate_is_fatal_and_places_nothing(tmp_path: Path) -> None:
    """A certificate nobody vouches for stops the run with the ca_bundle hint; nothing is sent."""
    async with start_sandbox(tmp_path / "sb", tls=True) as server:
        path = write_campaign(
            tmp_path,
            None,
            count=10,
            sections={"api": {"base_url": server.url, "credentials": str(server.credentials_path)}},
        )
        summary = await execute(load_campaign(path), RunOptions(sleep=NoWait()))
        assert summary.exit_code == ExitCode.FATAL_API_ERROR
        assert "ca_bundle" in summary.reason
        assert len(server.ledger) == 0
        assert summary.totals["pending"] == 10


def test_plain_http_to_a_remote_host_is_refused(tmp_path: Path) -> None:
    """http:// would send the token in clear: refused unless the host is loopback."""
    credentials = write_credentials(tmp_path)
    with pytest.raises(ConfigError, match="clear text"):
        client_for("http://api.example.com/platform_api", credentials)
    client_for("http://127.0.0.1:1/platform_api", credentials)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_refused_connection_is_retried_then_left_pending(tmp_path: Path) -> None:
    """Nothing listening: every attempt is a safe Retry; the rows stay pending, none uncertain."""
    credentials = write_credentials(tmp_path)
    url = f"http://127.0.0.1:{free_port()}/platform_api"
    path = write_campaign(
        tmp_path,
        None,
        count=3,
        sections={
            "api": {"base_url": url, "credentials": str(credentials)},
            "dispatch": {"max_attempts": 3},
        },
    )
    sleep = NoWait()
    summary = await execute(load_campaign(path), RunOptions(sleep=sleep))
    assert summary.totals["pending"] == 3
    assert summary.totals["uncertain"] == 0
    assert len(sleep.waits) == 6  # two waits per row between three attempts


async def test_read_timeout_is_uncertain(tmp_path: Path, sandbox: Sandbox) -> None:
    """An answer slower than request_timeout_s: the call may have started, so uncertain."""
    sandbox.latency_s = 0.5
    async with client_for(sandbox.url, sandbox.credentials_path, request_timeout_s=0.05) as client:
        outcome = await client.start_scenarios(REQUEST)
    assert isinstance(outcome, Uncertain)
    assert "Timeout" in outcome.reason


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        (340, "Rate limit exceed", Retry),
        (314, "Concurrent resource limit exceeded", Retry),
        (162, "try later..", Retry),
        (416, "Repeat after 12 seconds", Retry),
        (484, "probable automatic request resend", Uncertain),
        (2, "Internal error", Uncertain),
        (101, "Invalid arguments", Failed),
        (257, "The 'reference_ip' parameter is invalid", Failed),
        (127, "Insufficient money", Fatal),
        (375, "No scenario is bound to the rule", Fatal),
        (456, "The token has expired.", Fatal),
        (104, "Forbidden command", Fatal),
    ],
)
def test_error_codes_are_classified(code: int, message: str, expected: type) -> None:
    """Each documented code lands in the class that keeps nobody from being called twice."""
    outcome = classify_api_error(code, message)
    assert isinstance(outcome, expected)
    if code == 416:
        assert isinstance(outcome, Retry)
        assert outcome.after_s == 12.0


def test_a_row_specific_rule_error_fails_only_that_row() -> None:
    """Unknown rule from a per-row override fails the row, not the run."""
    assert isinstance(classify_api_error(147, "bad rule", row_specific_rule=True), Failed)
    assert isinstance(classify_api_error(147, "bad rule"), Fatal)


@settings(max_examples=300, deadline=None)
@given(
    data=st.text(),
    rule=st.one_of(st.none(), st.integers(1, 10**9)),
    rule_name=st.one_of(st.none(), st.text(min_size=1)),
    location=st.one_of(st.none(), st.text()),
)
def test_hand_built_body_equals_urlencode(
    data: str, rule: int | None, rule_name: str | None, location: str | None
) -> None:
    """The fast StartScenarios body is byte for byte what urlencode would send."""
    request = StartRequest(
        script_custom_data=data, rule_id=rule, rule_name=rule_name, server_location=location
    )
    fields = {"script_custom_data": data, "rule_id": rule, "rule_name": rule_name}
    fields["server_location"] = location
    expected = urlencode({k: str(v) for k, v in fields.items() if v is not None}).encode()
    assert start_body(request) == expected
