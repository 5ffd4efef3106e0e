"""The caller-id marker line of a campaign scenario, rewritten at upload from the campaign.

A scenario declares its default caller id on one line of exactly this shape::

    const DEFAULT_CALLER_ID = "";  // vox-dispatch: caller_id

so the campaign file (``[target] caller_id``), not the scenario source, decides which number
the callees see.
"""

from __future__ import annotations

import json
import re

from dispatcher.errors import ConfigError

CALLER_ID_MARKER = "// vox-dispatch: caller_id"
MARKER_LINE = 'const DEFAULT_CALLER_ID = "";  ' + CALLER_ID_MARKER

_MARKER_LINE = re.compile(
    r'(?P<indent>[ \t]*)const DEFAULT_CALLER_ID = "(?:[^"\\]|\\.)*";[ \t]*'
    + re.escape(CALLER_ID_MARKER)
    + r"[ \t]*"
)
# VoxEngine takes a caller id without spaces; the scenario checks the same shape before calling.
_CALLER_ID = re.compile(r"\+?[1-9][0-9]{6,14}")


def set_default_caller_id(script: str, caller_id: str, *, source: str = "scenario.js") -> str:
    """``script`` with its marker line set to ``caller_id``; ``ConfigError`` if that cannot be."""
    if not _CALLER_ID.fullmatch(caller_id):
        raise ConfigError(
            f"[target] caller_id = {caller_id!r} is not a phone number: write it in E.164 without "
            "spaces, e.g. +12025550100, and use a number you rent or verified in Voximplant"
        )
    lines = script.splitlines(keepends=True)
    index = _marker_index(lines, source)
    body = lines[index].rstrip("\r\n")
    match = _MARKER_LINE.fullmatch(body)
    assert match is not None  # _marker_index only returns a line that matches
    rewritten = f"{match['indent']}const DEFAULT_CALLER_ID = {json.dumps(caller_id)};  "
    lines[index] = rewritten + CALLER_ID_MARKER + lines[index][len(body) :]
    return "".join(lines)


def _marker_index(lines: list[str], source: str) -> int:
    marked = [number for number, line in enumerate(lines) if CALLER_ID_MARKER in line]
    if not marked:
        raise ConfigError(
            f"{source}: no caller-id marker line, so [target] caller_id cannot be applied. "
            f"Add this line near the top of the scenario and use DEFAULT_CALLER_ID when calling: "
            f"{MARKER_LINE}"
        )
    if len(marked) > 1:
        where = ", ".join(str(number + 1) for number in marked)
        raise ConfigError(f"{source}: lines {where} all carry {CALLER_ID_MARKER!r}; keep one")
    index = marked[0]
    if not _MARKER_LINE.fullmatch(lines[index].rstrip("\r\n")):
        raise ConfigError(
            f"{source}, line {index + 1}: the caller-id marker line must read exactly: "
            f"{MARKER_LINE}  (any quoted value between the quotes)"
        )
    return index
