//! quant-scalper's Rust core: an O(1), numerically stable rolling z-score.
