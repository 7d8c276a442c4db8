"""Type stub for the compiled Rust extension ``quant_scalper._core`` (built from rust_ext/).

Definition: once ``window`` values have been seen, ``z = (x_t - mean) / std`` over the last
``window`` values including ``x_t``, with ``std`` the sample standard deviation (ddof=1, as pandas
``rolling(window).std()``). A flat window (zero variance) gives ``z = 0.0``. Before the window is
full there is no z-score and ``mean``/``std``/``value`` are ``None``.
"""

from typing import final

import numpy as np
import numpy.typing as npt

@final
class RollingZScore:
    """Streaming rolling z-score, O(1) amortised per update and numerically stable.

    NaN or infinite input raises ``ValueError`` and leaves the state unchanged.
    """

    def __init__(self, window: int) -> None:
        """Create an empty z-score over ``window`` values; ``window < 2`` raises ValueError."""

    def update(self, x: float) -> float | None:
        """Add ``x``; return its z-score within the last ``window`` values, None in warm-up."""

    def reset(self) -> None:
        """Forget every value, back to the freshly constructed state."""

    @property
    def value(self) -> float | None:
        """The last z-score returned by ``update`` (None during warm-up)."""

    @property
    def mean(self) -> float | None:
        """Mean of the current window (None during warm-up)."""

    @property
    def std(self) -> float | None:
        """Sample standard deviation, ddof=1, of the current window (None during warm-up)."""

    @property
    def count(self) -> int:
        """How many values are in the window (at most ``window``)."""

    @property
    def window(self) -> int:
        """The window length."""

    @property
    def initialized(self) -> bool:
        """True once ``window`` values have been seen (``update`` returns z-scores)."""

def zscore(values: npt.ArrayLike, window: int) -> npt.NDArray[np.float64]:
    """Rolling z-score of a 1-D series as float64: NaN during warm-up, then bitwise the numbers
    ``RollingZScore.update`` gives. NaN/inf input raises ValueError naming its index; ``window
    < 2`` raises ValueError; input that is not 1-D raises TypeError."""

@final
class Market:
    """The pre-screen's market data, built once from named arrays (copied and checked in
    Rust: bad lengths, offsets or unsorted times raise ValueError) and shared by every
    ``prescreen``/``prescreen_trades`` call. See ``PrescreenMarket.core``."""

    def __init__(
        self,
        *,
        bar_ts: npt.NDArray[np.int64],
        close: npt.NDArray[np.float64],
        day_open_ns: npt.NDArray[np.int64],
        max_gap_ns: int,
        quote_ts: npt.NDArray[np.int64],
        bid: npt.NDArray[np.float64],
        ask: npt.NDArray[np.float64],
        bar_offsets: npt.NDArray[np.int64],
        quote_offsets: npt.NDArray[np.int64],
        roll_ns: npt.NDArray[np.int64],
        end_ns: int,
        day_starts: npt.NDArray[np.int64],
        entry_allowed: npt.NDArray[np.uint8],
        flatten_ns: npt.NDArray[np.int64],
    ) -> None: ...
    @property
    def n_bars(self) -> int:
        """Bars in the market."""
    @property
    def n_quotes(self) -> int:
        """Quotes in the market."""

def prescreen(
    market: Market,
    *,
    window: npt.NDArray[np.int64],
    entry_z: npt.NDArray[np.float64],
    exit_z: npt.NDArray[np.float64],
    stop: npt.NDArray[np.float64],
    target: npt.NDArray[np.float64],
    max_holding_ns: npt.NDArray[np.int64],
    daily_loss_limit: npt.NDArray[np.float64],
    max_losses: npt.NDArray[np.int64],
    pause_ns: npt.NDArray[np.int64],
    multiplier: float,
    fee_per_side: float,
    quantity: float,
    starting_balance: float,
    intrabar: str = "stop_first",
    threads: int = 0,
) -> dict[str, npt.NDArray[np.float64] | npt.NDArray[np.int64]]:
    """Simulate the strategy's rules and circuit breakers for every point (one array element
    each; max_holding_ns <= 0 and daily_loss_limit inf switch those off), sharing the z-scores
    of equal windows, on ``threads`` threads (0: all cores) without the GIL. Returns
    per-point arrays: trades, winners, net_pnl, gross_profit, gross_loss, fees,
    max_drawdown_usd, max_drawdown_pct, stops, ambiguous_bars, open_at_end, and daily_pnl, a
    (points x statistics days) array of P&L per day booked on the last ``day_open_ns`` at or
    before each exit (the Sharpe ratio is computed from it in Python). A gap between bars
    longer than ``max_gap_ns`` (0: off) restarts the z-score's warm-up. Bad input raises
    ValueError. See ``quant_scalper.research.prescreen``."""

def prescreen_trades(
    market: Market,
    *,
    window: int,
    entry_z: float,
    exit_z: float,
    stop: float,
    target: float,
    max_holding_ns: int,
    daily_loss_limit: float,
    max_losses: int,
    pause_ns: int,
    multiplier: float,
    fee_per_side: float,
    quantity: float,
    starting_balance: float,
    intrabar: str = "stop_first",
) -> dict[str, object]:
    """Every closed trade of one point: arrays side, entry_ts, entry_price, exit_ts,
    exit_price, pnl, a list reason (signal|stop|target|max_holding|roll|daily_limit|
    session), the counts
    ambiguous_bars and open_at_end, and daily_pnl (P&L per statistics day)."""

def signal_decision(entry_z: float, exit_z: float, z: float | None, side: str) -> str:
    """The signal decision of ``SignalRules.decide``: side FLAT|LONG|SHORT; returns
    HOLD|ENTER_LONG|ENTER_SHORT|EXIT. ValueError on bad thresholds or side."""

_Trip = tuple[int, str, str]
"""A recorded trip: (at, UTC ns; rule name; reason)."""

class RiskCore:
    """The circuit-breaker state machine (rust_ext/src/risk.rs): money in integer cents, time
    in UTC ns, trading days as ``date.toordinal()``. Use ``quant_scalper.risk.core.RiskCore``.
    Event methods return the trips they recorded."""

    def __init__(
        self,
        *,
        daily_loss_limit_cents: int,
        max_consecutive_losses: int,
        pause_minutes: int,
        max_holding_minutes: int | None,
        entry_guard_minutes: int,
        flatten_before_halt: bool,
    ) -> None: ...
    def set_schedule(
        self,
        *,
        day_start: list[int],
        day: list[int],
        open: list[int],
        close: list[int],
        break_start: list[int],
        break_end: list[int],
        tz_change: list[int],
        tz_offset_s: list[int],
        tz_name: list[str],
        always_open: bool,
    ) -> None:
        """Replace the session schedule data (see ``quant_scalper.risk.core.schedule_data``)."""
    def coverage(self) -> tuple[int, int] | None:
        """The covered range [start, end) in UTC ns, or None before ``set_schedule``."""
    def trading_day(self, ts: int) -> int:
        """The trading day (ordinal) of ``ts``."""
    def is_market_open(self, ts: int) -> bool:
        """The market trades at ``ts``."""
    def in_entry_guard(self, ts: int, guard_minutes: int) -> bool:
        """No entry may start at ``ts``."""
    def in_halt_window(self, ts: int, minutes: int) -> bool:
        """Closed, or within ``minutes`` before the next session close."""
    def next_halt(self, ts: int) -> int:
        """The first session close after ``ts`` (UTC ns)."""
    def is_paused(self, now: int) -> bool:
        """A pause is in force."""
    def roll_trading_day(self, now: int) -> list[_Trip]:
        """Roll the trading day if ``now`` is in a later one."""
    def entry_decision(self, now: int) -> tuple[bool, str, str | None, list[_Trip]]:
        """(allowed, reason, blocking rule, trips) for a new entry at ``now``."""
    def exit_reason(self, now: int, opened_at: int | None) -> tuple[str | None, list[_Trip]]:
        """(why the position must close now or None, trips)."""
    def record_mark(self, now: int, open_pnl: int) -> list[_Trip]:
        """Mark the open P&L (cents)."""
    def record_closed_trade(self, now: int, pnl_net: int, open_pnl: int = 0) -> list[_Trip]:
        """Book a closed trade's net P&L (cents)."""
    def book_closed_trade(
        self, now: int, key: str, closed_at: int, pnl_net: int, open_pnl: int = 0
    ) -> tuple[bool, list[_Trip]]:
        """(booked, trips): book a closed trade once by ``key``."""
    def kill(self, now: int, reason: str) -> list[_Trip]:
        """Kill switch on."""
    def resume(self, now: int, reason: str) -> list[_Trip]:
        """Kill switch off."""
    def pause(self, now: int, minutes: int, reason: str) -> list[_Trip]:
        """Pause entries for ``minutes``."""
    def unpause(self, now: int, reason: str) -> list[_Trip]:
        """End a pause early."""
    @property
    def version(self) -> int:
        """The durable-change counter."""
    def state(self) -> dict[str, object]:
        """The state with ``RiskState``'s field names (cents, ns, ordinals)."""
    def set_state(self, state: dict[str, object]) -> None:
        """Replace the state (a dict as returned by ``state``)."""
