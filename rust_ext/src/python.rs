//! Thin PyO3 layer: `quant_scalper._core.RollingZScore` and `quant_scalper._core.zscore`.
//!
//! All logic lives in [`crate::rolling`]; this file only converts types and maps
//! [`ZScoreError`] to `ValueError`.

use numpy::{AllowTypeChange, PyArray1, PyArrayLike1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

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

/// The compiled module `quant_scalper._core`.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRollingZScore>()?;
    m.add_function(wrap_pyfunction!(zscore, m)?)?;
    Ok(())
}
