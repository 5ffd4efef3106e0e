"""The starter kit for ``vox-dispatch init`` and the reference VoxEngine campaign scenario.

The scenario is packaged here (``scenario.js``) with the campaign template and sample rows;
``set_default_caller_id`` rewrites its caller-id marker line from ``[target] caller_id``.
"""

from ._caller_id import CALLER_ID_MARKER, MARKER_LINE, set_default_caller_id
from ._write import SCENARIO_PATH, STARTER_FILES, scenario_text, starter_message, write_starter

__all__ = [
    "CALLER_ID_MARKER",
    "MARKER_LINE",
    "SCENARIO_PATH",
    "STARTER_FILES",
    "scenario_text",
    "set_default_caller_id",
    "starter_message",
    "write_starter",
]
