"""The deterministic fault script: which request fails, and how.

For each API request the first fault (in list order) whose ``cmd`` and ``match`` fit and
whose ``times`` is not used up fires, and its ``times`` is decremented. At most one fault
fires per request; requests no fault fits are served normally. ``match`` is a substring of
the request's *subject* (``fault_subject``): the script_custom_data of a StartScenarios, and
for every other command its parameters written ``name=value`` joined by ``&`` in arrival
order, not percent-encoded (so a GetCallHistory fault can match a custom-data search value,
an id list or a date). A fault with ``times`` null never runs out: an outage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Literal, cast, get_args

FaultKind = Literal[
    "http_429", "http_5xx", "drop_before", "drop_after", "garbage", "api_error", "delay"
]
FAULT_KINDS: frozenset[str] = frozenset(get_args(FaultKind))

_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "kind": (str,),
    "times": (int, type(None)),
    "match": (str, type(None)),
    "cmd": (str,),
    "retry_after": (int, float, type(None)),
    "status": (int,),
    "code": (int,),
    "msg": (str,),
    "placed": (bool,),
    "delay_s": (int, float),
}


@dataclass(slots=True)
class Fault:
    """One scripted failure. ``times`` None fires forever; ``match`` None fits any request.

    ``placed`` says whether the call is recorded in the ledger before an ``http_5xx`` or
    ``garbage`` answer; ``drop_after`` always places, the other kinds never do.
    """

    kind: FaultKind
    times: int | None = None
    match: str | None = None
    cmd: str = "StartScenarios"
    retry_after: float | None = None
    status: int = 503
    code: int = 0
    msg: str = ""
    placed: bool = False
    delay_s: float = 0.0

    def __post_init__(self) -> None:
        for name, allowed in _FIELD_TYPES.items():
            value = getattr(self, name)
            if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
                raise ValueError(f"fault field {name!r} has the wrong type: {value!r}")
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; use one of {sorted(FAULT_KINDS)}")
        if self.kind == "http_5xx" and not 500 <= self.status <= 599:
            raise ValueError(f"http_5xx needs a status in 500..599, got {self.status}")
        if (self.times is not None and self.times < 0) or self.delay_s < 0:
            raise ValueError("fault 'times' and 'delay_s' must not be negative")

    def fits(self, cmd: str, custom_data: str) -> bool:
        """Whether this fault applies to a request (ignoring ``times``)."""
        return self.cmd == cmd and (self.match is None or self.match in custom_data)

    def to_json(self) -> dict[str, object]:
        """The fault as the control endpoint shows it (``times`` is what is left)."""
        return asdict(self)

    @classmethod
    def from_json(cls, obj: object) -> Fault:
        """A fault from its JSON object; a bad one raises ValueError or TypeError."""
        if not isinstance(obj, dict):
            raise TypeError(f"a fault must be a JSON object, got {obj!r}")
        unknown = set(obj) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown fault fields {sorted(unknown)}")
        if "kind" not in obj:
            raise ValueError("a fault needs a 'kind'")
        return cls(**cast("dict[str, object]", obj))  # type: ignore[arg-type]


def fault_subject(cmd: str, params: Mapping[str, str]) -> str:
    """The text a fault's ``match`` is looked for in (see the module docstring)."""
    if cmd == "StartScenarios":
        return params.get("script_custom_data", "")
    return "&".join(f"{name}={value}" for name, value in params.items() if name != "cmd")


def pick_fault(faults: list[Fault], cmd: str, custom_data: str) -> Fault | None:
    """The fault that fires for this request, with its ``times`` already decremented."""
    for fault in faults:
        if fault.times == 0 or not fault.fits(cmd, custom_data):
            continue
        if fault.times is not None:
            fault.times -= 1
        return fault
    return None
