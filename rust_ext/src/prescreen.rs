//! Batch pre-screen: the strategy's rules simulated for thousands of parameter points at once.
//!
//! The same rules as `quant_scalper.strategy` + `quant_scalper.signals`, on the same data the
//! Nautilus backtest uses (1-minute trade bars for the signal, bid/ask quote ticks for fills):
//!
//! - On each bar close, the z-score of the close (window `w`, see [`crate::rolling`]) decides:
//!   flat and `z >= entry_z` sells, `z <= -entry_z` buys; in a position `|z| <= exit_z`, or the
//!   opposite extreme, exits. A new entry needs a flat book (no reversal on one bar).
//! - Market orders fill at the latest quote (buy at the ask, sell at the bid): quotes reach the
//!   venue before the bar at equal timestamps, so that is the bar's close quote.
//! - The entry carries a stop `stop` points and a target `target` points from the reference
//!   price (the side's quote when it is at most one minute old, else the bar close). A long's
//!   stop triggers on a bid at or below it and fills at that bid (a stop-market: gaps slip);
//!   its target fills at the target price on a bid at or above it; mirrored for a short. Quotes
//!   are checked one by one in time order, from the quote after the entry's.
//! - [`Intrabar::StopFirst`] instead looks at all the quotes of one bar together: if the stop
//!   triggers anywhere in the bar, the stop wins even when the target was touched first (the
//!   conservative rule for bar data); [`Intrabar::Ticks`] follows the quote order exactly, as
//!   the Nautilus matching engine does.
//! - Max holding time: at `entry time + max_holding`, after any data stamped at that instant,
//!   the position closes at market at the latest quote (Nautilus fires a time alert then).
//! - Fees: `fee_per_side` per contract per fill; P&L is net of fees.
//! - Each segment (one contract) starts flat with a fresh z-score. The contract roll: on the
//!   segment's bars at or after its `roll_ns` (the backtest's `trade_until`, the last bar of
//!   every contract but the run's last) a position closes at market at that minute's quote and
//!   no entry follows. A position still open at the end of the last segment closes at its last
//!   quote when its holding alert comes before the engine's clock stops, as in Nautilus;
//!   otherwise it stays open and is no closed trade (counted in `open_at_end`).
//!
//! - The circuit breakers, one state across contracts as for one trader: the daily loss limit
//!   (realized P&L of the trading day + the open P&L marked at each bar close, long at the bid
//!   and short at the ask, before the signal; a trip closes the position at market on that bar
//!   and blocks entries until the next trading day), the losing-streak pause (`max_losses`
//!   losing trades in a row block entries for `pause_ns`), the session guard (entries only on
//!   bars with `entry_allowed`), and flatten-before-halt (an exit at each `flatten_ns` alert,
//!   like max holding). The trading day rolls at each of `day_starts`; it resets the day's P&L,
//!   the streak and the limit, not a pause.
//!
//! Not modelled: the kill switch and operator commands, order refusals, and a stop inside the
//! spread at entry. Points are grouped by window so each segment's z-scores are computed once
//! per window and shared.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::fmt;
use std::thread;

use crate::risk::{Action, Breakers, Limits, RiskState, Sessions, Side, SignalRules};
use crate::rolling::{self, ZScoreError};

/// How a bar whose quotes reach both the stop and the target is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intrabar {
    /// The stop wins whenever it triggers within the bar (conservative, bar-data rule).
    StopFirst,
    /// Quotes in time order, as the Nautilus engine replays them.
    Ticks,
}

/// Why a pre-screen call was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum PrescreenError {
    /// Arrays that must have the same length do not.
    LengthMismatch {
        /// Which arrays.
        what: &'static str,
    },
    /// A point's parameters are out of range.
    BadPoint {
        /// Index of the point.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// Segment offsets are not increasing or do not cover the arrays.
    BadSegments,
    /// Bar or quote timestamps go backwards inside a segment.
    Unsorted {
        /// Which array.
        what: &'static str,
    },
    /// The z-score refused the closes.
    ZScore(ZScoreError),
}

impl fmt::Display for PrescreenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LengthMismatch { what } => write!(f, "array lengths differ: {what}"),
            Self::BadPoint { index, reason } => write!(f, "point {index}: {reason}"),
            Self::BadSegments => write!(
                f,
                "segment offsets must start at 0, increase, and end at the array lengths"
            ),
            Self::Unsorted { what } => write!(f, "{what} timestamps must not go backwards"),
            Self::ZScore(err) => write!(f, "z-score: {err}"),
        }
    }
}

impl std::error::Error for PrescreenError {}

impl From<ZScoreError> for PrescreenError {
    fn from(err: ZScoreError) -> Self {
        Self::ZScore(err)
    }
}

/// Market data: bars and quotes of one or more contracts, concatenated, with segment offsets.
#[derive(Debug, Clone, Copy)]
pub struct Market<'a> {
    /// Bar close timestamps (UTC ns), ascending within a segment.
    pub bar_ts: &'a [i64],
    /// Bar closes.
    pub close: &'a [f64],
    /// Where each statistics day starts (UTC ns, ascending; see
    /// `quant_scalper.analysis.stats.TradingCalendar`): a trade's P&L is booked on the last
    /// day starting at or before its exit (the first day when none does). One slot of the
    /// daily P&L each; days without a trade stay at zero.
    pub day_open_ns: &'a [i64],
    /// A gap between consecutive bars longer than this restarts the z-score's warm-up
    /// (UTC ns; 0: off), as the strategy's `max_bar_gap_minutes`.
    pub max_gap_ns: i64,
    /// Quote timestamps (UTC ns), ascending within a segment.
    pub quote_ts: &'a [i64],
    /// Best bids.
    pub bid: &'a [f64],
    /// Best asks.
    pub ask: &'a [f64],
    /// Bar offsets of the segments: `[0, .., bar_ts.len()]`.
    pub bar_offsets: &'a [usize],
    /// Quote offsets of the segments: `[0, .., quote_ts.len()]`.
    pub quote_offsets: &'a [usize],
    /// Per segment, from which bar time on the strategy stops trading its contract: flatten at
    /// market on that bar, no entries (UTC ns; `i64::MAX`: never, the run's last contract).
    pub roll_ns: &'a [i64],
    /// Where the engine's clock stops (UTC ns): the test's end, or its last data.
    pub end_ns: i64,
    /// When each of the circuit breakers' trading days starts (UTC ns, ascending): the day of a
    /// time is how many of these it has passed (the day rolls at the session open).
    pub day_starts: &'a [i64],
    /// Per bar, 1 when the session guard allows an entry at its close (empty: always).
    pub entry_allowed: &'a [u8],
    /// Flatten-before-halt alert times (UTC ns), ascending (empty: off).
    pub flatten_ns: &'a [i64],
}

/// One parameter point (prices in points, times in nanoseconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Z-score window in bars (>= 2).
    pub window: usize,
    /// Entry threshold (> exit_z).
    pub entry_z: f64,
    /// Exit threshold (>= 0).
    pub exit_z: f64,
    /// Stop distance in points (> 0).
    pub stop: f64,
    /// Target distance in points (> 0).
    pub target: f64,
    /// Close after this long (None: never).
    pub max_holding_ns: Option<i64>,
    /// Daily loss limit in USD, realized + open (`f64::INFINITY`: off).
    pub daily_loss_limit: f64,
    /// Losing trades in a row that pause entries (0: off).
    pub max_losses: u32,
    /// How long such a pause lasts.
    pub pause_ns: i64,
}

/// Contract size, fees and the account.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Costs {
    /// USD per point per contract (MES: 5).
    pub multiplier: f64,
    /// USD per contract per fill.
    pub fee_per_side: f64,
    /// Contracts per entry.
    pub quantity: f64,
    /// Starting equity (USD) for returns and drawdown in percent.
    pub starting_balance: f64,
}

/// Why a trade ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitReason {
    /// `|z| <= exit_z` or the opposite extreme.
    Signal,
    /// The stop triggered.
    Stop,
    /// The target filled.
    Target,
    /// Max holding time.
    MaxHolding,
    /// The contract roll: flattened at the contract's last bar in the run.
    Roll,
    /// The daily loss limit tripped on a bar's open-P&L mark.
    DailyLimit,
    /// Flatten before the daily halt.
    Session,
}

/// One round trip.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trade {
    /// +1 long, -1 short.
    pub side: i8,
    /// Entry fill time (UTC ns).
    pub entry_ts: i64,
    /// Entry fill price.
    pub entry_price: f64,
    /// Exit fill time (UTC ns).
    pub exit_ts: i64,
    /// Exit fill price.
    pub exit_price: f64,
    /// P&L net of both fees (USD).
    pub pnl: f64,
    /// Why it closed.
    pub reason: ExitReason,
}

/// The statistics of one point.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Summary {
    /// Closed trades.
    pub trades: u32,
    /// Trades with P&L > 0.
    pub winners: u32,
    /// Net P&L (USD).
    pub net_pnl: f64,
    /// Sum of winning P&L.
    pub gross_profit: f64,
    /// Sum of losing P&L (as a positive number).
    pub gross_loss: f64,
    /// Fees paid on closed trades.
    pub fees: f64,
    /// Largest peak-to-trough fall of realized equity (USD).
    pub max_drawdown: f64,
    /// The same over the peak equity.
    pub max_drawdown_pct: f64,
    /// Trades closed by the stop.
    pub stops: u32,
    /// Bars where the stop and the target both triggered (resolved by [`Intrabar`]).
    pub ambiguous_bars: u32,
    /// Segments that ended with a position open.
    pub open_at_end: u32,
}

const ONE_MINUTE_NS: i64 = 60_000_000_000;

/// Check array lengths, offsets and ordering.
pub fn validate(market: &Market<'_>) -> Result<(), PrescreenError> {
    let n = market.bar_ts.len();
    if market.close.len() != n
        || !(market.entry_allowed.is_empty() || market.entry_allowed.len() == n)
    {
        return Err(PrescreenError::LengthMismatch {
            what: "bar_ts, close, entry_allowed",
        });
    }
    if market.day_open_ns.windows(2).any(|w| w[0] > w[1]) {
        return Err(PrescreenError::Unsorted { what: "day open" });
    }
    if market.flatten_ns.windows(2).any(|w| w[0] > w[1]) {
        return Err(PrescreenError::Unsorted { what: "flatten" });
    }
    if market.day_starts.windows(2).any(|w| w[0] > w[1]) {
        return Err(PrescreenError::Unsorted { what: "day start" });
    }
    let q = market.quote_ts.len();
    if market.bid.len() != q || market.ask.len() != q {
        return Err(PrescreenError::LengthMismatch {
            what: "quote_ts, bid, ask",
        });
    }
    let good = |offsets: &[usize], len: usize| {
        offsets.first() == Some(&0)
            && offsets.last() == Some(&len)
            && offsets.windows(2).all(|w| w[0] <= w[1])
    };
    if market.bar_offsets.len() != market.quote_offsets.len()
        || market.roll_ns.len() + 1 != market.bar_offsets.len()
        || !good(market.bar_offsets, n)
        || !good(market.quote_offsets, q)
    {
        return Err(PrescreenError::BadSegments);
    }
    for s in 0..market.bar_offsets.len() - 1 {
        let bars = &market.bar_ts[market.bar_offsets[s]..market.bar_offsets[s + 1]];
        if bars.windows(2).any(|w| w[0] > w[1]) {
            return Err(PrescreenError::Unsorted { what: "bar" });
        }
        let quotes = &market.quote_ts[market.quote_offsets[s]..market.quote_offsets[s + 1]];
        if quotes.windows(2).any(|w| w[0] > w[1]) {
            return Err(PrescreenError::Unsorted { what: "quote" });
        }
    }
    if market.max_gap_ns < 0 {
        return Err(PrescreenError::LengthMismatch {
            what: "max_gap_ns must be >= 0 (0: off)",
        });
    }
    Ok(())
}

/// Check one point's parameters.
pub fn check_point(index: usize, p: &Point) -> Result<(), PrescreenError> {
    let bad = |reason: String| Err(PrescreenError::BadPoint { index, reason });
    if p.window < 2 {
        return bad(format!("window must be >= 2, was {}", p.window));
    }
    if !(p.exit_z >= 0.0 && p.entry_z > p.exit_z && p.entry_z.is_finite()) {
        return bad(format!(
            "need 0 <= exit_z < entry_z, got exit_z {} entry_z {}",
            p.exit_z, p.entry_z
        ));
    }
    if !(p.stop > 0.0 && p.target > 0.0 && p.stop.is_finite() && p.target.is_finite()) {
        return bad("stop and target must be > 0 points".to_owned());
    }
    if matches!(p.max_holding_ns, Some(h) if h <= 0) {
        return bad("max holding must be > 0".to_owned());
    }
    if p.daily_loss_limit.is_nan() || p.daily_loss_limit <= 0.0 || p.pause_ns < 0 {
        return bad("the daily loss limit must be > 0 and the pause >= 0".to_owned());
    }
    Ok(())
}

/// Per-segment data shared by every point: where each bar's quotes end, each bar's risk day.
struct Prepared {
    /// For each bar (global index), one past the last quote (global index) at or before it.
    quote_end: Vec<usize>,
    /// For each bar, the circuit breakers' trading day of its close.
    risk_day: Vec<i32>,
}

/// The circuit breakers' trading day of `ts` (see [`Market::day_starts`]).
fn risk_day_of(market: &Market<'_>, ts: i64) -> i32 {
    market.day_starts.partition_point(|&start| start <= ts) as i32
}

fn prepare(market: &Market<'_>) -> Prepared {
    let mut quote_end = vec![0; market.bar_ts.len()];
    for s in 0..market.bar_offsets.len() - 1 {
        let (q0, q1) = (market.quote_offsets[s], market.quote_offsets[s + 1]);
        let mut q = q0;
        for (i, end) in quote_end
            .iter_mut()
            .enumerate()
            .take(market.bar_offsets[s + 1])
            .skip(market.bar_offsets[s])
        {
            while q < q1 && market.quote_ts[q] <= market.bar_ts[i] {
                q += 1;
            }
            *end = q;
        }
    }
    let risk_day = market
        .bar_ts
        .iter()
        .map(|&ts| risk_day_of(market, ts))
        .collect();
    Prepared {
        quote_end,
        risk_day,
    }
}

/// Z-scores of the closes for `window`, restarting at each segment and after each bar gap
/// longer than `max_gap_ns` (NaN in warm-up).
fn zscores(market: &Market<'_>, window: usize) -> Result<Vec<f64>, PrescreenError> {
    let mut out = vec![f64::NAN; market.close.len()];
    for s in 0..market.bar_offsets.len() - 1 {
        let (a, b) = (market.bar_offsets[s], market.bar_offsets[s + 1]);
        let mut start = a;
        for i in a..=b {
            let gap = i < b
                && i > a
                && market.max_gap_ns > 0
                && market.bar_ts[i] - market.bar_ts[i - 1] > market.max_gap_ns;
            if i == b || gap {
                rolling::zscore_into(&market.close[start..i], window, &mut out[start..i])?;
                start = i;
            }
        }
    }
    Ok(out)
}

/// The statistics day of `ts` (see [`Market::day_open_ns`]).
fn stat_day_of(market: &Market<'_>, ts: i64) -> usize {
    market
        .day_open_ns
        .partition_point(|&open| open <= ts)
        .saturating_sub(1)
}

/// An open position.
#[derive(Clone, Copy)]
struct Open {
    side: f64,
    entry_ts: i64,
    entry_price: f64,
    stop: f64,
    target: f64,
    deadline: i64,
    deadline_reason: ExitReason,
}

/// The trading day of one event, already known (per-bar arrays): the pre-screen hands the
/// shared state machine ([`risk::Breakers`]) this instead of a calendar. The session guard is
/// the per-bar `entry_allowed` flag and flatten-before-halt the `flatten_ns` alerts, both
/// derived in Python from the same `SessionSchedule`, so these answers are never asked.
struct BarDay(i32);

impl Sessions for BarDay {
    fn trading_day(&self, _ts: i64) -> i32 {
        self.0
    }
    fn in_entry_guard(&self, _ts: i64, _guard_ns: i64) -> bool {
        false
    }
    fn in_halt_window(&self, _ts: i64, _window_ns: i64) -> bool {
        false
    }
    fn is_market_open(&self, _ts: i64) -> bool {
        true
    }
    fn next_halt(&self, _ts: i64) -> i64 {
        i64::MAX
    }
    fn fmt_local(&self, _ts: i64) -> String {
        String::new()
    }
}

/// USD (a sum of tick values and fees, so whole cents up to float noise) in integer cents,
/// rounded half away from zero (as `f64::round`, without the libm call on the hot path).
#[inline]
fn to_cents(usd: f64) -> i64 {
    let cents = usd * 100.0;
    (cents + if cents >= 0.0 { 0.5 } else { -0.5 }) as i64
}

/// The circuit breakers of one point: [`risk::Breakers`] (the live rules, in cents) with the
/// point's limits, keeping no trip texts. A daily limit of infinity and `max_losses` 0 are off.
fn breakers_for(p: &Point) -> Breakers {
    let limits = Limits {
        daily_loss_limit: if p.daily_loss_limit.is_finite() {
            to_cents(p.daily_loss_limit).max(1)
        } else {
            i64::MAX
        },
        max_consecutive_losses: if p.max_losses == 0 {
            u32::MAX
        } else {
            p.max_losses
        },
        pause_ns: p.pause_ns,
        max_holding_ns: p.max_holding_ns,
        entry_guard_ns: 0,
        flatten_before_halt: false,
    };
    Breakers::new(limits, RiskState::default(), false)
}

/// Where a stop or target check found an exit.
#[derive(Clone, Copy)]
enum Hit {
    Stop(usize),
    Target(usize),
}

impl Open {
    fn stop_hit(&self, m: &Market<'_>, q: usize) -> bool {
        if self.side > 0.0 {
            m.bid[q] <= self.stop
        } else {
            m.ask[q] >= self.stop
        }
    }

    fn target_hit(&self, m: &Market<'_>, q: usize) -> bool {
        if self.side > 0.0 {
            m.bid[q] >= self.target
        } else {
            m.ask[q] <= self.target
        }
    }

    /// The exit price of a market order at quote `q`.
    fn market_exit(&self, m: &Market<'_>, q: usize) -> f64 {
        if self.side > 0.0 {
            m.bid[q]
        } else {
            m.ask[q]
        }
    }
}

/// One exit to book: the position's side and entry, when, at what price and why, with the
/// point's costs (plain values: the position itself need not be kept in memory for the call).
struct Exit {
    fee: f64,
    scale: f64,
    starting_balance: f64,
    side: f64,
    entry_ts: i64,
    entry_price: f64,
    exit_ts: i64,
    exit_price: f64,
    reason: ExitReason,
}

/// Book a closed trade: the circuit breakers (in cents), the summary, the drawdown and the
/// daily P&L; returns the trade. Kept out of line on purpose: trades are rare next to bars, and
/// inlined at each of the exits its float-to-cents work was hoisted into every bar's path.
#[inline(never)]
fn book_trade(
    market: &Market<'_>,
    peak: &mut f64,
    daily: &mut [f64],
    summary: &mut Summary,
    breakers: &mut Breakers,
    exit: Exit,
) -> Trade {
    let Exit {
        fee,
        scale,
        starting_balance,
        side,
        entry_ts,
        entry_price,
        exit_ts,
        exit_price,
        reason,
    } = exit;
    let pnl = (exit_price - entry_price) * side * scale - fee;
    // Booked on the trading day of the exit (an alert in a data gap is on its own day).
    let day = BarDay(risk_day_of(market, exit_ts));
    breakers.record_closed_trade(exit_ts, to_cents(pnl), 0, &day);
    summary.trades += 1;
    summary.net_pnl += pnl;
    summary.fees += fee;
    if pnl > 0.0 {
        summary.winners += 1;
        summary.gross_profit += pnl;
    } else if pnl < 0.0 {
        summary.gross_loss -= pnl;
    }
    if reason == ExitReason::Stop {
        summary.stops += 1;
    }
    let equity = starting_balance + summary.net_pnl;
    *peak = peak.max(equity);
    let drawdown = *peak - equity;
    summary.max_drawdown = summary.max_drawdown.max(drawdown);
    if *peak > 0.0 {
        summary.max_drawdown_pct = summary.max_drawdown_pct.max(drawdown / *peak);
    }
    if let Some(slot) = daily.get_mut(stat_day_of(market, exit_ts)) {
        *slot += pnl;
    }
    Trade {
        side: side as i8,
        entry_ts,
        entry_price,
        exit_ts,
        exit_price,
        pnl,
        reason,
    }
}

/// Run one point over the whole market; `on_trade` sees every closed trade in order.
///
/// The bar loop indexes several parallel arrays (times, closes, days, z, quote ends) by bar.
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
fn simulate(
    market: &Market<'_>,
    prepared: &Prepared,
    z: &[f64],
    point: &Point,
    costs: &Costs,
    intrabar: Intrabar,
    daily: &mut [f64],
    mut on_trade: impl FnMut(&Trade),
) -> Summary {
    let mut summary = Summary::default();
    let fee = 2.0 * costs.fee_per_side * costs.quantity;
    let scale = costs.multiplier * costs.quantity;
    daily.iter_mut().for_each(|d| *d = 0.0);
    // Realized equity and its peak, for the drawdown.
    let mut peak = costs.starting_balance;
    let mut breakers = breakers_for(point);
    let rules = SignalRules {
        entry_z: point.entry_z,
        exit_z: point.exit_z,
    };
    // Positions of ended contracts, closed later by a holding or halt alert: (at, position,
    // price, reason), latest first.
    let mut pending: Vec<(i64, Open, f64, ExitReason)> = Vec::new();
    let mut close_trade = |summary: &mut Summary,
                           breakers: &mut Breakers,
                           open: &Open,
                           exit_ts: i64,
                           exit_price: f64,
                           reason: ExitReason| {
        let trade = book_trade(
            market,
            &mut peak,
            daily,
            summary,
            breakers,
            Exit {
                fee,
                scale,
                starting_balance: costs.starting_balance,
                side: open.side,
                entry_ts: open.entry_ts,
                entry_price: open.entry_price,
                exit_ts,
                exit_price,
                reason,
            },
        );
        on_trade(&trade);
    };

    for s in 0..market.bar_offsets.len() - 1 {
        let (b0, b1) = (market.bar_offsets[s], market.bar_offsets[s + 1]);
        // The segment's first quote and its roll time, read once (not on every bar).
        let (q0, roll_ns) = (market.quote_offsets[s], market.roll_ns[s]);
        let mut q = q0;
        let mut pos: Option<Open> = None;
        for i in b0..b1 {
            let q_end = prepared.quote_end[i];
            let risk_day = prepared.risk_day[i];
            // Closes of earlier contracts whose alert fired before this bar's data.
            let next_ts = if q < q_end {
                market.quote_ts[q]
            } else {
                market.bar_ts[i]
            };
            while pending.last().is_some_and(|p| p.0 < next_ts) {
                if let Some((at, open, price, reason)) = pending.pop() {
                    close_trade(&mut summary, &mut breakers, &open, at, price, reason);
                }
            }
            if let Some(open) = pos {
                // Quotes of this bar up to the holding alert: first stop and first target.
                let mut expired_at: Option<usize> = None;
                let mut first_stop: Option<usize> = None;
                let mut first_target: Option<usize> = None;
                for k in q..q_end {
                    if market.quote_ts[k] > open.deadline {
                        expired_at = Some(k);
                        break;
                    }
                    if first_stop.is_none() && open.stop_hit(market, k) {
                        first_stop = Some(k);
                    }
                    if first_target.is_none() && open.target_hit(market, k) {
                        first_target = Some(k);
                    }
                    if first_stop.is_some() && first_target.is_some() {
                        break;
                    }
                }
                let hit = match (first_stop, first_target) {
                    (Some(st), Some(tg)) => {
                        summary.ambiguous_bars += 1;
                        if intrabar == Intrabar::Ticks && tg < st {
                            Some(Hit::Target(tg))
                        } else {
                            Some(Hit::Stop(st))
                        }
                    }
                    (Some(st), None) => Some(Hit::Stop(st)),
                    (None, Some(tg)) => Some(Hit::Target(tg)),
                    (None, None) => None,
                };
                match hit {
                    Some(Hit::Stop(k)) => {
                        let price = open.market_exit(market, k);
                        close_trade(
                            &mut summary,
                            &mut breakers,
                            &open,
                            market.quote_ts[k],
                            price,
                            ExitReason::Stop,
                        );
                        pos = None;
                    }
                    Some(Hit::Target(k)) => {
                        close_trade(
                            &mut summary,
                            &mut breakers,
                            &open,
                            market.quote_ts[k],
                            open.target,
                            ExitReason::Target,
                        );
                        pos = None;
                    }
                    None => {
                        if let Some(k) = expired_at {
                            // The alert fired before quote k: the latest quote before it (the
                            // entry's quote at the latest, so k - 1 is in this segment).
                            let price = open.market_exit(market, k - 1);
                            close_trade(
                                &mut summary,
                                &mut breakers,
                                &open,
                                open.deadline,
                                price,
                                open.deadline_reason,
                            );
                            pos = None;
                        }
                    }
                }
            }
            q = q_end;
            let zi = z[i];
            let last = if q > q0 { Some(q - 1) } else { None };
            if let (Some(open), Some(k)) = (pos, last) {
                // The strategy marks the open P&L for the daily limit before the signal.
                let mark = (open.market_exit(market, k) - open.entry_price) * open.side * scale;
                if breakers.record_mark(market.bar_ts[i], to_cents(mark), &BarDay(risk_day)) {
                    let price = open.market_exit(market, k);
                    close_trade(
                        &mut summary,
                        &mut breakers,
                        &open,
                        market.bar_ts[i],
                        price,
                        ExitReason::DailyLimit,
                    );
                    pos = None;
                    continue;
                }
            }
            if market.bar_ts[i] >= roll_ns {
                // The contract roll: flatten at this bar's quote and enter no more.
                if let (Some(open), Some(k)) = (pos, last) {
                    let price = open.market_exit(market, k);
                    close_trade(
                        &mut summary,
                        &mut breakers,
                        &open,
                        market.bar_ts[i],
                        price,
                        ExitReason::Roll,
                    );
                    pos = None;
                }
                continue;
            }
            let z_now = zi.is_finite().then_some(zi);
            if let Some(open) = pos {
                let side = if open.side > 0.0 {
                    Side::Long
                } else {
                    Side::Short
                };
                if rules.decide(z_now, side) == Action::Exit {
                    if let Some(k) = last {
                        let price = open.market_exit(market, k);
                        close_trade(
                            &mut summary,
                            &mut breakers,
                            &open,
                            market.bar_ts[i],
                            price,
                            ExitReason::Signal,
                        );
                        pos = None;
                    }
                } else if open.deadline <= market.bar_ts[i] {
                    if let Some(k) = last {
                        let price = open.market_exit(market, k);
                        close_trade(
                            &mut summary,
                            &mut breakers,
                            &open,
                            open.deadline,
                            price,
                            open.deadline_reason,
                        );
                        pos = None;
                    }
                }
            } else if let entry @ (Action::EnterLong | Action::EnterShort) =
                rules.decide(z_now, Side::Flat)
            {
                if !(market.entry_allowed.get(i).is_none_or(|&a| a != 0)
                    && breakers
                        .entry_block(market.bar_ts[i], &BarDay(risk_day))
                        .is_none())
                {
                    continue;
                }
                let Some(k) = last else { continue };
                let side = if entry == Action::EnterLong {
                    1.0
                } else {
                    -1.0
                };
                let fill = if side > 0.0 {
                    market.ask[k]
                } else {
                    market.bid[k]
                };
                let fresh = market.quote_ts[k] >= market.bar_ts[i] - ONE_MINUTE_NS;
                let reference = if fresh { fill } else { market.close[i] };
                let now = market.bar_ts[i];
                let holding = point
                    .max_holding_ns
                    .map_or(i64::MAX, |h| now.saturating_add(h));
                let next = market.flatten_ns.partition_point(|&f| f <= now);
                let flatten = market.flatten_ns.get(next).copied().unwrap_or(i64::MAX);
                let (deadline, deadline_reason) = if flatten < holding {
                    (flatten, ExitReason::Session)
                } else {
                    (holding, ExitReason::MaxHolding)
                };
                pos = Some(Open {
                    side,
                    entry_ts: market.bar_ts[i],
                    entry_price: fill,
                    stop: reference - side * point.stop,
                    target: reference + side * point.target,
                    deadline,
                    deadline_reason,
                });
            }
        }
        if let Some(open) = pos {
            let last_quote = market.quote_offsets[s + 1];
            let (at, reason) = (open.deadline, open.deadline_reason);
            if at <= market.end_ns && last_quote > q0 {
                // Booked when the replay reaches `at`: later contracts' trades may come first.
                let price = open.market_exit(market, last_quote - 1);
                pending.push((at, open, price, reason));
                pending.sort_by_key(|p| std::cmp::Reverse(p.0));
            } else {
                summary.open_at_end += 1;
            }
        }
    }
    while let Some((at, open, price, reason)) = pending.pop() {
        close_trade(&mut summary, &mut breakers, &open, at, price, reason);
    }
    summary
}

/// How many statistics days the daily P&L has (at least one).
pub fn n_days(market: &Market<'_>) -> usize {
    market.day_open_ns.len().max(1)
}

/// Every closed trade of one point (for parity checks against the Nautilus backtest), its
/// summary and its P&L per statistics day.
pub fn trades(
    market: &Market<'_>,
    point: &Point,
    costs: &Costs,
    intrabar: Intrabar,
) -> Result<(Vec<Trade>, Summary, Vec<f64>), PrescreenError> {
    validate(market)?;
    check_point(0, point)?;
    let prepared = prepare(market);
    let z = zscores(market, point.window)?;
    let mut daily = vec![0.0; n_days(market)];
    let mut out = Vec::new();
    let summary = simulate(
        market,
        &prepared,
        &z,
        point,
        costs,
        intrabar,
        &mut daily,
        |t| out.push(*t),
    );
    Ok((out, summary, daily))
}

/// The summary of every point, in the order given, on `threads` threads (0: all cores), and
/// the points' P&L per statistics day, row-major (`points.len()` rows of [`n_days`]): the
/// Sharpe ratio is computed from it in Python by the one shared implementation.
///
/// Points with the same window share one z-score series per segment.
pub fn screen(
    market: &Market<'_>,
    points: &[Point],
    costs: &Costs,
    intrabar: Intrabar,
    threads: usize,
) -> Result<(Vec<Summary>, Vec<f64>), PrescreenError> {
    validate(market)?;
    for (i, p) in points.iter().enumerate() {
        check_point(i, p)?;
    }
    let prepared = prepare(market);
    let mut by_window: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    for p in points {
        if let Entry::Vacant(slot) = by_window.entry(p.window) {
            slot.insert(zscores(market, p.window)?);
        }
    }
    let threads = if threads == 0 {
        thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    }
    .clamp(1, points.len().max(1));
    let days = n_days(market);
    let mut out = vec![Summary::default(); points.len()];
    let mut daily = vec![0.0; points.len() * days];
    let chunk = points.len().div_ceil(threads).max(1);
    thread::scope(|scope| {
        for ((pts, res), pnl) in points
            .chunks(chunk)
            .zip(out.chunks_mut(chunk))
            .zip(daily.chunks_mut(chunk * days))
        {
            let (prepared, by_window) = (&prepared, &by_window);
            scope.spawn(move || {
                for ((p, r), row) in pts.iter().zip(res.iter_mut()).zip(pnl.chunks_mut(days)) {
                    let z = &by_window[&p.window];
                    *r = simulate(market, prepared, z, p, costs, intrabar, row, |_| {});
                }
            });
        }
    });
    Ok((out, daily))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000_000_000;

    /// One contract: a bar per minute, four quotes per bar (bid open/high/low/close at
    /// -300/-200/-100/0 ms of the close), the ask one tick above.
    struct Data {
        bar_ts: Vec<i64>,
        close: Vec<f64>,
        quote_ts: Vec<i64>,
        bid: Vec<f64>,
        ask: Vec<f64>,
        bar_offsets: Vec<usize>,
        quote_offsets: Vec<usize>,
        roll: Vec<i64>,
    }

    impl Data {
        fn new(bars: &[[f64; 4]]) -> Self {
            let mut d = Data {
                bar_ts: vec![],
                close: vec![],
                quote_ts: vec![],
                bid: vec![],
                ask: vec![],
                bar_offsets: vec![0, bars.len()],
                quote_offsets: vec![0, 4 * bars.len()],
                roll: vec![i64::MAX],
            };
            for (i, ohlc) in bars.iter().enumerate() {
                let ts = (i as i64 + 1) * MIN;
                d.bar_ts.push(ts);
                d.close.push(ohlc[3]);
                for (k, &b) in ohlc.iter().enumerate() {
                    d.quote_ts.push(ts - (3 - k as i64) * 100_000_000);
                    d.bid.push(b);
                    d.ask.push(b + 0.25);
                }
            }
            d
        }

        fn market(&self) -> Market<'_> {
            Market {
                bar_ts: &self.bar_ts,
                close: &self.close,
                day_open_ns: &[],
                max_gap_ns: 0,
                quote_ts: &self.quote_ts,
                bid: &self.bid,
                ask: &self.ask,
                bar_offsets: &self.bar_offsets,
                quote_offsets: &self.quote_offsets,
                roll_ns: &self.roll,
                end_ns: *self.bar_ts.last().unwrap(),
                day_starts: &[],
                entry_allowed: &[],
                flatten_ns: &[],
            }
        }
    }

    fn flat(p: f64) -> [f64; 4] {
        [p, p, p, p]
    }

    const COSTS: Costs = Costs {
        multiplier: 5.0,
        fee_per_side: 0.62,
        quantity: 1.0,
        starting_balance: 100_000.0,
    };

    // Window 3: the close 98 after 100.25, 100 has z = -1.15 (the largest a window of 3 allows).
    const POINT: Point = Point {
        window: 3,
        entry_z: 1.1,
        exit_z: 0.1,
        stop: 1.0,
        target: 0.5,
        max_holding_ns: None,
        daily_loss_limit: f64::INFINITY,
        max_losses: 0,
        pause_ns: 0,
    };

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn a_bar_touching_target_then_stop_follows_the_intrabar_rule() {
        // Long at the ask 98.25 on bar 3: stop 97.25, target 98.75. Bar 4's high reaches the
        // target, then its low the stop.
        let d = Data::new(&[
            flat(100.0),
            flat(100.25),
            flat(100.0),
            flat(98.0),
            [98.0, 98.75, 97.0, 98.5],
            flat(98.5),
        ]);
        let (ticks, summary, _) = trades(&d.market(), &POINT, &COSTS, Intrabar::Ticks).unwrap();
        assert_eq!(ticks.len(), 1);
        let t = ticks[0];
        assert_eq!(
            (t.side, t.entry_ts, t.reason),
            (1, 4 * MIN, ExitReason::Target)
        );
        assert!(close(t.entry_price, 98.25) && close(t.exit_price, 98.75));
        assert!(close(t.pnl, 0.5 * 5.0 - 1.24));
        assert_eq!(t.exit_ts, 5 * MIN - 200_000_000);
        assert_eq!(summary.ambiguous_bars, 1);
        let (first, _, _) = trades(&d.market(), &POINT, &COSTS, Intrabar::StopFirst).unwrap();
        let s = first[0];
        assert_eq!(s.reason, ExitReason::Stop);
        // A stop-market fills at the bid that triggers it (97.00, through the 97.25 stop).
        assert!(close(s.exit_price, 97.0) && close(s.pnl, -1.25 * 5.0 - 1.24));
    }

    #[test]
    fn max_holding_closes_at_the_close_quote_of_its_minute() {
        let d = Data::new(&[
            flat(100.0),
            flat(100.25),
            flat(100.0),
            flat(98.0),
            flat(98.0),
            flat(98.0),
        ]);
        let point = Point {
            max_holding_ns: Some(MIN),
            ..POINT
        };
        let (t, _, _) = trades(&d.market(), &point, &COSTS, Intrabar::Ticks).unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(
            (t[0].exit_ts, t[0].reason),
            (5 * MIN, ExitReason::MaxHolding)
        );
        assert!(close(t[0].exit_price, 98.0));
        // Without it the flat window (z = 0) closes it a minute later; cut the data before
        // that and the position is still open at the end (not a closed trade).
        let (later, _, _) = trades(&d.market(), &POINT, &COSTS, Intrabar::Ticks).unwrap();
        assert_eq!(
            (later[0].exit_ts, later[0].reason),
            (6 * MIN, ExitReason::Signal)
        );
        let cut = Data::new(&[
            flat(100.0),
            flat(100.25),
            flat(100.0),
            flat(98.0),
            flat(98.0),
        ]);
        let (none, summary, _) = trades(&cut.market(), &POINT, &COSTS, Intrabar::Ticks).unwrap();
        assert!(none.is_empty());
        assert_eq!(summary.open_at_end, 1);
    }

    #[test]
    fn the_roll_flattens_at_its_bar_quote_and_blocks_entries() {
        // Long at 98.25 on bar 4; the roll at bar 5 closes it at that minute's bid, where the
        // signal alone would hold on to bar 6.
        let mut d = Data::new(&[
            flat(100.0),
            flat(100.25),
            flat(100.0),
            flat(98.0),
            flat(98.0),
            flat(98.0),
        ]);
        d.roll = vec![5 * MIN];
        let (t, summary, _) = trades(&d.market(), &POINT, &COSTS, Intrabar::Ticks).unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!((t[0].exit_ts, t[0].reason), (5 * MIN, ExitReason::Roll));
        assert!(close(t[0].exit_price, 98.0));
        assert_eq!(summary.open_at_end, 0);
        // A roll at the entry bar: no entry at all.
        d.roll = vec![4 * MIN];
        let (none, _, _) = trades(&d.market(), &POINT, &COSTS, Intrabar::Ticks).unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn screen_matches_single_runs_and_rejects_bad_points() {
        let d = Data::new(&[
            flat(100.0),
            flat(100.25),
            flat(100.0),
            flat(98.0),
            [98.0, 98.75, 97.0, 98.5],
            flat(100.0),
            flat(101.0),
            flat(98.0),
            flat(99.0),
        ]);
        let points = [
            POINT,
            Point {
                window: 4,
                entry_z: 1.2,
                ..POINT
            },
            POINT,
        ];
        let (all, _) = screen(&d.market(), &points, &COSTS, Intrabar::Ticks, 2).unwrap();
        for (p, s) in points.iter().zip(&all) {
            let (_, alone, _) = trades(&d.market(), p, &COSTS, Intrabar::Ticks).unwrap();
            assert_eq!(format!("{s:?}"), format!("{alone:?}")); // NaN Sharpe != NaN
        }
        let bad = Point {
            entry_z: 0.05,
            ..POINT
        };
        assert!(matches!(
            screen(&d.market(), &[POINT, bad], &COSTS, Intrabar::Ticks, 1),
            Err(PrescreenError::BadPoint { index: 1, .. })
        ));
    }

    #[test]
    fn breakers_pause_after_losses_and_stop_the_day_at_the_limit() {
        // The setup of bar 3 repeats every 4 bars (98 after 100.25, 100), each trade a loser
        // stopped on the next bar at 97.00: -1.25 points x 5 - 1.24 = -7.49 USD.
        let mut bars = vec![flat(100.0)];
        for _ in 0..6 {
            bars.extend([
                flat(100.25),
                flat(100.0),
                flat(98.0),
                [98.0, 98.0, 97.0, 100.0],
            ]);
        }
        let d = Data::new(&bars);
        let (all, _, _) = trades(&d.market(), &POINT, &COSTS, Intrabar::Ticks).unwrap();
        assert_eq!(all.len(), 6);
        assert!(all
            .iter()
            .all(|t| t.reason == ExitReason::Stop && close(t.pnl, -7.49)));
        // Two losses in a row pause entries for 6 minutes: the third setup (4 bars later) is
        // skipped, the fourth trades.
        let paused = Point {
            max_losses: 2,
            pause_ns: 6 * MIN,
            ..POINT
        };
        let (t, _, _) = trades(&d.market(), &paused, &COSTS, Intrabar::Ticks).unwrap();
        let entries: Vec<i64> = t.iter().map(|t| t.entry_ts / MIN).collect();
        assert_eq!(entries, vec![4, 8, 16, 20]);
        // A $20 daily limit: the third loss takes the day to -22.47 USD, no entries after it
        // (all these bars are one trading day).
        let limited = Point {
            daily_loss_limit: 20.0,
            ..POINT
        };
        let (t, _, _) = trades(&d.market(), &limited, &COSTS, Intrabar::Ticks).unwrap();
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn a_gap_longer_than_the_limit_restarts_the_warm_up() {
        // The setup of the first test, with 30 minutes without bars before the 98 close.
        let mut d = Data::new(&[
            flat(100.0),
            flat(100.25),
            flat(100.0),
            flat(98.0),
            [98.0, 98.75, 97.0, 98.5],
            flat(98.5),
        ]);
        for (i, ts) in d.bar_ts.iter_mut().enumerate() {
            if i >= 3 {
                *ts += 30 * MIN;
            }
        }
        for (k, ts) in d.quote_ts.iter_mut().enumerate() {
            if k >= 12 {
                *ts += 30 * MIN;
            }
        }
        let (spans, _, _) = trades(&d.market(), &POINT, &COSTS, Intrabar::Ticks).unwrap();
        assert_eq!(spans.len(), 1, "without the rule the window spans the gap");
        let gap_aware = Market {
            max_gap_ns: 10 * MIN,
            ..d.market()
        };
        let (none, _, _) = trades(&gap_aware, &POINT, &COSTS, Intrabar::Ticks).unwrap();
        assert!(
            none.is_empty(),
            "the 98 close is the first of a fresh window"
        );
        // A limit above the gap changes nothing.
        let wide = Market {
            max_gap_ns: 31 * MIN,
            ..d.market()
        };
        let (same, _, _) = trades(&wide, &POINT, &COSTS, Intrabar::Ticks).unwrap();
        assert_eq!(same, spans);
    }

    #[test]
    fn daily_pnl_is_booked_on_the_day_open_before_the_exit() {
        let d = Data::new(&[
            flat(100.0),
            flat(100.25),
            flat(100.0),
            flat(98.0),
            [98.0, 98.75, 97.0, 98.5],
            flat(98.5),
        ]);
        let opens = [0, 5 * MIN - 100_000_000, 6 * MIN];
        let m = Market {
            day_open_ns: &opens,
            ..d.market()
        };
        // The target fills at 5 min - 200 ms: before the second day opens.
        let (t, _, daily) = trades(&m, &POINT, &COSTS, Intrabar::Ticks).unwrap();
        assert_eq!(daily.len(), 3);
        assert!(close(daily[0], t[0].pnl) && daily[1] == 0.0 && daily[2] == 0.0);
        let (_, rows) = screen(&m, &[POINT, POINT], &COSTS, Intrabar::Ticks, 2).unwrap();
        assert_eq!(rows.len(), 6);
        assert_eq!(&rows[..3], &daily[..]);
        assert_eq!(&rows[3..], &daily[..]);
    }
}
