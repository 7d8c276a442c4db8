//! The rolling z-score itself: plain Rust, no Python.
//!
//! # Definition
//!
//! Once `window` values have been seen, each update of `x_t` gives
//!
//! ```text
//! z_t = (x_t - mean) / std
//! ```
//!
//! where `mean` and `std` are taken over the last `window` values *including* `x_t`, and `std`
//! is the sample standard deviation (ddof = 1), i.e. the same numbers as pandas
//! `s.rolling(window).mean()` and `s.rolling(window).std()`. A window whose values are all equal
//! (zero variance) gives `z = 0.0`. Before the window is full there is no z-score, and
//! [`RollingZScore::mean`] / [`RollingZScore::std`] are `None`.
//!
//! # How it stays O(1) and accurate
//!
//! The window lives in a ring buffer. The running sums `Σ(x - k)` and `Σ(x - k)²` are kept
//! relative to a *shift* `k`, which is always one of the values in the window chosen next to the
//! window mean, so the sums are of small deviations rather than of raw ~5,000 price levels and
//! there is no catastrophic cancellation in `Σd² - (Σd)²/n`. Each update adds the new deviation
//! and removes the one leaving the window.
//!
//! Every `window` updates the shift is re-chosen and the sums are recomputed exactly from the
//! buffer (a *rebase*: three O(window) passes, so amortised O(1) per update) — rounding error
//! cannot build up beyond one window's worth of updates. A rebase also happens early whenever
//! the variance has become small compared with the squared deviations that went through the
//! sums since the last rebase (say the window went flat after a volatile stretch), because the
//! rounding left over from those larger values would otherwise dominate the small variance. As a
//! result a flat window gives exactly zero variance (and z = 0.0) rather than noise divided by
//! noise, and the z-score agrees with a fresh two-pass computation to ~1e-12 relative in
//! practice. For prices on a tick grid (such as 0.25-point ES ticks) all deviations and squares
//! are exact in `f64`, so the sums carry no rounding error at all.
//!
//! Inputs must be finite; NaN or ±inf is rejected and leaves the state unchanged. Values whose
//! squared deviations overflow `f64` (magnitudes beyond ~1e154) are not supported.

use std::fmt;

/// Rebase early when the window's sum of squared deviations from its mean falls below this
/// fraction of the squared deviations that went through the running sums since the last rebase.
/// Rounding error in the sums is a few ulps of the latter, so this keeps the variance's relative
/// error below roughly `1e3 * f64::EPSILON * updates_since_rebase` even in the worst case.
const REBASE_RATIO: f64 = 1e-3;

/// Why a [`RollingZScore`] or [`zscore`] call was refused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ZScoreError {
    /// The window must hold at least two values (ddof = 1 needs two).
    WindowTooSmall {
        /// The window that was asked for.
        window: i64,
    },
    /// A streaming update got NaN or ±inf.
    NonFinite {
        /// The offending value.
        value: f64,
    },
    /// A batch input holds NaN or ±inf at `index`.
    NonFiniteAt {
        /// Position of the first non-finite value.
        index: usize,
        /// The offending value.
        value: f64,
    },
}

impl fmt::Display for ZScoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WindowTooSmall { window } => {
                write!(f, "window must be at least 2, got {window}")
            }
            Self::NonFinite { value } => {
                write!(f, "z-score input must be finite, got {value}")
            }
            Self::NonFiniteAt { index, value } => {
                write!(
                    f,
                    "z-score input must be finite, got {value} at index {index}"
                )
            }
        }
    }
}

impl std::error::Error for ZScoreError {}

/// Checks a requested window and turns it into a `usize`.
///
/// Takes `i64` so that negative requests from Python get the same `ValueError` as 0 and 1.
pub fn check_window(window: i64) -> Result<usize, ZScoreError> {
    match usize::try_from(window) {
        Ok(w) if w >= 2 => Ok(w),
        _ => Err(ZScoreError::WindowTooSmall { window }),
    }
}

/// Streaming rolling z-score over the last `window` values; O(1) amortised per update.
///
/// See the [module docs](self) for the exact definition and the numerical approach.
#[derive(Debug, Clone)]
pub struct RollingZScore {
    window: usize,
    /// `1 / window` and `1 / (window - 1)`: multiplications are much cheaper than divisions.
    inv_n: f64,
    inv_nm1: f64,
    /// Ring buffer; grows to `window` during warm-up, then `head` is the oldest value.
    buf: Vec<f64>,
    head: usize,
    /// The reference value `k` the sums are taken relative to; always a value in the buffer.
    shift: f64,
    /// `Σ (x - shift)` over the buffer.
    sum: f64,
    /// `Σ (x - shift)²` over the buffer.
    sum_sq: f64,
    /// `sum_sq` as recomputed at the last rebase plus every squared deviation added to or
    /// removed from it since: the scale of the rounding error the sums may carry.
    churn: f64,
    /// Updates since the last rebase.
    since_rebase: usize,
    /// The last z-score returned.
    last: Option<f64>,
}

impl RollingZScore {
    /// A new, empty z-score over `window` values; `window` must be at least 2.
    pub fn new(window: usize) -> Result<Self, ZScoreError> {
        if window < 2 {
            return Err(ZScoreError::WindowTooSmall {
                window: i64::try_from(window).unwrap_or(i64::MAX),
            });
        }
        Ok(Self {
            window,
            inv_n: 1.0 / window as f64,
            inv_nm1: 1.0 / (window - 1) as f64,
            // Grown on demand so a huge window does not allocate before it is used.
            buf: Vec::with_capacity(window.min(1 << 16)),
            head: 0,
            shift: 0.0,
            sum: 0.0,
            sum_sq: 0.0,
            churn: 0.0,
            since_rebase: 0,
            last: None,
        })
    }

    /// Adds `x` and returns the z-score of `x` within the last `window` values, or `None` while
    /// fewer than `window` values have been seen. NaN/±inf is an error and changes nothing.
    #[inline]
    pub fn update(&mut self, x: f64) -> Result<Option<f64>, ZScoreError> {
        if !x.is_finite() {
            return Err(ZScoreError::NonFinite { value: x });
        }
        Ok(self.push(x))
    }

    /// The update proper, for already-validated (finite) input; shared by [`Self::update`] and
    /// [`zscore`] so both give bitwise the same numbers.
    #[inline]
    fn push(&mut self, x: f64) -> Option<f64> {
        if self.buf.is_empty() {
            // First value: it becomes the shift, so all sums start exactly at zero.
            self.shift = x;
            self.sum = 0.0;
            self.sum_sq = 0.0;
            self.churn = 0.0;
            self.since_rebase = 0;
        }
        let d = x - self.shift;
        let dd = d * d;
        if self.buf.len() < self.window {
            self.buf.push(x);
            self.sum += d;
            self.sum_sq += dd;
            self.churn += dd;
        } else {
            let old = std::mem::replace(&mut self.buf[self.head], x);
            self.head += 1;
            if self.head == self.window {
                self.head = 0;
            }
            let od = old - self.shift;
            let odd = od * od;
            self.sum += d - od;
            self.sum_sq += dd - odd;
            self.churn += dd + odd;
        }
        self.since_rebase += 1;
        if self.buf.len() < self.window {
            self.last = None;
            return None;
        }
        if self.since_rebase >= self.window {
            self.rebase();
        }
        let mut m2 = self.m2();
        if m2 < REBASE_RATIO * self.churn && self.since_rebase > 0 {
            self.rebase();
            m2 = self.m2();
        }
        let z = if m2 > 0.0 {
            let std = (m2 * self.inv_nm1).sqrt();
            ((x - self.shift) - self.sum * self.inv_n) / std
        } else {
            0.0
        };
        self.last = Some(z);
        self.last
    }

    /// `Σ (x - mean)²` over the full window from the running sums, clamped at zero.
    #[inline]
    fn m2(&self) -> f64 {
        let m2 = self.sum_sq - self.sum * (self.sum * self.inv_n);
        m2.max(0.0)
    }

    /// Re-chooses the shift as the buffered value nearest the mean and recomputes the sums
    /// exactly from the buffer. O(len), run at most about once per `window` updates.
    fn rebase(&mut self) {
        let n = self.buf.len() as f64;
        let first = self.buf[0];
        // Pass 1: the mean, relative to a buffered value (exact when the window is flat).
        let mean = first + shifted_sums(&self.buf, first).0 / n;
        // Pass 2: the buffered value nearest that mean becomes the new shift.
        let mut shift = first;
        let mut best = (first - mean).abs();
        for &v in &self.buf {
            let dist = (v - mean).abs();
            let closer = dist < best;
            best = if closer { dist } else { best };
            shift = if closer { v } else { shift };
        }
        // Pass 3: the sums relative to the new shift.
        let (sum, sum_sq) = shifted_sums(&self.buf, shift);
        self.shift = shift;
        self.sum = sum;
        self.sum_sq = sum_sq;
        self.churn = sum_sq;
        self.since_rebase = 0;
    }

    /// Forgets every value, back to the state just after [`Self::new`].
    pub fn reset(&mut self) {
        self.buf.clear();
        self.head = 0;
        self.shift = 0.0;
        self.sum = 0.0;
        self.sum_sq = 0.0;
        self.churn = 0.0;
        self.since_rebase = 0;
        self.last = None;
    }

    /// The window length.
    pub fn window(&self) -> usize {
        self.window
    }

    /// How many values are in the window (at most `window`).
    pub fn count(&self) -> usize {
        self.buf.len()
    }

    /// Whether `window` values have been seen, i.e. updates return z-scores.
    pub fn is_initialized(&self) -> bool {
        self.buf.len() == self.window
    }

    /// The last z-score returned by an update (`None` during warm-up or after a reset).
    pub fn value(&self) -> Option<f64> {
        self.last
    }

    /// Mean of the current window; `None` until the window is full.
    pub fn mean(&self) -> Option<f64> {
        self.is_initialized()
            .then_some(self.shift + self.sum * self.inv_n)
    }

    /// Sample variance (ddof = 1) of the current window; `None` until the window is full.
    pub fn variance(&self) -> Option<f64> {
        self.is_initialized().then(|| self.m2() * self.inv_nm1)
    }

    /// Sample standard deviation (ddof = 1) of the current window; `None` until the window is
    /// full.
    pub fn std(&self) -> Option<f64> {
        self.variance().map(f64::sqrt)
    }
}

/// `(Σ (v - k), Σ (v - k)²)` over `values`, in four interleaved lanes so the additions pipeline
/// (and the rounding error grows more slowly than with one running sum).
fn shifted_sums(values: &[f64], k: f64) -> (f64, f64) {
    let mut s1 = [0.0f64; 4];
    let mut s2 = [0.0f64; 4];
    let chunks = values.chunks_exact(4);
    let rest = chunks.remainder();
    for c in chunks {
        for lane in 0..4 {
            let d = c[lane] - k;
            s1[lane] += d;
            s2[lane] += d * d;
        }
    }
    for (lane, &v) in rest.iter().enumerate() {
        let d = v - k;
        s1[lane] += d;
        s2[lane] += d * d;
    }
    (
        (s1[0] + s1[1]) + (s1[2] + s1[3]),
        (s2[0] + s2[1]) + (s2[2] + s2[3]),
    )
}

/// Index and value of the first NaN/±inf in `values`, if any.
fn first_non_finite(values: &[f64]) -> Option<(usize, f64)> {
    values
        .iter()
        .position(|v| !v.is_finite())
        .map(|i| (i, values[i]))
}

/// Batch z-score into `out` (same length as `values`): NaN during warm-up, then exactly the
/// numbers [`RollingZScore::update`] would return for the same inputs.
///
/// All of `values` is checked first; a NaN/±inf anywhere is an error naming its index and
/// `out` is left untouched.
///
/// # Panics
///
/// If `out.len() != values.len()`.
pub fn zscore_into(values: &[f64], window: usize, out: &mut [f64]) -> Result<(), ZScoreError> {
    assert_eq!(
        values.len(),
        out.len(),
        "zscore_into: output length must match input length"
    );
    let mut rz = RollingZScore::new(window)?;
    if let Some((index, value)) = first_non_finite(values) {
        return Err(ZScoreError::NonFiniteAt { index, value });
    }
    for (o, &x) in out.iter_mut().zip(values) {
        *o = rz.push(x).unwrap_or(f64::NAN);
    }
    Ok(())
}

/// Batch z-score of `values` over rolling `window`s: NaN during warm-up, then exactly the numbers
/// the streaming [`RollingZScore`] gives. NaN/±inf input is an error naming its index.
pub fn zscore(values: &[f64], window: usize) -> Result<Vec<f64>, ZScoreError> {
    let mut out = vec![f64::NAN; values.len()];
    zscore_into(values, window, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Reference: a fresh two-pass recompute of `w`, returning (z of the last value, mean,
    /// std). Deviations are taken relative to the last value `x` (exact for nearby values), so
    /// `x - mean` does not suffer from rounding of a ~5,000 mean; 0.0 for zero variance.
    fn naive(w: &[f64]) -> (f64, f64, f64) {
        let n = w.len() as f64;
        let x = *w.last().unwrap();
        let mean_d = w.iter().map(|&v| v - x).sum::<f64>() / n;
        let m2: f64 = w.iter().map(|&v| (v - x - mean_d) * (v - x - mean_d)).sum();
        let std = (m2 / (n - 1.0)).sqrt();
        let z = if m2 > 0.0 { -mean_d / std } else { 0.0 };
        (z, x + mean_d, std)
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1.0)
    }

    /// splitmix64: a tiny deterministic generator so the long tests need no extra crates.
    struct Rng(u64);
    impl Rng {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        /// Uniform in [0, 1).
        fn uniform(&mut self) -> f64 {
            (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
        }
        /// -1, 0 or +1 with probabilities 0.3, 0.4, 0.3.
        fn step(&mut self) -> f64 {
            let u = self.uniform();
            if u < 0.3 {
                -1.0
            } else if u < 0.7 {
                0.0
            } else {
                1.0
            }
        }
    }

    #[test]
    fn window_below_two_is_rejected() {
        assert_eq!(
            RollingZScore::new(0).unwrap_err(),
            ZScoreError::WindowTooSmall { window: 0 }
        );
        assert!(RollingZScore::new(1).is_err());
        assert!(RollingZScore::new(2).is_ok());
        assert_eq!(
            check_window(-5),
            Err(ZScoreError::WindowTooSmall { window: -5 })
        );
        assert_eq!(
            check_window(1),
            Err(ZScoreError::WindowTooSmall { window: 1 })
        );
        assert_eq!(check_window(3), Ok(3));
        assert!(zscore(&[1.0, 2.0], 1).is_err());
    }

    #[test]
    fn warm_up_returns_none_then_z() {
        let mut rz = RollingZScore::new(3).unwrap();
        assert_eq!(rz.update(1.0), Ok(None));
        assert_eq!(rz.mean(), None);
        assert_eq!(rz.std(), None);
        assert_eq!(rz.update(2.0), Ok(None));
        assert!(!rz.is_initialized());
        assert_eq!(rz.count(), 2);
        // Window [1, 2, 4]: mean 7/3, sample std sqrt(7/3), z = (4 - 7/3) / sqrt(7/3).
        let z = rz.update(4.0).unwrap().unwrap();
        let expected = (4.0 - 7.0 / 3.0) / (7.0f64 / 3.0).sqrt();
        assert!(close(z, expected, 1e-14), "{z} vs {expected}");
        assert!(rz.is_initialized());
        assert_eq!(rz.count(), 3);
        assert_eq!(rz.value(), Some(z));
        assert!(close(rz.mean().unwrap(), 7.0 / 3.0, 1e-15));
        assert!(close(rz.std().unwrap(), (7.0f64 / 3.0).sqrt(), 1e-15));
        // Window [2, 4, 0]: mean 2, std 2, z = -1.
        let z = rz.update(0.0).unwrap().unwrap();
        assert!(close(z, -1.0, 1e-15), "{z}");
        assert_eq!(rz.count(), 3);
    }

    #[test]
    fn window_two_matches_closed_form() {
        // For n = 2 the z of the newer value is always ±1/√2 (or 0 when equal).
        let mut rz = RollingZScore::new(2).unwrap();
        rz.update(5000.0).unwrap();
        let z = rz.update(5000.25).unwrap().unwrap();
        assert!(close(z, std::f64::consts::FRAC_1_SQRT_2, 1e-15));
        let z = rz.update(4999.0).unwrap().unwrap();
        assert!(close(z, -std::f64::consts::FRAC_1_SQRT_2, 1e-15));
        assert_eq!(rz.update(4999.0), Ok(Some(0.0)));
    }

    #[test]
    fn zero_variance_gives_exact_zero() {
        let mut rz = RollingZScore::new(5).unwrap();
        for _ in 0..20 {
            let z = rz.update(0.1).unwrap();
            assert!(z.is_none() || z == Some(0.0), "{z:?}");
        }
        assert_eq!(rz.std(), Some(0.0));
        assert_eq!(rz.mean(), Some(0.1));
    }

    #[test]
    fn flat_after_volatility_is_exactly_zero() {
        // Large swings pass through the sums, then the window goes flat at a level that is not
        // the shift: the leftover rounding must not turn into a z-score.
        for window in [2usize, 3, 7, 50, 500] {
            let mut rz = RollingZScore::new(window).unwrap();
            let mut rng = Rng(window as u64);
            for _ in 0..3 * window {
                rz.update(5000.0 + 1e4 * (rng.uniform() - 0.5)).unwrap();
            }
            let flat = 5000.0 + std::f64::consts::PI;
            for i in 0..3 * window {
                let z = rz.update(flat).unwrap().unwrap();
                if i + 1 >= window {
                    assert_eq!(z, 0.0, "window {window}, step {i}");
                    assert_eq!(rz.std(), Some(0.0));
                    assert_eq!(rz.mean(), Some(flat));
                }
            }
        }
    }

    #[test]
    fn tiny_variance_after_volatility_is_accurate() {
        // After a volatile stretch the window holds values 1e-9 apart around 5000.
        let window = 100;
        let mut rz = RollingZScore::new(window).unwrap();
        let mut rng = Rng(7);
        let mut hist = Vec::new();
        for _ in 0..window {
            let x = 5000.0 + 500.0 * (rng.uniform() - 0.5);
            hist.push(x);
            rz.update(x).unwrap();
        }
        for _ in 0..3 * window {
            let x = 5000.0 + 1e-9 * rng.uniform();
            hist.push(x);
            let z = rz.update(x).unwrap().unwrap();
            let (zn, mean, std) = naive(&hist[hist.len() - window..]);
            assert!(close(z, zn, 1e-9), "{z} vs {zn}");
            assert!(close(rz.mean().unwrap(), mean, 1e-15));
            assert!(close(rz.std().unwrap(), std, 1e-9));
        }
    }

    #[test]
    fn non_finite_is_rejected_and_state_is_unchanged() {
        let mut rz = RollingZScore::new(3).unwrap();
        for x in [1.0, 2.0, 4.0] {
            rz.update(x).unwrap();
        }
        let before = (rz.value(), rz.mean(), rz.std(), rz.count());
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let err = rz.update(bad).unwrap_err();
            assert!(matches!(err, ZScoreError::NonFinite { .. }));
            assert_eq!((rz.value(), rz.mean(), rz.std(), rz.count()), before);
        }
        // The next update behaves as if the bad values never came.
        let mut fresh = RollingZScore::new(3).unwrap();
        for x in [1.0, 2.0, 4.0] {
            fresh.update(x).unwrap();
        }
        assert_eq!(rz.update(0.0), fresh.update(0.0));
    }

    #[test]
    fn reset_starts_over() {
        let mut rz = RollingZScore::new(3).unwrap();
        for x in [1.0, 2.0, 4.0, 8.0] {
            rz.update(x).unwrap();
        }
        rz.reset();
        assert_eq!(rz.count(), 0);
        assert_eq!(rz.value(), None);
        assert_eq!(rz.mean(), None);
        assert!(!rz.is_initialized());
        let mut fresh = RollingZScore::new(3).unwrap();
        for x in [10.0, 11.0, 13.0, 9.0] {
            assert_eq!(rz.update(x), fresh.update(x));
        }
    }

    #[test]
    fn batch_matches_streaming_bitwise_and_reports_index() {
        let mut rng = Rng(42);
        let mut p = 5000.0;
        let values: Vec<f64> = (0..5000)
            .map(|_| {
                p += 0.25 * rng.step() + 1e-3 * rng.uniform();
                p
            })
            .collect();
        for window in [2, 20, 2000] {
            let batch = zscore(&values, window).unwrap();
            let mut rz = RollingZScore::new(window).unwrap();
            for (i, &x) in values.iter().enumerate() {
                let z = rz.update(x).unwrap();
                match z {
                    None => assert!(batch[i].is_nan() && i + 1 < window),
                    Some(z) => assert_eq!(z.to_bits(), batch[i].to_bits(), "index {i}"),
                }
            }
        }
        let mut bad = values.clone();
        bad[1234] = f64::NAN;
        assert!(matches!(
            zscore(&bad, 20),
            Err(ZScoreError::NonFiniteAt { index: 1234, .. })
        ));
        let msg = zscore(&bad, 20).unwrap_err().to_string();
        assert!(msg.contains("index 1234"), "{msg}");
        assert_eq!(zscore(&[], 5).unwrap(), Vec::<f64>::new());
    }

    /// Runs `n` updates of a ~5,000 random walk and checks z, mean and std against the naive
    /// recompute at sampled positions and over the final stretch.
    fn long_run(window: usize, n: usize, seed: u64, noisy: bool) {
        let mut rng = Rng(seed);
        let mut rz = RollingZScore::new(window).unwrap();
        let mut ring = vec![0.0; window];
        let mut tick = 20_000.0; // price in ticks; 5,000 points
        let sample_every = (n / 500).max(1);
        let mut checked = 0;
        for i in 0..n {
            tick += rng.step();
            // Keep the walk around 5,000 (it would wander off over 10M steps).
            if !(16_000.0..=24_000.0).contains(&tick) {
                tick = 20_000.0;
            }
            let x = if noisy {
                // Off the tick grid: deviations are inexact in binary.
                0.25 * tick + 0.1 * rng.uniform()
            } else {
                0.25 * tick
            };
            ring[i % window] = x;
            let z = rz.update(x).unwrap();
            if i + 1 >= window && (i % sample_every == 0 || i + 1000 >= n) {
                let w: Vec<f64> = (i + 1 - window..=i).map(|j| ring[j % window]).collect();
                let (zn, mean, std) = naive(&w);
                let z = z.unwrap();
                assert!(close(z, zn, 1e-9), "window {window} i {i}: {z} vs {zn}");
                assert!(close(rz.mean().unwrap(), mean, 1e-12));
                assert!(close(rz.std().unwrap(), std, 1e-9));
                checked += 1;
            }
        }
        assert!(checked > 1000);
    }

    #[test]
    fn ten_million_updates_stay_accurate_on_ticks() {
        for window in [2, 20, 2000] {
            long_run(window, 10_000_000, 1 + window as u64, false);
        }
    }

    #[test]
    fn ten_million_updates_stay_accurate_off_grid() {
        for window in [2, 20, 2000] {
            long_run(window, 10_000_000, 100 + window as u64, true);
        }
    }

    /// Windows of prices: a tick-grid random walk around 5,000 with flat stretches, or
    /// arbitrary floats across many magnitudes.
    fn series() -> impl Strategy<Value = Vec<f64>> {
        let ticks =
            prop::collection::vec(prop_oneof![Just(0i32), -3i32..=3], 1..400).prop_map(|steps| {
                let mut t = 20_000i32;
                steps
                    .into_iter()
                    .map(|s| {
                        t += s;
                        0.25 * f64::from(t)
                    })
                    .collect()
            });
        let floats = prop::collection::vec(
            prop_oneof![
                -1e3f64..1e3,
                (4999.0f64..5001.0),
                (-1e-6f64..1e-6),
                Just(5000.0),
                Just(0.1),
            ],
            1..400,
        );
        let regimes = prop::collection::vec((1e-9f64..1e4, 1usize..60), 1..10).prop_map(|parts| {
            // Stretches of very different volatility, so the variance swings by large factors.
            let mut out = Vec::new();
            let mut seed = 1u64;
            for (scale, len) in parts {
                for _ in 0..len {
                    seed = seed
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    let u = (seed >> 11) as f64 / (1u64 << 53) as f64;
                    out.push(5000.0 + scale * (u - 0.5));
                }
            }
            out
        });
        // A steady trend with a little noise: the mean runs away from the shift between rebases.
        let trend = (1e-3f64..1e2, 0.0f64..1e-1, 1usize..400).prop_map(|(slope, noise, len)| {
            (0..len)
                .map(|i| {
                    let i = i as f64;
                    5000.0 + slope * i + noise * (i * 0.618_033_988_7).fract()
                })
                .collect()
        });
        prop_oneof![ticks, floats, regimes, trend]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn matches_naive_recompute(values in series(), window in 2usize..40) {
            let mut rz = RollingZScore::new(window).unwrap();
            for (i, &x) in values.iter().enumerate() {
                let z = rz.update(x).unwrap();
                prop_assert_eq!(rz.count(), (i + 1).min(window));
                if i + 1 < window {
                    prop_assert!(z.is_none());
                    prop_assert!(rz.mean().is_none() && rz.std().is_none());
                    continue;
                }
                let (zn, mean, std) = naive(&values[i + 1 - window..=i]);
                let z = z.unwrap();
                prop_assert!(close(z, zn, 1e-9), "i {}: z {} vs naive {}", i, z, zn);
                let scale = values[i + 1 - window..=i].iter().fold(0.0f64, |a, v| a.max(v.abs()));
                prop_assert!((rz.mean().unwrap() - mean).abs() <= 1e-12 * scale.max(1e-300));
                prop_assert!(close(rz.std().unwrap(), std, 1e-9) || (rz.std().unwrap() - std).abs() <= 1e-12 * scale,
                    "i {}: std {} vs naive {}", i, rz.std().unwrap(), std);
            }
        }

        #[test]
        fn batch_equals_streaming(values in series(), window in 2usize..40) {
            let batch = zscore(&values, window).unwrap();
            let mut rz = RollingZScore::new(window).unwrap();
            for (i, &x) in values.iter().enumerate() {
                let z = rz.update(x).unwrap().unwrap_or(f64::NAN);
                prop_assert_eq!(z.to_bits(), batch[i].to_bits());
            }
        }
    }
}
