"""The starter kit of ``vox-dispatch init DIR``: the packaged templates and writing them out.

The kit is a campaign file, ten fictional rows and the reference VoxEngine scenario; it runs as
is against the bundled simulator (``--sandbox``), and needs three settings for a real account.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from dispatcher.errors import ConfigError

STARTER_FILES = ("campaign.toml", "targets.csv", "scenario.js")
"""What ``write_starter`` writes, in this order; each is a template shipped in this package."""

SCENARIO_PATH = Path(__file__).with_name("scenario.js")
"""The reference scenario on disk (``campaigns/scenario.js`` links to it in the repository)."""


def scenario_text() -> str:
    """The reference VoxEngine scenario, as packaged."""
    return _template("scenario.js").decode("utf-8")


def write_starter(directory: Path) -> list[Path]:
    """Write the starter kit into ``directory`` (created if needed); never overwrite a file.

    Returns the files written. Raises ``ConfigError`` naming the files that already exist, or
    the directory if it cannot be created.
    """
    targets = [directory / name for name in STARTER_FILES]
    existing = [str(path) for path in targets if os.path.lexists(path)]
    if existing:
        raise ConfigError(
            f"{', '.join(existing)} already exist{'s' if len(existing) == 1 else ''}; "
            "init never overwrites files: choose a new or empty directory"
        )
    _make_directory(directory)
    for path in targets:
        try:
            with path.open("xb") as handle:
                handle.write(_template(path.name))
        except FileExistsError:
            raise ConfigError(f"{path} appeared while init was writing; not overwritten") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot write the starter file: {exc.strerror}") from None
    return targets


def starter_message(directory: Path | None = None) -> str:
    """What to do after ``init``: the sandbox run, then the three settings for a real account."""
    folder = "DIR" if directory is None else str(directory)
    campaign = Path(folder, "campaign.toml")
    return "\n".join(
        [
            f"Wrote a starter campaign into {folder}:",
            "  campaign.toml  the campaign settings",
            "  targets.csv    ten fictional people to call (+1 202 555 01xx)",
            "  scenario.js    the VoxEngine scenario each call runs",
            "",
            "Try it now against the bundled simulator (no account, no real calls):",
            f"  vox-dispatch run {campaign} --sandbox",
            "",
            f"For a real account, set three things in {campaign}:",
            "  1) [api] credentials          your service account key file",
            "                                (or set VOXIMPLANT_CREDENTIALS instead)",
            "  2) [target] application_name  an application of your account",
            "  3) [target] caller_id         a number you rent or verified, in E.164",
            "Then put your rows into targets.csv, adapt the parts of scenario.js marked ADAPT,",
            "and run the same command without --sandbox.",
        ]
    )


def _template(name: str) -> bytes:
    return resources.files(__package__).joinpath(name).read_bytes()


def _make_directory(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(f"{directory} exists and is not a directory: choose another") from None
    except OSError as exc:
        raise ConfigError(f"{directory}: cannot create the directory: {exc.strerror}") from None
