"""The bundled Voximplant Management API simulator (``vox-dispatch run --sandbox``, tests).

It speaks the real wire format (form or multipart bodies, ``cmd`` in the path or a field,
RS256 bearer JWTs, errors as HTTP 200 ``{"error": {...}}``), keeps a ledger of placed calls
and the peak number of requests in flight, and fails on a deterministic script.
"""

from ._account import Account, Application, Rule, Scenario
from ._credentials import make_credentials, make_tls_certificate
from ._faults import FAULT_KINDS, Fault, FaultKind
from ._ledger import LedgerEntry, Stats
from ._server import Sandbox, serve, start_sandbox

__all__ = [
    "FAULT_KINDS",
    "Account",
    "Application",
    "Fault",
    "FaultKind",
    "LedgerEntry",
    "Rule",
    "Sandbox",
    "Scenario",
    "Stats",
    "make_credentials",
    "make_tls_certificate",
    "serve",
    "start_sandbox",
]
