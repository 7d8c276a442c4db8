//! The decision-and-risk core: the signal decision and the circuit-breaker state machine.
//!
//! One implementation for the live strategy (through `quant_scalper.risk.core`), the backtest
//! and the pre-screen (which calls [`Breakers`] directly, with no Python in the loop). The
//! rules are those documented in `quant_scalper/risk/breakers.py`:
//!
//! - Daily loss limit: realized P&L (net of fees) + open P&L of the trading day `<= -limit`
//!   trips it; entries are blocked and positions flattened until the next trading day.
//! - Losing streak: a closed trade `< 0` counts, `> 0` resets, exactly `0` does neither; the
//!   N-th loss in a row pauses entries for `pause` and resets the count.
//! - Max holding time (`>=`), session guard (no entries near/in the halt or a break, flatten
//!   inside the halt window), kill switch (cleared only by `resume`, never by a day roll),
//!   operator pause.
//! - Trading-day roll: P&L, streak, trade count, the limit flag and booked keys reset; the
//!   kill switch and a pause stay. Never rolls backwards.
//!
//! Exits are never blocked. Money is integer cents (`i64`), time UTC nanoseconds (`i64`),
//! trading days proleptic Gregorian ordinals (`i32`, Python's `date.toordinal()`). There is no
//! calendar here: the session schedule is data built by Python from the exchange calendar
//! ([`Schedule`]), or any other [`Sessions`] (the pre-screen's per-bar arrays).

use std::fmt;

/// Nanoseconds per minute.
pub const NS_PER_MINUTE: i64 = 60_000_000_000;
/// How many trips the state keeps (the newest).
pub const MAX_TRIPS_KEPT: usize = 500;
/// How many booked-trade keys the state keeps (per trading day).
pub const MAX_BOOKED_KEPT: usize = 10_000;

/// A bad setting or argument; the message names it and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskError(pub String);

impl fmt::Display for RiskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RiskError {}

// -- the signal decision ---------------------------------------------------------------------

/// Which way the book is positioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// No position.
    Flat,
    /// Long.
    Long,
    /// Short.
    Short,
}

/// What the strategy should do on a bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing.
    Hold,
    /// Buy.
    EnterLong,
    /// Sell short.
    EnterShort,
    /// Close the position.
    Exit,
}

/// Entry and exit thresholds in standard deviations (`0 <= exit_z < entry_z`, finite).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SignalRules {
    /// Enter at `|z| >= entry_z` (short above, long below).
    pub entry_z: f64,
    /// Exit at `|z| <= exit_z`.
    pub exit_z: f64,
}

impl SignalRules {
    /// Checked thresholds (the one place `entry_z > exit_z` is enforced for the core).
    pub fn new(entry_z: f64, exit_z: f64) -> Result<Self, RiskError> {
        if !(entry_z.is_finite() && exit_z.is_finite()) {
            return Err(RiskError(
                "entry_z and exit_z must be finite numbers".into(),
            ));
        }
        if exit_z < 0.0 {
            return Err(RiskError(format!("exit_z must be >= 0, was {exit_z}")));
        }
        if entry_z <= exit_z {
            return Err(RiskError(format!(
                "entry_z ({entry_z}) must be greater than exit_z ({exit_z}): otherwise a new \
                 position would be closed on the bar that opened it"
            )));
        }
        Ok(Self { entry_z, exit_z })
    }

    /// The action for z-score `z` (None while warming up) given the position: flat enters at
    /// the extremes; a position exits at `|z| <= exit_z` or the opposite extreme (no reversal
    /// on one bar).
    #[inline]
    pub fn decide(&self, z: Option<f64>, side: Side) -> Action {
        let Some(z) = z else { return Action::Hold };
        match side {
            Side::Flat if z >= self.entry_z => Action::EnterShort,
            Side::Flat if z <= -self.entry_z => Action::EnterLong,
            Side::Flat => Action::Hold,
            _ if z.abs() <= self.exit_z => Action::Exit,
            Side::Long if z >= self.entry_z => Action::Exit,
            Side::Short if z <= -self.entry_z => Action::Exit,
            _ => Action::Hold,
        }
    }
}

// -- rules, trips, state ----------------------------------------------------------------------

/// The rule behind a trip or a blocked entry (stable names, as in reports and JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// Daily loss limit.
    DailyLossLimit,
    /// Losing-streak pause.
    ConsecutiveLosses,
    /// Max holding time.
    MaxHoldingTime,
    /// Session guard / flatten before the halt.
    SessionGuard,
    /// Kill switch on.
    KillSwitch,
    /// Kill switch off or a pause ended early.
    Resume,
    /// New trading day.
    DayRoll,
    /// Operator pause.
    ManualPause,
    /// The state file could not be written (recorded by the Python glue).
    StateUnwritable,
}

impl Rule {
    /// Every rule.
    pub const ALL: [Rule; 9] = [
        Rule::DailyLossLimit,
        Rule::ConsecutiveLosses,
        Rule::MaxHoldingTime,
        Rule::SessionGuard,
        Rule::KillSwitch,
        Rule::Resume,
        Rule::DayRoll,
        Rule::ManualPause,
        Rule::StateUnwritable,
    ];

    /// The stable name (`quant_scalper.risk.breakers.Rule` values).
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::DailyLossLimit => "daily_loss_limit",
            Rule::ConsecutiveLosses => "consecutive_losses",
            Rule::MaxHoldingTime => "max_holding_time",
            Rule::SessionGuard => "session_guard",
            Rule::KillSwitch => "kill_switch",
            Rule::Resume => "resume",
            Rule::DayRoll => "day_roll",
            Rule::ManualPause => "manual_pause",
            Rule::StateUnwritable => "state_unwritable",
        }
    }

    /// The rule named `name`, if any.
    pub fn parse(name: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

/// One risk event: when, which rule, and why in words a trader can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trip {
    /// UTC ns.
    pub at: i64,
    /// The rule.
    pub rule: Rule,
    /// The explanation (empty when the machine does not keep trips, see [`Breakers::new`]).
    pub reason: String,
}

/// The answer to "may a new position be opened now?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Allowed or not.
    pub allowed: bool,
    /// Why, in words.
    pub reason: String,
    /// The blocking rule.
    pub rule: Option<Rule>,
}

/// The circuit-breaker settings (times in ns; see [`Limits::new`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Daily loss limit in cents (> 0; `i64::MAX`: off).
    pub daily_loss_limit: i64,
    /// Losing trades in a row that pause entries (>= 1; `u32::MAX`: off).
    pub max_consecutive_losses: u32,
    /// Pause length (>= 0).
    pub pause_ns: i64,
    /// Max holding time (None: off).
    pub max_holding_ns: Option<i64>,
    /// Entry guard before the halt/breaks, also the flatten window (>= 0).
    pub entry_guard_ns: i64,
    /// Flatten inside the halt window.
    pub flatten_before_halt: bool,
}

impl Limits {
    /// Checked settings, minutes as in the YAML; the error names the field and the fix.
    pub fn new(
        daily_loss_limit_cents: i64,
        max_consecutive_losses: u32,
        pause_minutes: i64,
        max_holding_minutes: Option<i64>,
        entry_guard_minutes: i64,
        flatten_before_halt: bool,
    ) -> Result<Self, RiskError> {
        let limit = i64::MAX / 4 / NS_PER_MINUTE;
        let minutes = |v: i64, name: &str, min: i64| {
            if v < min || v > limit {
                Err(RiskError(format!(
                    "RiskLimits.{name} must be a whole number >= {min}, got {v}: set {name} \
                     to an integer such as {}",
                    min.max(1)
                )))
            } else {
                Ok(v * NS_PER_MINUTE)
            }
        };
        if daily_loss_limit_cents <= 0 {
            return Err(RiskError(format!(
                "RiskLimits.daily_loss_limit must be a USD amount > 0, got {} cents: write \
                 it as a positive whole or decimal USD amount, e.g. 500 or '500.00'",
                daily_loss_limit_cents
            )));
        }
        if max_consecutive_losses < 1 {
            return Err(RiskError(
                "RiskLimits.max_consecutive_losses must be a whole number >= 1, got 0: set \
                 max_consecutive_losses to an integer such as 1"
                    .into(),
            ));
        }
        let out = Self {
            daily_loss_limit: daily_loss_limit_cents,
            max_consecutive_losses,
            pause_ns: minutes(pause_minutes, "pause_minutes", 0)?,
            max_holding_ns: max_holding_minutes
                .map(|m| minutes(m, "max_holding_minutes", 1))
                .transpose()?,
            entry_guard_ns: minutes(entry_guard_minutes, "entry_guard_minutes", 0)?,
            flatten_before_halt,
        };
        if flatten_before_halt && entry_guard_minutes < 1 {
            return Err(RiskError(
                "RiskLimits.entry_guard_minutes must be >= 1 when flatten_before_halt is on: \
                 it is the window for flattening before the halt (e.g. 15), or turn \
                 flatten_before_halt off"
                    .into(),
            ));
        }
        Ok(out)
    }
}

/// What the breakers remember, field for field `quant_scalper.risk.breakers.RiskState` (so the
/// persisted `risk_state.json` keeps its meaning): money in cents, times in UTC ns, the
/// trading day as an ordinal. `version` increases on every durable change (not on a mark).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RiskState {
    /// The trading day (None before the first event).
    pub trading_day: Option<i32>,
    /// Realized P&L of the day, net of fees (cents).
    pub realized_pnl: i64,
    /// The latest open P&L mark (cents).
    pub open_pnl: i64,
    /// Losing trades in a row.
    pub consecutive_losses: u32,
    /// Closed trades today.
    pub trades_today: u32,
    /// Entries paused until.
    pub paused_until: Option<i64>,
    /// The daily loss limit tripped today.
    pub daily_limit_hit: bool,
    /// When.
    pub daily_limit_hit_at: Option<i64>,
    /// The kill switch is on.
    pub halted: bool,
    /// Why.
    pub halt_reason: Option<String>,
    /// Since when.
    pub halted_at: Option<i64>,
    /// The newest [`MAX_TRIPS_KEPT`] trips.
    pub trips: Vec<Trip>,
    /// Durable-change counter.
    pub version: u64,
    /// Keys of the day's booked trades.
    pub booked_trades: Vec<String>,
}

impl RiskState {
    /// Realized plus open P&L of the trading day (cents), the figure the daily limit uses.
    pub fn daily_pnl(&self) -> i64 {
        self.realized_pnl.saturating_add(self.open_pnl)
    }
}

// -- the session schedule as data --------------------------------------------------------------

/// What the state machine asks of the session calendar.
pub trait Sessions {
    /// The trading day (ordinal) of `ts`.
    fn trading_day(&self, ts: i64) -> i32;
    /// No new entry at `ts` (near/in the halt or a break, or closed).
    fn in_entry_guard(&self, ts: i64, guard_ns: i64) -> bool;
    /// Closed, or within `window_ns` before the next session close (breaks ignored).
    fn in_halt_window(&self, ts: i64, window_ns: i64) -> bool;
    /// The market trades at `ts`.
    fn is_market_open(&self, ts: i64) -> bool;
    /// The first session close strictly after `ts`.
    fn next_halt(&self, ts: i64) -> i64;
    /// `ts` in exchange wall-clock time, `YYYY-MM-DD HH:MM TZ`.
    fn fmt_local(&self, ts: i64) -> String;
}

/// A session calendar handed in by Python (built from `SessionSchedule`, which uses the
/// exchange calendar), covering `[day_start[0], day_start[last])` in UTC ns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Where each trading day starts (ascending); the last one only bounds the coverage.
    pub day_start: Vec<i64>,
    /// Each day's ordinal (ascending).
    pub day: Vec<i32>,
    /// Each day's session open.
    pub open: Vec<i64>,
    /// Each day's session close (the early close on such a day).
    pub close: Vec<i64>,
    /// Intraday break starts (ascending, only breaks starting in an open session).
    pub break_start: Vec<i64>,
    /// Their ends.
    pub break_end: Vec<i64>,
    /// Where the exchange time zone's UTC offset changes (ascending; before the first, the
    /// first offset applies).
    pub tz_change: Vec<i64>,
    /// The offset (seconds) from each change on.
    pub tz_offset_s: Vec<i32>,
    /// The zone abbreviation from each change on (`CST`, `CDT`).
    pub tz_name: Vec<String>,
    /// A market that never halts: no guard, no flatten; the day still rolls.
    pub always_open: bool,
}

impl Schedule {
    /// Check the arrays (lengths, order, at least two days); the error says which.
    pub fn validate(&self) -> Result<(), RiskError> {
        let n = self.day_start.len();
        let bad = |what: &str| Err(RiskError(format!("session schedule data: {what}")));
        if n < 2 || self.day.len() != n || self.open.len() != n || self.close.len() != n {
            return bad("day_start, day, open and close need the same length >= 2");
        }
        let ascending = |v: &[i64]| v.windows(2).all(|w| w[0] < w[1]);
        if !ascending(&self.day_start) || !self.day.windows(2).all(|w| w[0] < w[1]) {
            return bad("day_start and day must increase");
        }
        if self.break_start.len() != self.break_end.len()
            || !self.break_start.windows(2).all(|w| w[0] <= w[1])
            || self
                .break_start
                .iter()
                .zip(&self.break_end)
                .any(|(a, b)| a >= b)
        {
            return bad("breaks must be ascending (start, end) pairs with start < end");
        }
        if self.tz_change.is_empty()
            || self.tz_offset_s.len() != self.tz_change.len()
            || self.tz_name.len() != self.tz_change.len()
            || !ascending(&self.tz_change)
        {
            return bad("tz_change, tz_offset_s and tz_name need one ascending entry or more");
        }
        Ok(())
    }

    /// True when `ts` is inside the covered range.
    pub fn covers(&self, ts: i64) -> bool {
        self.day_start[0] <= ts && ts < self.day_start[self.day_start.len() - 1]
    }

    fn index(&self, ts: i64) -> usize {
        self.day_start
            .partition_point(|&s| s <= ts)
            .saturating_sub(1)
            .min(self.day_start.len() - 1)
    }

    fn open_ignoring_breaks(&self, ts: i64) -> bool {
        let k = self.index(ts);
        self.open[k] <= ts && ts < self.close[k]
    }

    fn in_break(&self, ts: i64) -> bool {
        let j = self.break_start.partition_point(|&s| s <= ts);
        let day_ago = ts.saturating_sub(1440 * NS_PER_MINUTE);
        let inside = (0..j)
            .rev()
            .take_while(|&i| self.break_start[i] > day_ago)
            .any(|i| ts < self.break_end[i]);
        inside && self.open_ignoring_breaks(ts)
    }
}

/// Render an ordinal as `YYYY-MM-DD` (Python's `date.fromordinal(d).isoformat()`).
pub fn fmt_day(ordinal: i32) -> String {
    let (y, m, d) = civil_from_days(i64::from(ordinal) - 719_163);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days since 1970-01-01 to (year, month, day) (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

impl Sessions for Schedule {
    fn trading_day(&self, ts: i64) -> i32 {
        self.day[self.index(ts)]
    }

    fn in_entry_guard(&self, ts: i64, guard_ns: i64) -> bool {
        if self.always_open {
            return false;
        }
        if self.in_halt_window(ts, guard_ns) || self.in_break(ts) {
            return true;
        }
        let j = self.break_start.partition_point(|&s| s <= ts);
        self.break_start
            .get(j)
            .is_some_and(|&start| start - ts <= guard_ns)
    }

    fn in_halt_window(&self, ts: i64, window_ns: i64) -> bool {
        if self.always_open {
            return false;
        }
        if !self.open_ignoring_breaks(ts) {
            return true;
        }
        self.next_halt(ts) - ts <= window_ns
    }

    fn is_market_open(&self, ts: i64) -> bool {
        self.always_open || (self.open_ignoring_breaks(ts) && !self.in_break(ts))
    }

    fn next_halt(&self, ts: i64) -> i64 {
        let k = self.index(ts);
        self.close[k..]
            .iter()
            .copied()
            .find(|&c| c > ts)
            .unwrap_or(i64::MAX)
    }

    fn fmt_local(&self, ts: i64) -> String {
        let k = self
            .tz_change
            .partition_point(|&c| c <= ts)
            .saturating_sub(1);
        let local_s = ts.div_euclid(1_000_000_000) + i64::from(self.tz_offset_s[k]);
        let (y, m, d) = civil_from_days(local_s.div_euclid(86_400));
        let secs = local_s.rem_euclid(86_400);
        format!(
            "{y:04}-{m:02}-{d:02} {:02}:{:02} {}",
            secs / 3600,
            secs % 3600 / 60,
            self.tz_name[k]
        )
    }
}

// -- the state machine -------------------------------------------------------------------------

fn cents(value: i64) -> String {
    let sign = if value < 0 { "-" } else { "" };
    let abs = value.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

fn opt_str(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("None")
}

fn opt_day(value: Option<i32>) -> String {
    value.map_or_else(|| "None".to_owned(), fmt_day)
}

/// The circuit breakers of one strategy, time passed in as `now` (UTC ns) with the calendar
/// as a [`Sessions`]. Every method rolls the trading day first, as in Python.
#[derive(Debug, Clone)]
pub struct Breakers {
    /// The settings.
    pub limits: Limits,
    /// The durable state.
    pub state: RiskState,
    /// Trips recorded since the caller last drained them (only when keeping trips).
    pub fresh: Vec<Trip>,
    keep_trips: bool,
    exit_recorded_for: Option<i64>,
}

impl Breakers {
    /// Breakers with `state`. With `keep_trips` false no trip text is formatted or stored
    /// (the pre-screen: the same decisions without the strings).
    pub fn new(limits: Limits, state: RiskState, keep_trips: bool) -> Self {
        Self {
            limits,
            state,
            fresh: Vec::new(),
            keep_trips,
            exit_recorded_for: None,
        }
    }

    /// True while a losing-streak or operator pause is in force.
    pub fn is_paused(&self, now: i64) -> bool {
        self.state.paused_until.is_some_and(|until| now < until)
    }

    #[inline]
    fn record(&mut self, now: i64, rule: Rule, reason: impl FnOnce(&Self) -> String) {
        self.state.version += 1;
        if self.keep_trips {
            self.keep(now, rule, reason(self));
        }
    }

    #[cold]
    #[inline(never)]
    fn keep(&mut self, now: i64, rule: Rule, reason: String) {
        let trip = Trip {
            at: now,
            rule,
            reason,
        };
        let trips = &mut self.state.trips;
        trips.push(trip.clone());
        if trips.len() > MAX_TRIPS_KEPT {
            let extra = trips.len() - MAX_TRIPS_KEPT;
            trips.drain(..extra);
        }
        self.fresh.push(trip);
    }

    /// Start a new trading day if `now` is in a later one; true when it rolled (a trip).
    #[inline]
    pub fn roll_trading_day(&mut self, now: i64, s: &impl Sessions) -> bool {
        let new_day = s.trading_day(now);
        match self.state.trading_day {
            Some(day) if new_day <= day => false,
            _ => self.roll_to(now, new_day),
        }
    }

    /// The roll itself (rare: kept out of the callers' hot loops).
    #[cold]
    #[inline(never)]
    fn roll_to(&mut self, now: i64, new_day: i32) -> bool {
        let Some(day) = self.state.trading_day else {
            self.state.trading_day = Some(new_day);
            self.state.version += 1;
            return false;
        };
        let reason = if self.keep_trips {
            let st = &self.state;
            let mut reason = format!(
                "new trading day {} (was {}): reset realized P&L {} USD over {} trades, {} \
                 consecutive losses",
                fmt_day(new_day),
                fmt_day(day),
                cents(st.realized_pnl),
                st.trades_today,
                st.consecutive_losses
            );
            if st.daily_limit_hit {
                reason += ", daily loss limit cleared";
            }
            if st.halted {
                reason += &format!("; kill switch stays ON ({})", opt_str(&st.halt_reason));
            }
            reason
        } else {
            String::new()
        };
        let st = &mut self.state;
        st.trading_day = Some(new_day);
        st.realized_pnl = 0;
        st.open_pnl = 0;
        st.consecutive_losses = 0;
        st.trades_today = 0;
        st.daily_limit_hit = false;
        st.daily_limit_hit_at = None;
        st.booked_trades.clear();
        self.record(now, Rule::DayRoll, |_| reason);
        true
    }

    /// The rule blocking a new entry at `now`, if any: kill switch, daily limit, pause,
    /// session guard, in that order (no text; see [`Breakers::entry_decision`]).
    pub fn entry_block(&mut self, now: i64, s: &impl Sessions) -> Option<Rule> {
        self.roll_trading_day(now, s);
        if self.state.halted {
            Some(Rule::KillSwitch)
        } else if self.state.daily_limit_hit {
            Some(Rule::DailyLossLimit)
        } else if self.is_paused(now) {
            Some(Rule::ConsecutiveLosses)
        } else if s.in_entry_guard(now, self.limits.entry_guard_ns) {
            Some(Rule::SessionGuard)
        } else {
            None
        }
    }

    /// May a new position be opened at `now`? A blocked entry is not a trip.
    pub fn entry_decision(&mut self, now: i64, s: &impl Sessions) -> Decision {
        let rule = self.entry_block(now, s);
        let (st, lim) = (&self.state, &self.limits);
        let reason = match rule {
            None => "entries allowed".to_owned(),
            Some(Rule::KillSwitch) => format!("kill switch on: {}", opt_str(&st.halt_reason)),
            Some(Rule::DailyLossLimit) => format!(
                "daily loss limit {} USD hit on trading day {}: no entries until the next \
                 trading day",
                cents(lim.daily_loss_limit),
                opt_day(st.trading_day)
            ),
            Some(Rule::ConsecutiveLosses) => format!(
                "paused after {} consecutive losses until {}",
                lim.max_consecutive_losses,
                s.fmt_local(st.paused_until.unwrap_or(now))
            ),
            Some(_) => {
                if s.is_market_open(now) {
                    format!(
                        "session guard: within {} min of the halt or a break",
                        lim.entry_guard_ns / NS_PER_MINUTE
                    )
                } else {
                    "session guard: market closed (daily halt, weekend or intraday break)"
                        .to_owned()
                }
            }
        };
        Decision {
            allowed: rule.is_none(),
            reason,
            rule,
        }
    }

    /// Why the open position (opened at `opened_at`) must close now, or None to keep it.
    /// Holding-time and halt-window exits are recorded as a trip once per position.
    pub fn exit_reason(
        &mut self,
        now: i64,
        opened_at: Option<i64>,
        s: &impl Sessions,
    ) -> Option<String> {
        self.roll_trading_day(now, s);
        let opened_at = opened_at?;
        let (st, lim) = (&self.state, self.limits);
        if st.halted {
            return Some(format!("kill switch on: {}", opt_str(&st.halt_reason)));
        }
        if st.daily_limit_hit {
            return Some(format!(
                "daily loss limit {} USD hit (daily P&L {} USD)",
                cents(lim.daily_loss_limit),
                cents(st.daily_pnl())
            ));
        }
        let held = now - opened_at;
        let (rule, reason) = if lim.max_holding_ns.is_some_and(|max| held >= max) {
            let minutes = (held / 1000) as f64 / 1e6 / 60.0;
            let reason = format!(
                "position held {minutes:.0} min since {}, max {} min",
                s.fmt_local(opened_at),
                lim.max_holding_ns.unwrap_or(0) / NS_PER_MINUTE
            );
            (Rule::MaxHoldingTime, reason)
        } else if lim.flatten_before_halt && s.in_halt_window(now, lim.entry_guard_ns) {
            let reason = if s.is_market_open(now) {
                format!(
                    "flatten before the halt at {}",
                    s.fmt_local(s.next_halt(now))
                )
            } else {
                "flatten: market in the daily halt or weekend".to_owned()
            };
            (Rule::SessionGuard, reason)
        } else {
            return None;
        };
        if self.exit_recorded_for != Some(opened_at) {
            self.exit_recorded_for = Some(opened_at);
            let text = reason.clone();
            self.record(now, rule, |_| text);
        }
        Some(reason)
    }

    #[inline]
    fn check_daily_limit(&mut self, now: i64) -> bool {
        if self.state.daily_limit_hit || self.state.daily_pnl() > -self.limits.daily_loss_limit {
            return false;
        }
        self.trip_daily_limit(now)
    }

    #[cold]
    #[inline(never)]
    fn trip_daily_limit(&mut self, now: i64) -> bool {
        let limit = self.limits.daily_loss_limit;
        self.state.daily_limit_hit = true;
        self.state.daily_limit_hit_at = Some(now);
        self.record(now, Rule::DailyLossLimit, |b| {
            let st = &b.state;
            format!(
                "daily P&L {} USD (realized {}, open {}) reached the -{} USD limit: cancel \
                 orders, flatten, no entries until the next trading day",
                cents(st.daily_pnl()),
                cents(st.realized_pnl),
                cents(st.open_pnl),
                cents(limit)
            )
        });
        true
    }

    /// Update the open P&L mark; true when it trips the daily loss limit.
    #[inline]
    pub fn record_mark(&mut self, now: i64, open_pnl: i64, s: &impl Sessions) -> bool {
        self.roll_trading_day(now, s);
        self.state.open_pnl = open_pnl;
        self.check_daily_limit(now)
    }

    /// Book a closed trade's P&L net of fees (cents) with `open_pnl` left open after it; runs
    /// the streak and daily-limit rules. True when the daily limit tripped.
    pub fn record_closed_trade(
        &mut self,
        now: i64,
        pnl_net: i64,
        open_pnl: i64,
        s: &impl Sessions,
    ) -> bool {
        self.roll_trading_day(now, s);
        let (st, lim) = (&mut self.state, self.limits);
        st.realized_pnl = st.realized_pnl.saturating_add(pnl_net);
        st.open_pnl = open_pnl;
        st.trades_today = st.trades_today.saturating_add(1);
        if pnl_net < 0 {
            st.consecutive_losses = st.consecutive_losses.saturating_add(1);
        } else if pnl_net > 0 {
            st.consecutive_losses = 0;
        }
        st.version += 1;
        if st.consecutive_losses >= lim.max_consecutive_losses {
            let streak = st.consecutive_losses;
            st.consecutive_losses = 0;
            let until = now.saturating_add(lim.pause_ns);
            if st.paused_until.is_none_or(|p| until > p) {
                st.paused_until = Some(until);
            }
            self.record(now, Rule::ConsecutiveLosses, |b| {
                format!(
                    "{streak} losing trades in a row (last {} USD): entries paused {} min \
                     until {}",
                    cents(pnl_net),
                    lim.pause_ns / NS_PER_MINUTE,
                    s.fmt_local(b.state.paused_until.unwrap_or(until))
                )
            });
        }
        self.check_daily_limit(now)
    }

    /// Book a closed trade once by `key`: None when the key was booked already today or the
    /// trade closed (`closed_at`) in an earlier trading day than now's.
    pub fn book_closed_trade(
        &mut self,
        now: i64,
        key: &str,
        closed_at: i64,
        pnl_net: i64,
        open_pnl: i64,
        s: &impl Sessions,
    ) -> Result<Option<bool>, RiskError> {
        if key.is_empty() {
            return Err(RiskError("a booked trade needs a non-empty key".into()));
        }
        self.roll_trading_day(now, s);
        if self.state.booked_trades.iter().any(|k| k == key) {
            return Ok(None);
        }
        if Some(s.trading_day(closed_at)) < self.state.trading_day {
            return Ok(None);
        }
        let tripped = self.record_closed_trade(now, pnl_net, open_pnl, s);
        let booked = &mut self.state.booked_trades;
        booked.push(key.to_owned());
        if booked.len() > MAX_BOOKED_KEPT {
            let extra = booked.len() - MAX_BOOKED_KEPT;
            booked.drain(..extra);
        }
        Ok(Some(tripped))
    }

    /// Turn the kill switch on (a second press updates the reason).
    pub fn kill(&mut self, now: i64, reason: &str, s: &impl Sessions) -> Result<(), RiskError> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(RiskError(
                "kill needs a reason a trader can read later, e.g. 'manual stop'".into(),
            ));
        }
        self.roll_trading_day(now, s);
        let st = &mut self.state;
        if !st.halted {
            st.halted_at = Some(now);
        }
        st.halted = true;
        st.halt_reason = Some(reason.to_owned());
        self.record(now, Rule::KillSwitch, |_| {
            format!("kill switch on: {reason}")
        });
        Ok(())
    }

    /// Turn the kill switch off; false (nothing changed) when it was not on. Keeps a daily
    /// limit hit and a pause.
    pub fn resume(&mut self, now: i64, reason: &str, s: &impl Sessions) -> bool {
        self.roll_trading_day(now, s);
        if !self.state.halted {
            return false;
        }
        let message = if self.keep_trips {
            let st = &self.state;
            let since = st
                .halted_at
                .map_or("unknown time".to_owned(), |t| s.fmt_local(t));
            let mut m = format!(
                "kill switch off ({reason}); it was on since {since}: {}",
                opt_str(&st.halt_reason)
            );
            if st.daily_limit_hit {
                m += &format!(
                    "; daily loss limit still hit for trading day {}",
                    opt_day(st.trading_day)
                );
            }
            m
        } else {
            String::new()
        };
        let st = &mut self.state;
        st.halted = false;
        st.halt_reason = None;
        st.halted_at = None;
        self.record(now, Rule::Resume, |_| message);
        true
    }

    /// Block entries for `minutes` (>= 1) from now; never shortens a pause.
    pub fn pause(
        &mut self,
        now: i64,
        minutes: i64,
        reason: &str,
        s: &impl Sessions,
    ) -> Result<(), RiskError> {
        if !(1..=i64::MAX / 4 / NS_PER_MINUTE).contains(&minutes) {
            return Err(RiskError(format!(
                "pause minutes must be a whole number >= 1, got {minutes}"
            )));
        }
        self.roll_trading_day(now, s);
        let until = now + minutes * NS_PER_MINUTE;
        let st = &mut self.state;
        if st.paused_until.is_none_or(|p| until > p) {
            st.paused_until = Some(until);
        }
        self.record(now, Rule::ManualPause, |b| {
            format!(
                "entries paused {minutes} min until {}: {reason}",
                s.fmt_local(b.state.paused_until.unwrap_or(until))
            )
        });
        Ok(())
    }

    /// End a pause early; false when none was in force (no day roll, as in Python).
    pub fn unpause(&mut self, now: i64, reason: &str) -> bool {
        if !self.is_paused(now) {
            return false;
        }
        self.state.paused_until = None;
        self.record(now, Rule::Resume, |_| {
            format!("pause ended early: {reason}")
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MIN: i64 = NS_PER_MINUTE;
    const DAY: i64 = 1440 * MIN;

    /// Trading day k runs from k days to k + 1 days; session open 1 h after the start, close
    /// 1 h before the next start (a daily halt of 2 h), UTC.
    fn schedule(days: i32) -> Schedule {
        let n = days as usize + 1;
        Schedule {
            day_start: (0..n as i64).map(|k| k * DAY).collect(),
            day: (0..n as i32).map(|k| 738_000 + k).collect(),
            open: (0..n as i64).map(|k| k * DAY + 60 * MIN).collect(),
            close: (0..n as i64).map(|k| (k + 1) * DAY - 60 * MIN).collect(),
            break_start: vec![],
            break_end: vec![],
            tz_change: vec![i64::MIN],
            tz_offset_s: vec![0],
            tz_name: vec!["UTC".into()],
            always_open: false,
        }
    }

    fn limits() -> Limits {
        Limits::new(50_000, 3, 30, Some(120), 15, true).unwrap()
    }

    #[test]
    fn signal_decision_matches_the_rules() {
        let r = SignalRules::new(2.0, 0.5).unwrap();
        assert_eq!(r.decide(None, Side::Flat), Action::Hold);
        assert_eq!(r.decide(Some(2.0), Side::Flat), Action::EnterShort);
        assert_eq!(r.decide(Some(-2.0), Side::Flat), Action::EnterLong);
        assert_eq!(r.decide(Some(0.5), Side::Long), Action::Exit);
        assert_eq!(r.decide(Some(2.0), Side::Long), Action::Exit);
        assert_eq!(r.decide(Some(-2.5), Side::Long), Action::Hold);
        assert_eq!(r.decide(Some(-2.0), Side::Short), Action::Exit);
        assert!(SignalRules::new(0.5, 0.5).is_err());
    }

    #[test]
    fn formats_days_and_local_times() {
        assert_eq!(fmt_day(739_252), "2025-01-01");
        assert_eq!(fmt_day(1), "0001-01-01");
        let mut s = schedule(2);
        s.tz_offset_s = vec![-6 * 3600];
        s.tz_name = vec!["CST".into()];
        // 2025-01-01 00:30 UTC is 2024-12-31 18:30 CST.
        let ts = (20_089 * 86_400 + 1800) * 1_000_000_000;
        assert_eq!(s.fmt_local(ts), "2024-12-31 18:30 CST");
        assert_eq!(cents(-5), "-0.05");
        assert_eq!(cents(123_456), "1234.56");
    }

    #[test]
    fn limit_trips_exactly_at_minus_limit() {
        let s = schedule(3);
        let mut b = Breakers::new(limits(), RiskState::default(), true);
        assert!(!b.record_mark(2 * MIN * 60, -49_999, &s));
        assert!(b.record_mark(2 * MIN * 60, -50_000, &s));
        assert_eq!(b.fresh.last().unwrap().rule, Rule::DailyLossLimit);
        assert_eq!(b.entry_block(3 * MIN * 60, &s), Some(Rule::DailyLossLimit));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Advance(i64),
        Mark(i64),
        Close(i64),
        Kill,
        Resume,
        Pause(i64),
        Unpause,
        Entry,
        Exit(i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0..3 * DAY).prop_map(Op::Advance),
            (-60_000i64..60_000).prop_map(Op::Mark),
            (-30_000i64..30_000).prop_map(Op::Close),
            Just(Op::Kill),
            Just(Op::Resume),
            (1i64..120).prop_map(Op::Pause),
            Just(Op::Unpause),
            Just(Op::Entry),
            (0..300 * MIN).prop_map(Op::Exit),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Over random event sequences: the day roll resets the day's figures but never the
        /// kill switch; a kill blocks entries and forces exits; the limit flag is set exactly
        /// when the day's P&L reached -limit; the version never goes down; trips are bounded.
        #[test]
        fn the_state_machine_keeps_its_invariants(ops in proptest::collection::vec(op(), 1..60)) {
            let s = schedule(200);
            let lim = limits();
            let mut b = Breakers::new(lim, RiskState::default(), true);
            let mut now = 90 * MIN;
            let mut last_version = 0;
            for op in ops {
                let before = b.state.clone();
                match op {
                    Op::Advance(dt) => {
                        now += dt;
                        let rolled = b.roll_trading_day(now, &s);
                        let st = &b.state;
                        if rolled {
                            prop_assert_eq!(st.realized_pnl, 0);
                            prop_assert_eq!(st.open_pnl, 0);
                            prop_assert_eq!(st.consecutive_losses, 0);
                            prop_assert_eq!(st.trades_today, 0);
                            prop_assert!(!st.daily_limit_hit);
                            prop_assert!(st.booked_trades.is_empty());
                            prop_assert_eq!(st.paused_until, before.paused_until);
                        }
                        prop_assert_eq!(st.halted, before.halted);
                        prop_assert_eq!(&st.halt_reason, &before.halt_reason);
                    }
                    Op::Mark(c) => {
                        let tripped = b.record_mark(now, c, &s);
                        let st = &b.state;
                        let was_hit = before.daily_limit_hit
                            && before.trading_day == st.trading_day;
                        prop_assert_eq!(tripped, !was_hit && st.daily_pnl() <= -lim.daily_loss_limit);
                    }
                    Op::Close(c) => {
                        b.record_closed_trade(now, c, 0, &s);
                        let st = &b.state;
                        prop_assert!(st.consecutive_losses < lim.max_consecutive_losses);
                        if st.daily_pnl() <= -lim.daily_loss_limit {
                            prop_assert!(st.daily_limit_hit);
                        }
                    }
                    Op::Kill => {
                        b.kill(now, "test", &s).unwrap();
                        prop_assert_eq!(b.entry_block(now, &s), Some(Rule::KillSwitch));
                        prop_assert!(b.exit_reason(now, Some(now - MIN), &s).is_some());
                    }
                    Op::Resume => {
                        let hit = b.state.daily_limit_hit;
                        b.resume(now, "ok", &s);
                        prop_assert!(!b.state.halted);
                        prop_assert_eq!(b.state.daily_limit_hit, hit);
                    }
                    Op::Pause(m) => {
                        b.pause(now, m, "p", &s).unwrap();
                        prop_assert!(b.state.paused_until.unwrap() >= now + m * MIN);
                        prop_assert!(b.entry_block(now, &s).is_some());
                    }
                    Op::Unpause => {
                        b.unpause(now, "u");
                        prop_assert!(!b.is_paused(now));
                    }
                    Op::Entry => {
                        let d = b.entry_decision(now, &s);
                        prop_assert_eq!(d.allowed, d.rule.is_none());
                        if b.state.halted {
                            prop_assert_eq!(d.rule, Some(Rule::KillSwitch));
                        }
                    }
                    Op::Exit(held) => {
                        let reason = b.exit_reason(now, Some(now - held), &s);
                        if held >= lim.max_holding_ns.unwrap() {
                            prop_assert!(reason.is_some());
                        }
                        // Flat: nothing to exit, nothing blocked.
                        prop_assert!(b.exit_reason(now, None, &s).is_none());
                    }
                }
                prop_assert!(b.state.version >= last_version);
                prop_assert!(b.state.trips.len() <= MAX_TRIPS_KEPT);
                prop_assert!(b.state.trading_day >= before.trading_day);
                last_version = b.state.version;
            }
        }

        /// Keeping trips or not changes no decision (the pre-screen runs without them).
        #[test]
        fn trip_text_changes_no_decision(ops in proptest::collection::vec(op(), 1..60)) {
            let s = schedule(200);
            let mut a = Breakers::new(limits(), RiskState::default(), true);
            let mut b = Breakers::new(limits(), RiskState::default(), false);
            let mut now = 90 * MIN;
            for op in ops {
                match op {
                    Op::Advance(dt) => now += dt,
                    Op::Mark(c) => {
                        prop_assert_eq!(a.record_mark(now, c, &s), b.record_mark(now, c, &s));
                    }
                    Op::Close(c) => prop_assert_eq!(
                        a.record_closed_trade(now, c, 0, &s),
                        b.record_closed_trade(now, c, 0, &s)
                    ),
                    Op::Entry | Op::Kill | Op::Resume | Op::Pause(_) | Op::Unpause => {
                        prop_assert_eq!(a.entry_block(now, &s), b.entry_block(now, &s));
                    }
                    Op::Exit(held) => prop_assert_eq!(
                        a.exit_reason(now, Some(now - held), &s).is_some(),
                        b.exit_reason(now, Some(now - held), &s).is_some()
                    ),
                }
                let (mut x, mut y) = (a.state.clone(), b.state.clone());
                x.trips.clear();
                y.trips.clear();
                prop_assert_eq!(x, y);
            }
        }
    }
}
