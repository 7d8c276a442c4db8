//! Thin PyO3 layer: `quant_scalper._core.RollingZScore`, `zscore`, `prescreen` and
//! `prescreen_trades`.
//!
//! All logic lives in [`crate::rolling`] and [`crate::prescreen`]; this file only converts
//! types and maps errors to `ValueError`.

use numpy::{AllowTypeChange, PyArray1, PyArrayLike1, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::prescreen::{self as sim, Costs, ExitReason, Intrabar, Market, Point, PrescreenError};
use crate::risk::{self, Breakers, Limits, RiskError, RiskState, Rule, Schedule, Sessions};
use crate::rolling::{self, check_window, ZScoreError};

fn to_py_err(err: ZScoreError) -> PyErr {
    PyValueError::new_err(err.to_string())
}

/// Streaming rolling z-score: z = (x_t - mean) / std over the last `window` values including
/// x_t, std with ddof=1 (pandas `rolling(window).std()`); 0.0 for a flat window. `update`
/// returns None, and `mean`/`std`/`value` are None, until `window` values have been seen.
/// O(1) amortised per update. NaN/inf input raises ValueError and leaves the state unchanged.
#[pyclass(name = "RollingZScore", module = "quant_scalper._core")]
pub struct PyRollingZScore {
    inner: rolling::RollingZScore,
}

#[pymethods]
impl PyRollingZScore {
    #[new]
    fn new(window: i64) -> PyResult<Self> {
        let window = check_window(window).map_err(to_py_err)?;
        let inner = rolling::RollingZScore::new(window).map_err(to_py_err)?;
        Ok(Self { inner })
    }

    /// Add `x`; return its z-score within the last `window` values, or None during warm-up.
    fn update(&mut self, x: f64) -> PyResult<Option<f64>> {
        self.inner.update(x).map_err(to_py_err)
    }

    /// Forget every value (back to the freshly constructed state).
    fn reset(&mut self) {
        self.inner.reset();
    }

    /// The last z-score returned by `update` (None during warm-up).
    #[getter]
    fn value(&self) -> Option<f64> {
        self.inner.value()
    }

    /// Mean of the current window (None during warm-up).
    #[getter]
    fn mean(&self) -> Option<f64> {
        self.inner.mean()
    }

    /// Sample standard deviation, ddof=1, of the current window (None during warm-up).
    #[getter]
    fn std(&self) -> Option<f64> {
        self.inner.std()
    }

    /// How many values are in the window (at most `window`).
    #[getter]
    fn count(&self) -> usize {
        self.inner.count()
    }

    /// The window length.
    #[getter]
    fn window(&self) -> usize {
        self.inner.window()
    }

    /// True once `window` values have been seen.
    #[getter]
    fn initialized(&self) -> bool {
        self.inner.is_initialized()
    }

    fn __repr__(&self) -> String {
        format!(
            "RollingZScore(window={}, count={}, value={})",
            self.inner.window(),
            self.inner.count(),
            self.inner
                .value()
                .map_or_else(|| "None".to_owned(), |z| format!("{z:?}")),
        )
    }
}

/// Rolling z-score of a 1-D float array (anything numpy can turn into float64): NaN during
/// warm-up, then bitwise the numbers `RollingZScore.update` gives for the same inputs.
/// Raises ValueError naming the index of the first NaN/inf.
#[pyfunction]
#[pyo3(signature = (values, window))]
fn zscore<'py>(
    py: Python<'py>,
    values: PyArrayLike1<'py, f64, AllowTypeChange>,
    window: i64,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let window = check_window(window).map_err(to_py_err)?;
    let view = values.as_array();
    let out = match view.as_slice() {
        Some(slice) => rolling::zscore(slice, window),
        None => rolling::zscore(&view.to_vec(), window),
    }
    .map_err(to_py_err)?;
    Ok(PyArray1::from_vec(py, out))
}

fn pre_err(err: PrescreenError) -> PyErr {
    PyValueError::new_err(err.to_string())
}

fn intrabar(mode: &str) -> PyResult<Intrabar> {
    match mode {
        "stop_first" => Ok(Intrabar::StopFirst),
        "ticks" => Ok(Intrabar::Ticks),
        other => Err(PyValueError::new_err(format!(
            "intrabar must be 'stop_first' or 'ticks', was {other:?}"
        ))),
    }
}

fn offsets(values: &[i64]) -> PyResult<Vec<usize>> {
    values
        .iter()
        .map(|&v| {
            usize::try_from(v).map_err(|_| PyValueError::new_err("segment offsets must be >= 0"))
        })
        .collect()
}

/// Owned copies of the market arrays, so the simulation can run without the GIL.
struct MarketData {
    bar_ts: Vec<i64>,
    close: Vec<f64>,
    day_open_ns: Vec<i64>,
    max_gap_ns: i64,
    quote_ts: Vec<i64>,
    bid: Vec<f64>,
    ask: Vec<f64>,
    bar_offsets: Vec<usize>,
    quote_offsets: Vec<usize>,
    roll_ns: Vec<i64>,
    end_ns: i64,
    day_starts: Vec<i64>,
    entry_allowed: Vec<u8>,
    flatten_ns: Vec<i64>,
}

impl MarketData {
    fn view(&self) -> Market<'_> {
        Market {
            bar_ts: &self.bar_ts,
            close: &self.close,
            day_open_ns: &self.day_open_ns,
            max_gap_ns: self.max_gap_ns,
            quote_ts: &self.quote_ts,
            bid: &self.bid,
            ask: &self.ask,
            bar_offsets: &self.bar_offsets,
            quote_offsets: &self.quote_offsets,
            roll_ns: &self.roll_ns,
            end_ns: self.end_ns,
            day_starts: &self.day_starts,
            entry_allowed: &self.entry_allowed,
            flatten_ns: &self.flatten_ns,
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn market_data(
    bar_ts: PyReadonlyArray1<'_, i64>,
    close: PyReadonlyArray1<'_, f64>,
    day_open_ns: PyReadonlyArray1<'_, i64>,
    max_gap_ns: i64,
    quote_ts: PyReadonlyArray1<'_, i64>,
    bid: PyReadonlyArray1<'_, f64>,
    ask: PyReadonlyArray1<'_, f64>,
    bar_offsets: PyReadonlyArray1<'_, i64>,
    quote_offsets: PyReadonlyArray1<'_, i64>,
    roll_ns: PyReadonlyArray1<'_, i64>,
    end_ns: i64,
    day_starts: PyReadonlyArray1<'_, i64>,
    entry_allowed: PyReadonlyArray1<'_, u8>,
    flatten_ns: PyReadonlyArray1<'_, i64>,
) -> PyResult<MarketData> {
    Ok(MarketData {
        bar_ts: bar_ts.as_array().to_vec(),
        close: close.as_array().to_vec(),
        day_open_ns: day_open_ns.as_array().to_vec(),
        max_gap_ns,
        quote_ts: quote_ts.as_array().to_vec(),
        bid: bid.as_array().to_vec(),
        ask: ask.as_array().to_vec(),
        bar_offsets: offsets(&bar_offsets.as_array().to_vec())?,
        quote_offsets: offsets(&quote_offsets.as_array().to_vec())?,
        roll_ns: roll_ns.as_array().to_vec(),
        end_ns,
        day_starts: day_starts.as_array().to_vec(),
        entry_allowed: entry_allowed.as_array().to_vec(),
        flatten_ns: flatten_ns.as_array().to_vec(),
    })
}

fn to_point(
    window: i64,
    entry_z: f64,
    exit_z: f64,
    stop: f64,
    target: f64,
    max_holding_ns: i64,
) -> Point {
    Point {
        window: usize::try_from(window).unwrap_or(0),
        entry_z,
        exit_z,
        stop,
        target,
        max_holding_ns: (max_holding_ns > 0).then_some(max_holding_ns),
        daily_loss_limit: f64::INFINITY,
        max_losses: 0,
        pause_ns: 0,
    }
}

/// The pre-screen's market data, built once from named arrays (see
/// `quant_scalper.research.prescreen.PrescreenMarket`) and shared by every `prescreen` and
/// `prescreen_trades` call: owned copies, checked on construction.
#[pyclass(name = "Market", module = "quant_scalper._core", frozen)]
pub struct PyMarket {
    data: MarketData,
}

#[pymethods]
impl PyMarket {
    #[new]
    #[pyo3(signature = (
        *, bar_ts, close, day_open_ns, max_gap_ns, quote_ts, bid, ask, bar_offsets,
        quote_offsets, roll_ns, end_ns, day_starts, entry_allowed, flatten_ns
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        bar_ts: PyReadonlyArray1<'_, i64>,
        close: PyReadonlyArray1<'_, f64>,
        day_open_ns: PyReadonlyArray1<'_, i64>,
        max_gap_ns: i64,
        quote_ts: PyReadonlyArray1<'_, i64>,
        bid: PyReadonlyArray1<'_, f64>,
        ask: PyReadonlyArray1<'_, f64>,
        bar_offsets: PyReadonlyArray1<'_, i64>,
        quote_offsets: PyReadonlyArray1<'_, i64>,
        roll_ns: PyReadonlyArray1<'_, i64>,
        end_ns: i64,
        day_starts: PyReadonlyArray1<'_, i64>,
        entry_allowed: PyReadonlyArray1<'_, u8>,
        flatten_ns: PyReadonlyArray1<'_, i64>,
    ) -> PyResult<Self> {
        let data = market_data(
            bar_ts,
            close,
            day_open_ns,
            max_gap_ns,
            quote_ts,
            bid,
            ask,
            bar_offsets,
            quote_offsets,
            roll_ns,
            end_ns,
            day_starts,
            entry_allowed,
            flatten_ns,
        )?;
        sim::validate(&data.view()).map_err(pre_err)?;
        Ok(Self { data })
    }

    /// Bars in the market.
    #[getter]
    fn n_bars(&self) -> usize {
        self.data.bar_ts.len()
    }

    /// Quotes in the market.
    #[getter]
    fn n_quotes(&self) -> usize {
        self.data.quote_ts.len()
    }
}

/// Rank parameter points with the batch simulator (see `quant_scalper.research.prescreen`).
/// Per-point arrays: window, entry_z, exit_z, stop and target (points), max_holding_ns (<= 0:
/// off). Returns a dict of per-point numpy arrays (trades, winners, net_pnl, ...) and
/// `daily_pnl`, a (points x statistics days) array of P&L per day.
#[pyfunction]
#[pyo3(signature = (
    market, *, window, entry_z, exit_z, stop, target, max_holding_ns, daily_loss_limit,
    max_losses, pause_ns, multiplier, fee_per_side, quantity, starting_balance,
    intrabar="stop_first", threads=0
))]
#[allow(clippy::too_many_arguments)]
fn prescreen<'py>(
    py: Python<'py>,
    market: Bound<'py, PyMarket>,
    window: PyReadonlyArray1<'py, i64>,
    entry_z: PyReadonlyArray1<'py, f64>,
    exit_z: PyReadonlyArray1<'py, f64>,
    stop: PyReadonlyArray1<'py, f64>,
    target: PyReadonlyArray1<'py, f64>,
    max_holding_ns: PyReadonlyArray1<'py, i64>,
    daily_loss_limit: PyReadonlyArray1<'py, f64>,
    max_losses: PyReadonlyArray1<'py, i64>,
    pause_ns: PyReadonlyArray1<'py, i64>,
    multiplier: f64,
    fee_per_side: f64,
    quantity: f64,
    starting_balance: f64,
    intrabar: &str,
    threads: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let mode = self::intrabar(intrabar)?;
    let data = &market.get().data;
    let (w, ez, xz, st, tg, mh) = (
        window.as_array(),
        entry_z.as_array(),
        exit_z.as_array(),
        stop.as_array(),
        target.as_array(),
        max_holding_ns.as_array(),
    );
    let (dl, ml, pn) = (
        daily_loss_limit.as_array(),
        max_losses.as_array(),
        pause_ns.as_array(),
    );
    let n = w.len();
    if [
        ez.len(),
        xz.len(),
        st.len(),
        tg.len(),
        mh.len(),
        dl.len(),
        ml.len(),
        pn.len(),
    ]
    .iter()
    .any(|&l| l != n)
    {
        return Err(PyValueError::new_err(
            "every per-point array (window .. pause_ns) must have one value per point",
        ));
    }
    let points: Vec<Point> = (0..n)
        .map(|i| Point {
            daily_loss_limit: dl[i],
            max_losses: u32::try_from(ml[i].max(0)).unwrap_or(u32::MAX),
            pause_ns: pn[i],
            ..to_point(w[i], ez[i], xz[i], st[i], tg[i], mh[i])
        })
        .collect();
    let costs = Costs {
        multiplier,
        fee_per_side,
        quantity,
        starting_balance,
    };
    let (summaries, daily) = py
        .detach(|| sim::screen(&data.view(), &points, &costs, mode, threads))
        .map_err(pre_err)?;
    let out = PyDict::new(py);
    macro_rules! column {
        ($name:literal, $field:ident, $ty:ty) => {
            out.set_item(
                $name,
                PyArray1::from_vec(
                    py,
                    summaries
                        .iter()
                        .map(|s| s.$field as $ty)
                        .collect::<Vec<$ty>>(),
                ),
            )?;
        };
    }
    column!("trades", trades, i64);
    column!("winners", winners, i64);
    column!("net_pnl", net_pnl, f64);
    column!("gross_profit", gross_profit, f64);
    column!("gross_loss", gross_loss, f64);
    column!("fees", fees, f64);
    column!("max_drawdown_usd", max_drawdown, f64);
    column!("max_drawdown_pct", max_drawdown_pct, f64);
    column!("stops", stops, i64);
    column!("ambiguous_bars", ambiguous_bars, i64);
    column!("open_at_end", open_at_end, i64);
    let days = sim::n_days(&data.view());
    let matrix = numpy::ndarray::Array2::from_shape_vec((n, days), daily)
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    out.set_item("daily_pnl", numpy::PyArray2::from_owned_array(py, matrix))?;
    Ok(out)
}

/// Every closed trade of one point (parity checks): a dict of numpy arrays (side, entry_ts,
/// entry_price, exit_ts, exit_price, pnl, reason) plus `ambiguous_bars` and `open_at_end`.
#[pyfunction]
#[pyo3(signature = (
    market, *, window, entry_z, exit_z, stop, target, max_holding_ns, daily_loss_limit,
    max_losses, pause_ns, multiplier, fee_per_side, quantity, starting_balance,
    intrabar="stop_first"
))]
#[allow(clippy::too_many_arguments)]
fn prescreen_trades<'py>(
    py: Python<'py>,
    market: Bound<'py, PyMarket>,
    window: i64,
    entry_z: f64,
    exit_z: f64,
    stop: f64,
    target: f64,
    max_holding_ns: i64,
    daily_loss_limit: f64,
    max_losses: i64,
    pause_ns: i64,
    multiplier: f64,
    fee_per_side: f64,
    quantity: f64,
    starting_balance: f64,
    intrabar: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let mode = self::intrabar(intrabar)?;
    let data = &market.get().data;
    let point = Point {
        daily_loss_limit,
        max_losses: u32::try_from(max_losses.max(0)).unwrap_or(u32::MAX),
        pause_ns,
        ..to_point(window, entry_z, exit_z, stop, target, max_holding_ns)
    };
    let costs = Costs {
        multiplier,
        fee_per_side,
        quantity,
        starting_balance,
    };
    let (trades, summary, daily) =
        sim::trades(&data.view(), &point, &costs, mode).map_err(pre_err)?;
    let out = PyDict::new(py);
    let col_i = |f: fn(&sim::Trade) -> i64| trades.iter().map(f).collect::<Vec<i64>>();
    let col_f = |f: fn(&sim::Trade) -> f64| trades.iter().map(f).collect::<Vec<f64>>();
    out.set_item("side", PyArray1::from_vec(py, col_i(|t| i64::from(t.side))))?;
    out.set_item("entry_ts", PyArray1::from_vec(py, col_i(|t| t.entry_ts)))?;
    out.set_item(
        "entry_price",
        PyArray1::from_vec(py, col_f(|t| t.entry_price)),
    )?;
    out.set_item("exit_ts", PyArray1::from_vec(py, col_i(|t| t.exit_ts)))?;
    out.set_item(
        "exit_price",
        PyArray1::from_vec(py, col_f(|t| t.exit_price)),
    )?;
    out.set_item("pnl", PyArray1::from_vec(py, col_f(|t| t.pnl)))?;
    let reasons: Vec<&str> = trades
        .iter()
        .map(|t| match t.reason {
            ExitReason::Signal => "signal",
            ExitReason::Stop => "stop",
            ExitReason::Target => "target",
            ExitReason::MaxHolding => "max_holding",
            ExitReason::Roll => "roll",
            ExitReason::DailyLimit => "daily_limit",
            ExitReason::Session => "session",
        })
        .collect();
    out.set_item("reason", reasons)?;
    out.set_item("ambiguous_bars", summary.ambiguous_bars)?;
    out.set_item("open_at_end", summary.open_at_end)?;
    out.set_item("daily_pnl", PyArray1::from_vec(py, daily))?;
    Ok(out)
}

fn risk_err(err: RiskError) -> PyErr {
    PyValueError::new_err(err.0)
}

/// A trip as `(at_ns, rule, reason)`.
type PyTrip = (i64, &'static str, String);

fn py_trips(trips: Vec<risk::Trip>) -> Vec<PyTrip> {
    trips
        .into_iter()
        .map(|t| (t.at, t.rule.as_str(), t.reason))
        .collect()
}

/// The signal decision (`quant_scalper.signals.SignalRules.decide`): `side` is "FLAT", "LONG"
/// or "SHORT"; returns "HOLD", "ENTER_LONG", "ENTER_SHORT" or "EXIT".
#[pyfunction]
#[pyo3(signature = (entry_z, exit_z, z, side))]
fn signal_decision(
    entry_z: f64,
    exit_z: f64,
    z: Option<f64>,
    side: &str,
) -> PyResult<&'static str> {
    let rules = risk::SignalRules::new(entry_z, exit_z).map_err(risk_err)?;
    let side = match side {
        "FLAT" => risk::Side::Flat,
        "LONG" => risk::Side::Long,
        "SHORT" => risk::Side::Short,
        other => {
            return Err(PyValueError::new_err(format!(
                "side must be 'FLAT', 'LONG' or 'SHORT', was {other:?}"
            )))
        }
    };
    Ok(match rules.decide(z, side) {
        risk::Action::Hold => "HOLD",
        risk::Action::EnterLong => "ENTER_LONG",
        risk::Action::EnterShort => "ENTER_SHORT",
        risk::Action::Exit => "EXIT",
    })
}

/// The circuit breakers (see `rust_ext/src/risk.rs`): money in integer cents, time in UTC ns,
/// trading days as `date.toordinal()`. Use it through `quant_scalper.risk.core`, which converts
/// Decimal and datetimes and builds the session schedule data. Every event method returns the
/// trips it recorded as `(at_ns, rule, reason)` tuples.
#[pyclass(name = "RiskCore", module = "quant_scalper._core")]
pub struct PyRiskCore {
    inner: Breakers,
    schedule: Option<Schedule>,
}

/// The schedule, when it covers every one of `times`; the error says how to fix it.
fn covered<'a>(schedule: &'a Option<Schedule>, times: &[i64]) -> PyResult<&'a Schedule> {
    let s = schedule.as_ref().ok_or_else(|| {
        PyValueError::new_err("RiskCore has no session schedule: call set_schedule first")
    })?;
    if let Some(t) = times.iter().find(|&&t| !s.covers(t)) {
        return Err(PyValueError::new_err(format!(
            "time {t} ns is outside the session schedule data [{}, {}) ns: extend it with \
             set_schedule",
            s.day_start[0],
            s.day_start[s.day_start.len() - 1]
        )));
    }
    Ok(s)
}

impl PyRiskCore {
    fn take(&mut self) -> Vec<PyTrip> {
        py_trips(std::mem::take(&mut self.inner.fresh))
    }
}

fn state_from_dict(d: &Bound<'_, PyDict>) -> PyResult<RiskState> {
    fn get<'py, T: for<'a> FromPyObjectOwned<'py>>(
        d: &Bound<'py, PyDict>,
        key: &str,
    ) -> PyResult<T> {
        let value = d
            .get_item(key)?
            .ok_or_else(|| PyValueError::new_err(format!("risk state dict misses {key:?}")))?;
        value.extract::<T>().map_err(|_| {
            PyValueError::new_err(format!(
                "risk state field {key:?} has the wrong type ({})",
                value
                    .get_type()
                    .name()
                    .map_or_else(|_| "?".to_owned(), |n| n.to_string())
            ))
        })
    }
    let raw: Vec<(i64, String, String)> = get(d, "trips")?;
    let mut trips = Vec::with_capacity(raw.len());
    for (at, rule, reason) in raw {
        let rule = Rule::parse(&rule)
            .ok_or_else(|| PyValueError::new_err(format!("unknown risk rule {rule:?}")))?;
        trips.push(risk::Trip { at, rule, reason });
    }
    Ok(RiskState {
        trading_day: get(d, "trading_day")?,
        realized_pnl: get(d, "realized_pnl")?,
        open_pnl: get(d, "open_pnl")?,
        consecutive_losses: get(d, "consecutive_losses")?,
        trades_today: get(d, "trades_today")?,
        paused_until: get(d, "paused_until")?,
        daily_limit_hit: get(d, "daily_limit_hit")?,
        daily_limit_hit_at: get(d, "daily_limit_hit_at")?,
        halted: get(d, "halted")?,
        halt_reason: get(d, "halt_reason")?,
        halted_at: get(d, "halted_at")?,
        trips,
        version: get(d, "version")?,
        booked_trades: get(d, "booked_trades")?,
    })
}

#[pymethods]
impl PyRiskCore {
    #[new]
    #[pyo3(signature = (
        *, daily_loss_limit_cents, max_consecutive_losses, pause_minutes, max_holding_minutes,
        entry_guard_minutes, flatten_before_halt
    ))]
    fn new(
        daily_loss_limit_cents: i64,
        max_consecutive_losses: u32,
        pause_minutes: i64,
        max_holding_minutes: Option<i64>,
        entry_guard_minutes: i64,
        flatten_before_halt: bool,
    ) -> PyResult<Self> {
        let limits = Limits::new(
            daily_loss_limit_cents,
            max_consecutive_losses,
            pause_minutes,
            max_holding_minutes,
            entry_guard_minutes,
            flatten_before_halt,
        )
        .map_err(risk_err)?;
        Ok(Self {
            inner: Breakers::new(limits, RiskState::default(), true),
            schedule: None,
        })
    }

    /// Replace the session schedule data (UTC ns; see `risk.rs` `Schedule`).
    #[pyo3(signature = (
        *, day_start, day, open, close, break_start, break_end, tz_change, tz_offset_s, tz_name,
        always_open
    ))]
    #[allow(clippy::too_many_arguments)]
    fn set_schedule(
        &mut self,
        day_start: Vec<i64>,
        day: Vec<i32>,
        open: Vec<i64>,
        close: Vec<i64>,
        break_start: Vec<i64>,
        break_end: Vec<i64>,
        tz_change: Vec<i64>,
        tz_offset_s: Vec<i32>,
        tz_name: Vec<String>,
        always_open: bool,
    ) -> PyResult<()> {
        let s = Schedule {
            day_start,
            day,
            open,
            close,
            break_start,
            break_end,
            tz_change,
            tz_offset_s,
            tz_name,
            always_open,
        };
        s.validate().map_err(risk_err)?;
        self.schedule = Some(s);
        Ok(())
    }

    /// The covered range `(start, end)` in UTC ns, or None without a schedule.
    fn coverage(&self) -> Option<(i64, i64)> {
        self.schedule
            .as_ref()
            .map(|s| (s.day_start[0], s.day_start[s.day_start.len() - 1]))
    }

    /// The trading day (ordinal) of `ts`.
    fn trading_day(&self, ts: i64) -> PyResult<i32> {
        Ok(covered(&self.schedule, &[ts])?.trading_day(ts))
    }

    /// The market trades at `ts`.
    fn is_market_open(&self, ts: i64) -> PyResult<bool> {
        Ok(covered(&self.schedule, &[ts])?.is_market_open(ts))
    }

    /// No entry may start at `ts` with a `guard_minutes` guard.
    fn in_entry_guard(&self, ts: i64, guard_minutes: i64) -> PyResult<bool> {
        Ok(covered(&self.schedule, &[ts])?.in_entry_guard(ts, guard_minutes * risk::NS_PER_MINUTE))
    }

    /// Closed or within `minutes` before the next close.
    fn in_halt_window(&self, ts: i64, minutes: i64) -> PyResult<bool> {
        Ok(covered(&self.schedule, &[ts])?.in_halt_window(ts, minutes * risk::NS_PER_MINUTE))
    }

    /// The first session close after `ts` (UTC ns).
    fn next_halt(&self, ts: i64) -> PyResult<i64> {
        Ok(covered(&self.schedule, &[ts])?.next_halt(ts))
    }

    /// True while a pause is in force.
    fn is_paused(&self, now: i64) -> bool {
        self.inner.is_paused(now)
    }

    /// Roll the trading day if `now` is in a later one.
    fn roll_trading_day(&mut self, now: i64) -> PyResult<Vec<PyTrip>> {
        let s = covered(&self.schedule, &[now])?;
        self.inner.roll_trading_day(now, s);
        Ok(self.take())
    }

    /// `(allowed, reason, rule or None, trips)` for a new entry at `now`.
    fn entry_decision(
        &mut self,
        now: i64,
    ) -> PyResult<(bool, String, Option<&'static str>, Vec<PyTrip>)> {
        let s = covered(&self.schedule, &[now])?;
        let d = self.inner.entry_decision(now, s);
        Ok((d.allowed, d.reason, d.rule.map(Rule::as_str), self.take()))
    }

    /// `(reason or None, trips)`: why the position opened at `opened_at` must close now.
    #[pyo3(signature = (now, opened_at))]
    fn exit_reason(
        &mut self,
        now: i64,
        opened_at: Option<i64>,
    ) -> PyResult<(Option<String>, Vec<PyTrip>)> {
        let s = covered(&self.schedule, &[now])?;
        let r = self.inner.exit_reason(now, opened_at, s);
        Ok((r, self.take()))
    }

    /// Mark the open P&L (cents).
    fn record_mark(&mut self, now: i64, open_pnl: i64) -> PyResult<Vec<PyTrip>> {
        let s = covered(&self.schedule, &[now])?;
        self.inner.record_mark(now, open_pnl, s);
        Ok(self.take())
    }

    /// Book a closed trade's net P&L (cents).
    #[pyo3(signature = (now, pnl_net, open_pnl=0))]
    fn record_closed_trade(
        &mut self,
        now: i64,
        pnl_net: i64,
        open_pnl: i64,
    ) -> PyResult<Vec<PyTrip>> {
        let s = covered(&self.schedule, &[now])?;
        self.inner.record_closed_trade(now, pnl_net, open_pnl, s);
        Ok(self.take())
    }

    /// `(booked, trips)`: book a closed trade once by `key`.
    #[pyo3(signature = (now, key, closed_at, pnl_net, open_pnl=0))]
    fn book_closed_trade(
        &mut self,
        now: i64,
        key: &str,
        closed_at: i64,
        pnl_net: i64,
        open_pnl: i64,
    ) -> PyResult<(bool, Vec<PyTrip>)> {
        let s = covered(&self.schedule, &[now, closed_at])?;
        let r = self
            .inner
            .book_closed_trade(now, key, closed_at, pnl_net, open_pnl, s);
        let booked = r.map_err(risk_err)?.is_some();
        Ok((booked, self.take()))
    }

    /// Turn the kill switch on.
    fn kill(&mut self, now: i64, reason: &str) -> PyResult<Vec<PyTrip>> {
        let s = covered(&self.schedule, &[now])?;
        let r = self.inner.kill(now, reason, s);
        r.map_err(risk_err)?;
        Ok(self.take())
    }

    /// Turn the kill switch off.
    fn resume(&mut self, now: i64, reason: &str) -> PyResult<Vec<PyTrip>> {
        let s = covered(&self.schedule, &[now])?;
        self.inner.resume(now, reason, s);
        Ok(self.take())
    }

    /// Pause entries for `minutes`.
    fn pause(&mut self, now: i64, minutes: i64, reason: &str) -> PyResult<Vec<PyTrip>> {
        let s = covered(&self.schedule, &[now])?;
        let r = self.inner.pause(now, minutes, reason, s);
        r.map_err(risk_err)?;
        Ok(self.take())
    }

    /// End a pause early.
    fn unpause(&mut self, now: i64, reason: &str) -> Vec<PyTrip> {
        self.inner.unpause(now, reason);
        self.take()
    }

    /// The durable-change counter.
    #[getter]
    fn version(&self) -> u64 {
        self.inner.state.version
    }

    /// The state as a dict with `RiskState`'s field names (cents, ns, ordinals).
    fn state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let st = &self.inner.state;
        let d = PyDict::new(py);
        d.set_item("trading_day", st.trading_day)?;
        d.set_item("realized_pnl", st.realized_pnl)?;
        d.set_item("open_pnl", st.open_pnl)?;
        d.set_item("consecutive_losses", st.consecutive_losses)?;
        d.set_item("trades_today", st.trades_today)?;
        d.set_item("paused_until", st.paused_until)?;
        d.set_item("daily_limit_hit", st.daily_limit_hit)?;
        d.set_item("daily_limit_hit_at", st.daily_limit_hit_at)?;
        d.set_item("halted", st.halted)?;
        d.set_item("halt_reason", st.halt_reason.clone())?;
        d.set_item("halted_at", st.halted_at)?;
        d.set_item("trips", py_trips(st.trips.clone()))?;
        d.set_item("version", st.version)?;
        d.set_item("booked_trades", st.booked_trades.clone())?;
        Ok(d)
    }

    /// Replace the state (a dict as returned by `state`).
    fn set_state(&mut self, state: &Bound<'_, PyDict>) -> PyResult<()> {
        self.inner.state = state_from_dict(state)?;
        Ok(())
    }
}

/// The compiled module `quant_scalper._core`.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRollingZScore>()?;
    m.add_function(wrap_pyfunction!(zscore, m)?)?;
    m.add_function(wrap_pyfunction!(prescreen, m)?)?;
    m.add_function(wrap_pyfunction!(prescreen_trades, m)?)?;
    m.add_function(wrap_pyfunction!(signal_decision, m)?)?;
    m.add_class::<PyRiskCore>()?;
    m.add_class::<PyMarket>()?;
    Ok(())
}
