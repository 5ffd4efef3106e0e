"""The bundled Voximplant Management API simulator (``vox-dispatch run --sandbox``, tests).

It speaks the real wire format (form or multipart bodies, ``cmd`` in the path or a field,
RS256 bearer JWTs, errors as HTTP 200 ``{"error": {...}}``), keeps a ledger of placed calls
and the peak number of requests in flight, and fails on a deterministic script. Each placed
call opens a simulated media session whose outcome and durations a ``CallModel`` decides;
finished sessions are listed by GetCallHistory, and the session's access URL hangs it up.
"""

from ._account import Account, Application, Rule, Scenario
from ._callmodel import DEFAULT_TIMEZONE, OUTCOMES, CallModel, Outcome, OutcomeRule
from ._credentials import make_credentials, make_tls_certificate
from ._faults import FAULT_KINDS, Fault, FaultKind
from ._ledger import LedgerEntry, Stats
from ._server import Sandbox, serve, start_sandbox

__all__ = [
    "DEFAULT_TIMEZONE",
    "FAULT_KINDS",
    "OUTCOMES",
    "Account",
    "Application",
    "CallModel",
    "Fault",
    "FaultKind",
    "LedgerEntry",
    "Outcome",
    "OutcomeRule",
    "Rule",
    "Sandbox",
    "Scenario",
    "Stats",
    "make_credentials",
    "make_tls_certificate",
    "serve",
    "start_sandbox",
]
