"""The journal's exceptions: each message names the journal (masked) and what to do."""

from __future__ import annotations

from quant_scalper.errors import QuantScalperError


class JournalError(QuantScalperError):
    """The trade journal cannot be used as configured."""


class JournalConfigError(JournalError):
    """A journal URL or setting is invalid (bad scheme, a password inside the URL, ...)."""


class JournalUnavailableError(JournalError):
    """The journal's database cannot be reached right now (server down, file locked)."""


class JournalNewerSchemaError(JournalError):
    """The journal was written by a newer quant-scalper: refused, never downgraded."""


class JournalCorruptError(JournalError):
    """The file is not a readable quant-scalper journal (corrupt, or another database)."""
