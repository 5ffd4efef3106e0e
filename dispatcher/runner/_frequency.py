"""The frequency cap of a run: which contact history it counts in, and the claim-time gate."""

from __future__ import annotations

from dispatcher.config import Campaign
from dispatcher.state import ContactHistory, FrequencyGate

DAY_S = 86_400.0
CONTACTS_FILE = "contacts.sqlite3"


def contact_history(campaign: Campaign) -> ContactHistory | None:
    """The shared history file (the campaign's own by default) and this campaign's name in it."""
    frequency = campaign.frequency
    if frequency is None:
        return None
    path = frequency.contact_history or campaign.output_dir / CONTACTS_FILE
    # The state's path tells campaigns sharing a history apart, even with equal names.
    return ContactHistory(path, f"{campaign.name}@{campaign.state_path}")


def frequency_gate(campaign: Campaign) -> FrequencyGate | None:
    frequency, history = campaign.frequency, contact_history(campaign)
    if frequency is None or history is None:
        return None
    days = [frequency.per_days or 0.0, *(days for _, days in frequency.after_outcome)]
    return FrequencyGate(history.campaign, frequency.policy().next_allowed, max(days) * DAY_S)
