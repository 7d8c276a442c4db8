"""Saving the risk state, and what the strategy does while it cannot be saved.

``StateSaver.save`` writes the state when its version moved and tells the caller whether
saving just failed, keeps failing, or works again. While it fails the strategy is reduce-only
(no new entries; exits, cancels and the kill switch still work) and alerts; the in-memory
state keeps everything booked and is written as soon as a save succeeds. No Nautilus imports.
"""

from __future__ import annotations

from enum import Enum

from quant_scalper.risk.model import RiskState
from quant_scalper.risk.state_store import RiskStateError, RiskStateStore


class SaveOutcome(Enum):
    """The result of one ``StateSaver.save`` call."""

    UNCHANGED = "unchanged"  # nothing new to write (or no store)
    SAVED = "saved"
    FAILED = "failed"  # the first failure after a success: alert, go reduce-only
    STILL_FAILING = "still_failing"
    RECOVERED = "recovered"  # saved after failures: alert, entries allowed again


class StateSaver:
    """Writes a ``RiskState`` to a ``RiskStateStore`` when it changed; tracks failures."""

    def __init__(self, store: RiskStateStore | None) -> None:
        self.store = store
        self._saved_version = -1
        self.error: str | None = None

    @property
    def failing(self) -> bool:
        """True while the last save attempt failed: no new entries."""
        return self.error is not None

    def pending(self, version: int) -> bool:
        """True when a state of ``version`` is not on disk yet (or a save is being retried)."""
        return self.store is not None and (version != self._saved_version or self.failing)

    def save(self, state: RiskState) -> SaveOutcome:
        """Write ``state`` if its version is not on disk yet (retrying after a failure)."""
        if not self.pending(state.version):
            return SaveOutcome.UNCHANGED
        was_failing = self.failing
        try:
            self.store.save(state)
        except (OSError, RiskStateError) as exc:
            self.error = f"could not write the risk state file {self.store.path}: {exc}"
            return SaveOutcome.STILL_FAILING if was_failing else SaveOutcome.FAILED
        self._saved_version = state.version
        self.error = None
        return SaveOutcome.RECOVERED if was_failing else SaveOutcome.SAVED
