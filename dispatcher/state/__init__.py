"""The durable record of every row and every attempt: an embedded SQLite database.

Only this package speaks SQL. The rules that make "nobody gets more calls than the policy
allows" hold:

* a row is *claimed* (``dispatching``, committed, with the exact custom data of the attempt)
  before its request leaves the process, and what became of it is written after; writes are
  group-committed by one writer thread, so a claim costs a share of one commit;
* a run that finds attempts still in flight (a crash) marks them ``uncertain``: they count as
  calls until history proves otherwise;
* a claim is refused once an operator's stop or pause is committed;
* rows are identified by key; a key already seen in the current reading of the file is a
  duplicate; lookups go in batches, so memory does not grow with the file.

Writers use ``open_store`` (a run) or the few one-shot functions below (other processes);
readers use ``StateReader``.
"""

from ._attempts import Answer, SessionEnd
from ._claims import Claim, Claimed, ClaimResult, Gate, Refused
from ._contacts import FrequencyGate
from ._listings import (
    ACCESS_URL_COLUMN,
    ATTEMPT_COLUMNS,
    RESULT_COLUMNS,
    AttemptStep,
    RejectGroup,
    RejectRow,
    reason_shape,
)
from ._open_attempts import OpenAttempt
from ._reads import ContactsReader, RowBrief, RunInfo, StateReader
from ._registrar import DueAt, Registrar
from ._runs import Checkpoint, ControlMark, MinuteTotals, RunStart
from ._schema import SENDABLE, AttemptState, Status
from ._store import (
    ContactHistory,
    ScratchRegistration,
    Store,
    abandon_in_flight_now,
    open_store,
    scratch_registration,
    set_control,
)

__all__ = [
    "ACCESS_URL_COLUMN",
    "ATTEMPT_COLUMNS",
    "RESULT_COLUMNS",
    "SENDABLE",
    "Answer",
    "AttemptState",
    "AttemptStep",
    "Checkpoint",
    "Claim",
    "ClaimResult",
    "Claimed",
    "ContactHistory",
    "ContactsReader",
    "ControlMark",
    "DueAt",
    "FrequencyGate",
    "Gate",
    "MinuteTotals",
    "OpenAttempt",
    "Refused",
    "Registrar",
    "RejectGroup",
    "RejectRow",
    "RowBrief",
    "RunInfo",
    "RunStart",
    "ScratchRegistration",
    "SessionEnd",
    "StateReader",
    "Status",
    "Store",
    "abandon_in_flight_now",
    "open_store",
    "reason_shape",
    "scratch_registration",
    "set_control",
]
