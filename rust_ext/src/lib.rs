//! quant-scalper's Rust core: an O(1), numerically stable rolling z-score.
//!
//! [`RollingZScore`] streams `z = (x_t - mean) / std` over the last `window` values including
//! `x_t` (std with ddof = 1, as pandas `rolling(window).std()`; zero variance gives 0.0), and
//! [`zscore`] computes the same numbers for a whole slice. See [`rolling`] for the definition
//! and the numerical approach. The Python bindings (`quant_scalper._core`) live behind the
//! `python` feature so plain `cargo test` needs no Python. [`prescreen`] simulates the strategy's
//! rules for thousands of parameter points at once, sharing z-scores between equal windows.

pub mod prescreen;
pub mod risk;
pub mod rolling;

#[cfg(feature = "python")]
mod python;

pub use rolling::{check_window, zscore, zscore_into, RollingZScore, ZScoreError};
