"""The campaign's scenario file exactly as it is uploaded: read, caller id applied, checked.

Owns turning ``[target] scenario_file`` (+ ``caller_id``) into the text AddScenario or
SetScenarioInfo receives, and that text's content hash. The hash is taken of the text *as
uploaded*, after the caller-id line was rewritten, so changing only ``caller_id`` in the
campaign file counts as a change, and an unchanged pair of file and setting never does.
Every problem is a ``ConfigError`` naming the file, raised when the campaign is loaded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from dispatcher.errors import ConfigError
from dispatcher.starter import set_default_caller_id

SCRIPT_LIMIT_BYTES = 128 * 1024
"""AddScenario / SetScenarioInfo: the script "must be less than 128 KB" (of UTF-8)."""
NAME_LIMIT = 30
"""AddScenario: the scenario name "must be less than 30" characters (error 499)."""


@dataclass(frozen=True, slots=True)
class ScenarioScript:
    """One scenario file's text as uploaded, and where it came from."""

    path: Path
    text: str

    @property
    def size(self) -> int:
        """Bytes of UTF-8, the unit of the API's size limit."""
        return len(self.text.encode("utf-8"))

    @property
    def sha256(self) -> str:
        return content_hash(self.text)


def content_hash(text: str) -> str:
    """The hex SHA-256 of a script's UTF-8 bytes: what "changed" means for an upload."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_scenario_script(path: Path, caller_id: str | None = None) -> ScenarioScript:
    """The script to upload from ``path``, with ``caller_id`` written into its marker line."""
    text = _decoded(path, _read_bytes(path))
    if not text.strip():
        raise ConfigError(
            f"{path}: the scenario file is empty; point target.scenario_file at the VoxEngine "
            "scenario to upload (`vox-dispatch init DIR` writes a reference one)"
        )
    if caller_id is not None:
        text = set_default_caller_id(text, caller_id, source=str(path))
    script = ScenarioScript(path, text)
    if script.size >= SCRIPT_LIMIT_BYTES:
        raise ConfigError(
            f"{path}: the scenario is {script.size} bytes as uploaded; Voximplant accepts "
            f"scenarios under {SCRIPT_LIMIT_BYTES} bytes (128 KB): make it smaller, e.g. move "
            "long texts or data out of the script"
        )
    return script


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: scenario file not found (target.scenario_file; relative paths resolve "
            "against the campaign file's folder)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the scenario file: {exc.strerror}") from None


def _decoded(path: Path, data: bytes) -> str:
    # An editor's byte-order mark is invisible and means nothing to VoxEngine; dropping it keeps
    # the uploaded text, and so its hash, the same whichever editor saved the file last.
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: the scenario is not UTF-8 text (byte {exc.start}); save it as UTF-8: "
            "the API takes scenario scripts in UTF-8"
        ) from None
