"""Named presets for the statutory calling hours we have a source for.

A preset supplies windows, closed public holidays and a frequency cap. Explicit ``windows``
replace the preset's windows; explicit ``holidays`` add to its holidays; an explicit [frequency]
cap replaces its cap. A preset is a starting point, not legal advice: state rules, consent
exceptions and newer laws are the user's to add.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._frequency import FrequencySettings


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    windows: tuple[str, ...]
    public_holidays: str | None
    frequency: FrequencySettings | None
    source: str


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset(
            name="us-tcpa",
            windows=("daily 08:00-21:00",),
            public_holidays=None,
            frequency=None,
            source=(
                "47 CFR § 64.1200(c)(1): no telephone solicitation before 8 a.m. or after "
                "9 p.m. local time at the called party's location"
            ),
        ),
        Preset(
            name="fr-2023",
            windows=("mon-fri 10:00-13:00,14:00-20:00",),
            public_holidays="FR",
            frequency=FrequencySettings(max_calls=4, per_days=30.0),
            source=(
                "Code de la consommation art. D. 223-9 (décret n° 2022-1313): Monday to Friday, "
                "10:00-13:00 and 14:00-20:00 in the consumer's time zone, not on public holidays, "
                "at most 4 calls per 30 calendar days"
            ),
        ),
    )
}
