"""Which service-account roles may call which command (error 104 FORBIDDEN_COMMAND).

From the method references: StartScenarios allows Owner, Admin, Developer and CallsSMS;
GetCallHistory allows Owner, Admin, Developer, Supervisor and Support (not CallsSMS); the
scenario and rule methods allow Owner, Admin and Developer. A key scoped for placing calls
only can therefore start scenarios but not read their history, as on a real account.
"""

from __future__ import annotations

from collections.abc import Iterable

from ._params import ApiFailure

_MANAGERS = frozenset({"Owner", "Admin", "Developer"})
_ALLOWED: dict[str, frozenset[str]] = {
    "StartScenarios": _MANAGERS | {"CallsSMS"},
    "GetCallHistory": _MANAGERS | {"Supervisor", "Support"},
}


def check_role(roles: Iterable[str], cmd: str) -> None:
    """Raise 104 unless one of ``roles`` may call ``cmd``."""
    if _ALLOWED.get(cmd, _MANAGERS).isdisjoint(roles):
        raise ApiFailure(104, "Forbidden command")
