"""The dashboard's exceptions: each message names the journal or setting and what to do."""

from __future__ import annotations

from quant_scalper.errors import QuantScalperError


class DashboardError(QuantScalperError):
    """The dashboard cannot start or serve as configured."""


class DashboardSecurityError(DashboardError):
    """A bind address or control setting would expose the dashboard unsafely."""


class JournalReadError(DashboardError):
    """The journal cannot be read (missing, locked, corrupt, not a journal, newer schema)."""


class JournalMissingError(JournalReadError):
    """No journal file at the given path."""


class JournalNotAJournalError(JournalReadError):
    """The file or database is not a quant-scalper journal (corrupt, or another database)."""


class JournalNewerSchemaError(JournalReadError):
    """The journal was written by a newer quant-scalper: refused, never touched."""


class JournalUnavailableError(JournalReadError):
    """The journal exists but cannot be read right now (locked file, database down)."""
