"""The sweep specification: which backtest, which parameters, how to search them.

A sweep YAML (``configs/sweep.yaml``) names a base backtest config, optional overrides applied
to every point, and the parameters to vary as dotted keys with the ``--set`` meaning
(``strategy.entry_z``, ``risk.max_holding_minutes``, ...). A *point* is one assignment of
values; its backtest settings are the base config with the point applied and validated by the
same schema as ``quant-scalper backtest``, so a point that the backtest would refuse (say
``entry_z <= exit_z``) is recorded as invalid instead of run.

Search methods:

- ``grid``: every combination, in the listed order. A parameter is a list of values, or a
  range ``{low, high, step}`` (both ends included).
- ``random``: ``samples`` distinct points drawn with ``seed`` (the same seed gives the same
  points). A parameter is a list (uniform choice), ``{low, high, step}`` (a value of that
  grid), ``{low, high}`` (uniform; whole numbers when both ends are ints) or
  ``{low, high, log: true}`` (log-uniform).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from quant_scalper.analysis.stats import HIGHER_IS_BETTER
from quant_scalper.config import (
    RISK_KEYS,
    STRATEGY_KEYS,
    BacktestSettings,
    RiskEngineSettings,
    VenueSettings,
    apply_override,
    backtest_settings_from_mapping,
    check_bool,
    check_int,
    check_keys,
    check_output_file,
    read_yaml,
    resolve_path,
)
from quant_scalper.errors import ConfigError
from quant_scalper.research.errors import SweepConfigError

DEFAULT_SWEEP_CONFIG = Path("configs") / "sweep.yaml"
METHODS = ("grid", "random")
MAX_POINTS = 1_000_000
INTRABAR_MODES = ("stop_first", "ticks")

# Dotted keys a sweep may vary: the per-run sections of the backtest schema.
_SECTION_KEYS: dict[str, tuple[str, ...]] = {
    "strategy": STRATEGY_KEYS,
    "risk": RISK_KEYS,
    "venue": tuple(VenueSettings.__dataclass_fields__),
    "risk_engine": tuple(RiskEngineSettings.__dataclass_fields__),
}
_FIXED_KEYS = ("strategy.instrument_id", "strategy.bar_type")

_SPEC_KEYS = {
    "backtest": None,
    "set": None,
    "search": None,
    "parameters": None,
    "objective": None,
    "min_trades": None,
    "output": None,
    "workers": None,
    "prescreen": None,
    "bootstrap_samples": None,
}
_SEARCH_KEYS = {"method": None, "samples": None, "seed": None}
_PRESCREEN_KEYS = {"top": None, "intrabar": None}
_RANGE_KEYS = {"low": None, "high": None, "step": None, "log": None}


@dataclass(frozen=True)
class Parameter:
    """One swept parameter: a dotted config key and its values or range."""

    key: str
    values: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False

    def grid_values(self) -> tuple[Any, ...]:
        """Every value (a list as given, or a stepped range with both ends)."""
        if self.values is not None:
            return self.values
        if self.step is None:
            raise SweepConfigError(
                f"parameters.{self.key}: a grid needs a list of values or {{low, high, step}}"
            )
        return _stepped(self.key, self.low, self.high, self.step)

    def sample(self, rng: np.random.Generator) -> Any:
        """One random value (see the module docstring for the distributions)."""
        if self.values is not None or self.step is not None:
            values = self.grid_values()
            return values[int(rng.integers(len(values)))]
        assert self.low is not None and self.high is not None
        if self.log:
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        if isinstance(self.low, int) and isinstance(self.high, int):
            return int(rng.integers(self.low, self.high + 1))
        return float(rng.uniform(self.low, self.high))


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: base backtest config, parameter space, objective and output."""

    backtest_config: Path
    base_overrides: Mapping[str, Any]
    parameters: tuple[Parameter, ...]
    method: str = "grid"
    samples: int | None = None
    seed: int = 0
    objective: str = "sharpe_ratio"
    min_trades: int = 30
    output: Path = Path("output/sweep/results.parquet")
    workers: int | None = None
    prescreen_top: int | None = None
    intrabar: str = "stop_first"
    bootstrap_samples: int = 1000
    cli_overrides: tuple[str, ...] = field(default=())

    def points(self) -> list[dict[str, Any]]:
        """The parameter points to evaluate, in a deterministic order."""
        if self.method == "grid":
            keys = [p.key for p in self.parameters]
            grids = [p.grid_values() for p in self.parameters]
            if math.prod(len(g) for g in grids) > MAX_POINTS:
                raise SweepConfigError(
                    f"the grid has {math.prod(len(g) for g in grids)} points, more than "
                    f"{MAX_POINTS}: use fewer values or search.method: random"
                )
            return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grids)]
        rng = np.random.default_rng(self.seed)
        assert self.samples is not None
        seen: set[str] = set()
        points: list[dict[str, Any]] = []
        attempts = 0
        while len(points) < self.samples and attempts < self.samples * 50:
            attempts += 1
            point = {p.key: p.sample(rng) for p in self.parameters}
            pid = point_id(point)
            if pid not in seen:
                seen.add(pid)
                points.append(point)
        return points

    def base_mapping(self) -> dict[str, Any]:
        """The base backtest config mapping with the sweep's and the command line's overrides."""
        raw = read_yaml(self.backtest_config)
        for key, value in self.base_overrides.items():
            set_dotted(raw, key, value)
        for item in self.cli_overrides:
            apply_override(raw, item)
        return raw

    def base_settings(self) -> BacktestSettings:
        """The validated base settings (no point applied)."""
        return backtest_settings_from_mapping(self.base_mapping(), self.backtest_config.parent)

    def settings_for(
        self, point: Mapping[str, Any], base: Mapping[str, Any] | None = None
    ) -> BacktestSettings:
        """The backtest settings of one point; raises ``ConfigError`` for an invalid point."""
        raw = copy.deepcopy(dict(base) if base is not None else self.base_mapping())
        for key, value in point.items():
            set_dotted(raw, key, value)
        settings = backtest_settings_from_mapping(raw, self.backtest_config.parent)
        return settings.replace(progress=False, write_tearsheet=False)


def load_sweep_spec(
    path: Path | str | None = None,
    overrides: Sequence[str] = (),
    *,
    output: Path | None = None,
) -> SweepSpec:
    """Read and validate a sweep YAML; ``overrides`` are ``--set`` items for the base config."""
    spec_path = _resolve(path)
    raw = read_yaml(spec_path)
    try:
        search = raw.get("search") or {}
        prescreen = raw.get("prescreen") or {}
        check_keys(f"the sweep config {spec_path}", raw, _SPEC_KEYS)
        check_keys("search", search, _SEARCH_KEYS)
        check_keys("prescreen", prescreen, _PRESCREEN_KEYS)
        base_dir = spec_path.parent
        backtest = resolve_path(raw.get("backtest") or "backtest.yaml", base_dir)
        out = output if output is not None else raw.get("output")
        out_path = resolve_path(out or "../output/sweep/results.parquet", base_dir)
        check_output_file("the sweep output", out_path)
        base_overrides = raw.get("set") or {}
        if not isinstance(base_overrides, Mapping):
            raise SweepConfigError("'set' must be a mapping of dotted keys to values")
        for key in base_overrides:
            if not isinstance(key, str) or not key:
                raise SweepConfigError(f"'set' keys must be dotted keys, was {key!r}")
        spec = SweepSpec(
            backtest_config=backtest,
            base_overrides=dict(base_overrides),
            parameters=parse_parameters(raw.get("parameters")),
            method=str(search.get("method", "grid")),
            samples=search.get("samples"),
            seed=check_int("search.seed", search.get("seed", 0), minimum=0, maximum=2**32 - 1),
            objective=str(raw.get("objective", "sharpe_ratio")),
            min_trades=check_int("min_trades", raw.get("min_trades", 30), minimum=0),
            output=out_path,
            workers=raw.get("workers"),
            prescreen_top=prescreen.get("top"),
            intrabar=str(prescreen.get("intrabar", "stop_first")),
            bootstrap_samples=check_int(
                "bootstrap_samples", raw.get("bootstrap_samples", 1000), minimum=0, maximum=10**6
            ),
            cli_overrides=tuple(overrides),
        )
    except SweepConfigError:
        raise
    except ConfigError as exc:
        raise SweepConfigError(str(exc)) from exc
    validate_spec(spec)
    return spec


def check_points_runnable(
    spec: SweepSpec, points: Sequence[Mapping[str, Any]], base: Mapping[str, Any]
) -> int:
    """How many points are valid; a SweepConfigError naming the first reason when none is
    (checked before any backtest runs, so an all-invalid grid fails fast and clearly)."""
    if not points:
        raise SweepConfigError("the sweep has no points: give each parameter at least one value")
    valid, first_error = 0, None
    for point in points:
        try:
            spec.settings_for(point, base)
            valid += 1
        except ConfigError as exc:
            first_error = first_error or f"{dict(point)}: {exc}"
    if valid == 0:
        raise SweepConfigError(
            f"all {len(points)} sweep points are invalid, nothing to run; the first: {first_error}"
        )
    return valid


def validate_spec(spec: SweepSpec) -> None:
    """Check the search settings and the base config (points are checked one by one later)."""
    if spec.method not in METHODS:
        raise SweepConfigError(f"search.method must be grid or random, was {spec.method!r}")
    if spec.method == "random" and (
        not isinstance(spec.samples, int) or isinstance(spec.samples, bool) or spec.samples < 1
    ):
        raise SweepConfigError(
            f"search.samples must be a whole number >= 1 for a random search, was {spec.samples!r}"
        )
    if spec.method == "random" and spec.samples > 1_000_000:
        raise SweepConfigError(f"search.samples must be at most 1000000, was {spec.samples}")
    check_objective(spec.objective)
    if spec.workers is not None and (
        isinstance(spec.workers, bool) or not isinstance(spec.workers, int) or spec.workers < 1
    ):
        raise SweepConfigError(f"workers must be a whole number >= 1 or null, was {spec.workers!r}")
    if spec.prescreen_top is not None and (
        isinstance(spec.prescreen_top, bool)
        or not isinstance(spec.prescreen_top, int)
        or spec.prescreen_top < 1
    ):
        raise SweepConfigError(
            f"prescreen.top must be a whole number >= 1 or null, was {spec.prescreen_top!r}"
        )
    if spec.intrabar not in INTRABAR_MODES:
        raise SweepConfigError(
            f"prescreen.intrabar must be one of {', '.join(INTRABAR_MODES)}, was {spec.intrabar!r}"
        )
    if spec.min_trades < 0:
        raise SweepConfigError(f"min_trades must be >= 0, was {spec.min_trades}")
    try:
        spec.base_settings()
    except ConfigError as exc:
        raise SweepConfigError(f"the base backtest config {spec.backtest_config}: {exc}") from exc


def check_objective(name: str) -> None:
    """Raise ``SweepConfigError`` unless ``name`` is a statistic a sweep can rank by."""
    if name not in HIGHER_IS_BETTER:
        raise SweepConfigError(
            f"objective {name!r} is not a statistic to rank by; use one of: "
            f"{', '.join(HIGHER_IS_BETTER)}"
        )


def parse_parameters(raw: Any) -> tuple[Parameter, ...]:
    """Validate the ``parameters`` mapping (dotted key -> list or range)."""
    if not isinstance(raw, Mapping) or not raw:
        raise SweepConfigError(
            "'parameters' must map dotted config keys to values, e.g. "
            "strategy.entry_z: [1.5, 2.0, 2.5]"
        )
    out = []
    for key, value in raw.items():
        check_parameter_key(str(key))
        if isinstance(value, list):
            if not value:
                raise SweepConfigError(f"parameters.{key} is an empty list: give it values")
            out.append(Parameter(key=str(key), values=tuple(value)))
        elif isinstance(value, Mapping):
            try:
                check_keys(f"parameters.{key}", value, _RANGE_KEYS)
            except ConfigError as exc:
                raise SweepConfigError(str(exc)) from exc
            low, high = value.get("low"), value.get("high")
            for name, bound in (("low", low), ("high", high)):
                if (
                    isinstance(bound, bool)
                    or not isinstance(bound, int | float)
                    or not math.isfinite(bound)
                ):
                    raise SweepConfigError(
                        f"parameters.{key}.{name} must be a finite number, was {bound!r}"
                    )
            if low > high:
                raise SweepConfigError(f"parameters.{key}: low ({low}) is above high ({high})")
            step = value.get("step")
            if step is not None and (
                isinstance(step, bool)
                or not isinstance(step, int | float)
                or not math.isfinite(step)
                or step <= 0
            ):
                raise SweepConfigError(f"parameters.{key}.step must be a number > 0, was {step!r}")
            try:
                log = check_bool(f"parameters.{key}.log", value.get("log", False))
            except ConfigError as exc:
                raise SweepConfigError(str(exc)) from exc
            if log and low <= 0:
                raise SweepConfigError(f"parameters.{key}: a log range needs low > 0")
            out.append(Parameter(key=str(key), low=low, high=high, step=step, log=log))
        else:
            out.append(Parameter(key=str(key), values=(value,)))
    return tuple(out)


def check_parameter_key(key: str) -> None:
    """A swept key must be ``section.field`` of the backtest schema (not the instrument)."""
    section, _, name = key.partition(".")
    if section not in _SECTION_KEYS or not name:
        raise SweepConfigError(
            f"parameter {key!r} is not a dotted key like strategy.entry_z; sections: "
            f"{', '.join(_SECTION_KEYS)}"
        )
    try:
        check_keys(section, {name: None}, dict.fromkeys(_SECTION_KEYS[section]))
    except ConfigError as exc:
        raise SweepConfigError(f"parameters: {exc}") from exc
    if key in _FIXED_KEYS:
        raise SweepConfigError(f"{key} cannot be swept: a sweep trades one instrument")


def set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    """Set ``section.key`` in a config mapping (the ``--set`` meaning, value already parsed)."""
    parts = key.split(".")
    target = raw
    for part in parts[:-1]:
        node = target.setdefault(part, {})
        if not isinstance(node, dict):
            raise SweepConfigError(f"{key}: '{part}' is a value, not a section")
        target = node
    target[parts[-1]] = value


def point_id(point: Mapping[str, Any]) -> str:
    """A stable id of a point (its sorted JSON), the key that makes sweeps resumable."""
    text = json.dumps({k: _canonical(v) for k, v in sorted(point.items())}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def settings_fingerprint(settings: BacktestSettings) -> str:
    """A hash of everything that changes a backtest's result (not output paths/progress)."""
    payload = {
        "catalog": str(settings.catalog),
        "strategy": {k: _canonical(v) for k, v in sorted(settings.strategy.items())},
        "risk": {k: _canonical(v) for k, v in sorted(settings.risk.items())},
        "venue": {k: str(v) for k, v in sorted(vars(settings.venue).items())},
        "risk_engine": {k: _canonical(v) for k, v in sorted(vars(settings.risk_engine).items())},
        "start": settings.start,
        "end": settings.end,
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _canonical(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Decimal):
        return str(value.normalize())
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def _stepped(key: str, low: Any, high: Any, step: Any) -> tuple[Any, ...]:
    lo, hi, st = Decimal(str(low)), Decimal(str(high)), Decimal(str(step))
    count = int((hi - lo) / st) + 1
    if count > 100_000:
        raise SweepConfigError(f"parameters.{key}: {count} values is too many for one parameter")
    as_int = all(isinstance(v, int) for v in (low, high, step))
    values = [lo + i * st for i in range(count)]
    return tuple(int(v) if as_int else float(v) for v in values)


def _resolve(path: Path | str | None) -> Path:
    from quant_scalper.config import REPO_ROOT

    if path is not None:
        return Path(path).expanduser().resolve()
    local = Path.cwd() / DEFAULT_SWEEP_CONFIG
    return local if local.is_file() else REPO_ROOT / DEFAULT_SWEEP_CONFIG
