"""Credentials loading and the cached service-account token."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import jwt
import pytest

from dispatcher.auth import TokenSource, exposure_advice, load_credentials
from dispatcher.errors import ConfigError
from tests.keys import private_key, private_pem, write_credentials

# Spelled in two parts so no file in the repository looks like it holds a private key.
PEM_HEAD = "-----BEGIN " + "PRIVATE KEY-----"


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def decode(header: str) -> dict[str, object]:
    token = header.removeprefix("Bearer ")
    claims: dict[str, object] = jwt.decode(
        token, private_key().public_key(), algorithms=["RS256"], options={"verify_exp": False}
    )
    return claims


def test_token_has_the_claims_the_api_expects(tmp_path: Path) -> None:
    """RS256 with kid, iss = account id, iat back-dated, exp within 3600 s of iat."""
    clock = Clock()
    source = TokenSource(load_credentials(write_credentials(tmp_path)), 600, clock)
    header = source.header()
    assert header.startswith("Bearer ")
    assert jwt.get_unverified_header(header[7:])["kid"] == "test-key"
    claims = decode(header)
    assert claims["iss"] == "1"
    assert claims["iat"] == int(clock.now) - 5
    assert 0 < int(claims["exp"]) - int(claims["iat"]) <= 3600  # type: ignore[call-overload]


def test_token_is_cached_and_refreshed_ahead_of_expiry(tmp_path: Path) -> None:
    """One signature serves many requests; a new one is signed before the old expires."""
    clock = Clock()
    source = TokenSource(load_credentials(write_credentials(tmp_path)), 100, clock)
    first = source.header()
    for _ in range(1000):
        assert source.header() == first
    assert source.signed == 1
    clock.now += 79
    assert source.header() == first
    clock.now += 2  # 80 % of the lifetime gone: refresh while the old one is still valid
    second = source.header()
    assert second != first
    assert source.signed == 2
    assert int(decode(second)["exp"]) > clock.now  # type: ignore[call-overload]


def test_invalidate_only_drops_the_rejected_token(tmp_path: Path) -> None:
    """A late rejection of an already-replaced token does not force another signature."""
    clock = Clock()
    source = TokenSource(load_credentials(write_credentials(tmp_path)), 600, clock)
    old = source.header()
    source.invalidate(old)
    clock.now += 1
    new = source.header()
    assert new != old
    source.invalidate(old)
    assert source.header() == new
    assert source.signed == 2


def test_lifetime_is_clamped_below_the_api_maximum(tmp_path: Path) -> None:
    """A configured lifetime above 3600 s still yields exp - iat <= 3600."""
    source = TokenSource(load_credentials(write_credentials(tmp_path)), 10_000, Clock())
    claims = decode(source.header())
    assert int(claims["exp"]) - int(claims["iat"]) <= 3600  # type: ignore[call-overload]


def test_repr_never_shows_the_key(tmp_path: Path) -> None:
    """Neither the credentials nor the token source print key material or the token."""
    credentials = load_credentials(write_credentials(tmp_path))
    source = TokenSource(credentials, 600, Clock())
    header = source.header()
    for text in (repr(credentials), repr(source), str(credentials)):
        assert "PRIVATE" not in text
        assert header[7:] not in text


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"private_key": None}, "no 'private_key'"),
        ({"key_id": None}, "no 'key_id'"),
        ({"account_id": None}, "no 'account_id'"),
        ({"account_id": "abc"}, "'account_id' must be a number"),
        (
            {"private_key": f"{PEM_HEAD}\nnot base64\n-----END PRIVATE KEY-----"},
            "not a readable",
        ),
    ],
)
def test_bad_credentials_name_the_problem(
    tmp_path: Path, overrides: dict[str, object], expected: str
) -> None:
    """Each broken credentials file gives one message naming the file and the field."""
    path = write_credentials(tmp_path, **overrides)
    with pytest.raises(ConfigError, match=expected) as caught:
        load_credentials(path)
    assert str(path) in str(caught.value)
    assert "BEGIN" not in str(caught.value)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    """A missing file and a non-JSON file are configuration errors, not tracebacks."""
    with pytest.raises(ConfigError, match="not found"):
        load_credentials(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_credentials(bad)


def test_world_readable_credentials_warn(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A key file readable by others is loaded but warned about, without its content."""
    path = write_credentials(tmp_path)
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        load_credentials(path)
    assert "chmod 600" in caplog.text
    assert private_pem()[40:80] not in caplog.text


def test_private_key_file_loads_without_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A 0600 key file owned by the running user: no warning at all."""
    path = write_credentials(tmp_path)
    with caplog.at_level(logging.DEBUG):
        load_credentials(path)
    assert "credentials_" not in caplog.text


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_group_or_world_readable_own_file_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, mode: int
) -> None:
    """Group- or world-readable, and ours to fix: warned about, with the chmod that fixes it."""
    path = write_credentials(tmp_path)
    path.chmod(mode)
    with caplog.at_level(logging.WARNING):
        load_credentials(path)
    assert f"credentials_exposed path={path} mode={oct(mode)}" in caplog.text
    assert f"run chmod 600 {path}" in caplog.text


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_someone_elses_readable_file_on_a_writable_disk_warns_with_the_right_fix(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Not our file but on a writable disk: still warned, and told to make it ours first."""
    path = write_credentials(tmp_path)
    path.chmod(0o644)
    os.chown(path, 10001, 10001)
    with caplog.at_level(logging.WARNING):
        load_credentials(path)
    assert "credentials_exposed" in caplog.text
    assert f"make the file this user's own (uid 0), then run chmod 600 {path}" in caplog.text


ADVICE = [
    # mode, owner, euid, read-only mount -> the advice starts with (None: no warning)
    (0o100600, 1000, 1000, False, None),
    (0o100400, 1000, 1000, True, None),
    (0o100644, 1000, 1000, False, "run chmod 600 /k.json"),
    (0o100640, 1000, 1000, False, "run chmod 600 /k.json"),
    (0o100604, 1000, 1000, False, "run chmod 600 /k.json"),
    (0o100644, 1000, 1000, True, "it is on a read-only mount: make it 0600 where it comes from"),
    (0o100644, 0, 1000, False, "make the file this user's own (uid 1000)"),
    # A Kubernetes Secret: root-owned, 0440 through fsGroup, read-only mount: nothing to do.
    (0o100440, 0, 10001, True, None),
    (0o100644, 0, 10001, True, None),
    (0o100444, 1000, 10001, True, None),  # docker run -v key.json:...:ro as another user
]


@pytest.mark.parametrize(("mode", "owner", "euid", "read_only", "advice"), ADVICE)
def test_exposure_advice_warns_only_where_it_can_be_acted_on(
    mode: int, owner: int, euid: int, read_only: bool, advice: str | None
) -> None:
    """The rule: warn about readable key files, except another owner's on a read-only mount."""
    got = exposure_advice(Path("/k.json"), mode, owner, euid, read_only_mount=read_only)
    if advice is None:
        assert got is None
    else:
        assert got is not None
        assert got.startswith(advice)
