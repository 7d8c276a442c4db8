"""Turn validated ``BacktestSettings`` into a Nautilus ``BacktestRunConfig``.

Contract rolls: the strategy's ``instrument_id`` is either one contract (``MESZ3.CME``) or a
contract root in IB's continuous symbology (``MES.CME``). A root means "the front month": every
contract of that root in the catalog is traded while it is front (the catalog stores each day's
front-month bars only), by its own strategy instance in the same engine and account. The
z-score warms up afresh on each contract, since the roll spread would otherwise look like a
signal.

Each instance but the last one's stops at its contract's last bar in the run
(``trade_until``): it closes any position there at market, at that minute's quote, and enters
no more, as a trader rolling to the next contract would; without it the position would sit,
unquoted, until Nautilus closed it at the contract's expiry weeks later. The last contract's
data simply ends the run, so its instance keeps Nautilus's usual end of run (a position still
open then stays open; the report counts no trade for it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from nautilus_trader.backtest.config import (
    BacktestDataConfig,
    BacktestEngineConfig,
    BacktestRunConfig,
    BacktestVenueConfig,
    ImportableFeeModelConfig,
)
from nautilus_trader.common.config import ImportableActorConfig, LoggingConfig
from nautilus_trader.execution.config import ExecEngineConfig
from nautilus_trader.model.data import Bar, BarType, QuoteTick
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.risk.config import RiskEngineConfig
from nautilus_trader.trading.config import ImportableStrategyConfig

from quant_scalper.config import BacktestSettings, RiskEngineSettings
from quant_scalper.data.catalog_builder import ContractSegment, catalog_segments
from quant_scalper.errors import CatalogError, ConfigError
from quant_scalper.instruments import SPECS, spec_for
from quant_scalper.parameters import session_fields, strategy_fields, value_of

# The default per-order notional cap: trade_size x multiplier x this many index points, i.e.
# room for the index up to 10,000 while still denying a fat-fingered size.
NOTIONAL_CAP_INDEX_POINTS = 10_000

STRATEGY_PATH = "quant_scalper.strategy:ZScoreMeanReversion"
STRATEGY_CONFIG_PATH = "quant_scalper.strategy:ZScoreMeanReversionConfig"
TRADER_ID = "BACKTESTER-001"


@dataclass(frozen=True)
class TradedContract:
    """One contract the backtest trades, with the bars its strategy instance uses."""

    instrument_id: str
    bar_type: str
    bar_count: int
    last_bar_ts: str  # ISO-8601 UTC: the contract's last bar in the run's date range


def resolve_contracts(settings: BacktestSettings) -> list[TradedContract]:
    """The contracts to trade and their bar types, checked against the catalog."""
    try:
        instrument_id = InstrumentId.from_str(str(settings.strategy["instrument_id"]))
    except ValueError as exc:
        raise ConfigError(
            f"strategy.instrument_id {settings.strategy['instrument_id']!r} is not an "
            "instrument id like MES.CME (front month) or MESZ3.CME (one contract)",
        ) from exc
    try:
        bar_type = BarType.from_str(str(settings.strategy["bar_type"]))
    except ValueError as exc:
        raise ConfigError(
            f"strategy.bar_type {settings.strategy['bar_type']!r} is not a bar type like "
            "MES.CME-1-MINUTE-LAST-EXTERNAL",
        ) from exc
    if bar_type.instrument_id != instrument_id:
        raise ConfigError(
            f"strategy.bar_type {bar_type} is for {bar_type.instrument_id}, not for "
            f"strategy.instrument_id {instrument_id}: make them name the same instrument",
        )
    symbol = instrument_id.symbol.value
    root = symbol if symbol in SPECS else _root_of(symbol)
    segments = catalog_segments(settings.catalog, root, settings.start, settings.end)
    if symbol not in SPECS:
        segments = [s for s in segments if s.instrument_id == str(instrument_id)]
        if not segments:
            raise CatalogError(
                f"{instrument_id} has no bars in {settings.catalog} between "
                f"{settings.start or 'the start'} and {settings.end or 'the end'}; "
                "contracts there: "
                f"{', '.join(_available(settings.catalog, root)) or 'none'}",
            )
    contracts = [_traded(segment, bar_type) for segment in segments]
    for contract in contracts:
        _check_bar_type_in_catalog(settings.catalog, contract.bar_type)
    return contracts


def build_run_config(
    settings: BacktestSettings, contracts: list[TradedContract], journal_run_id: str | None = None
) -> BacktestRunConfig:
    """A ``BacktestRunConfig`` with one strategy instance per traded contract (and the journal
    recorder when ``settings.journal`` is set: book ``backtest:<journal_run_id>``)."""
    catalog_path = str(settings.catalog)
    instrument_ids = [c.instrument_id for c in contracts]
    venue = settings.venue
    strategies = [
        ImportableStrategyConfig(
            strategy_path=STRATEGY_PATH,
            config_path=STRATEGY_CONFIG_PATH,
            config=_strategy_config(
                settings, contract, rolls=i < len(contracts) - 1 or settings.flatten_at_end
            ),
        )
        for i, contract in enumerate(contracts)
    ]
    actors = [ledger_actor_config()]
    if settings.progress:
        actors.append(
            ImportableActorConfig(
                actor_path="quant_scalper.backtest.progress:BacktestProgress",
                config_path="quant_scalper.backtest.progress:BacktestProgressConfig",
                config={
                    "bar_types": [c.bar_type for c in contracts],
                    "total_bars": sum(c.bar_count for c in contracts),
                },
            ),
        )
    if settings.journal and journal_run_id:
        actors.append(journal_actor_config(settings, contracts, journal_run_id))
    return BacktestRunConfig(
        venues=[
            BacktestVenueConfig(
                name=venue.name,
                oms_type=venue.oms_type,
                account_type=venue.account_type,
                base_currency=venue.base_currency,
                starting_balances=[venue.starting_balance],
                fee_model=ImportableFeeModelConfig(
                    fee_model_path="nautilus_trader.backtest.models:PerContractFeeModel",
                    config_path="nautilus_trader.backtest.config:PerContractFeeModelConfig",
                    config={"commission": venue.commission_per_contract},
                ),
                # Fills and stop/target triggers use the real bid/ask quote ticks; the trade
                # bars only drive the signal.
                bar_execution=False,
            ),
        ],
        # Quotes first: at equal timestamps the bar-close quote reaches the venue before the bar
        # reaches the strategy, so a market order sent from on_bar fills at that bid/ask.
        data=[
            BacktestDataConfig(
                catalog_path=catalog_path,
                data_cls=QuoteTick,
                instrument_ids=instrument_ids,
                start_time=settings.start,
                end_time=settings.end,
            ),
            BacktestDataConfig(
                catalog_path=catalog_path,
                data_cls=Bar,
                bar_types=[c.bar_type for c in contracts],
                start_time=settings.start,
                end_time=settings.end,
            ),
        ],
        engine=BacktestEngineConfig(
            trader_id=TRADER_ID,
            strategies=strategies,
            actors=actors,
            risk_engine=risk_engine_config(
                settings.risk_engine, int(value_of(settings.strategy, "trade_size")), instrument_ids
            ),
            logging=LoggingConfig(log_level=settings.log_level, bypass_logging=False),
            exec_engine=purging_exec_engine_config(),
        ),
        raise_exception=True,
        dispose_on_completion=False,
    )


def journal_actor_config(
    settings: BacktestSettings, contracts: list[TradedContract], run_id: str
) -> ImportableActorConfig:
    """The journal recorder of a backtest run: book ``backtest:<run_id>``, rows written inline."""
    session = session_fields({**settings.strategy, **settings.risk})
    return ImportableActorConfig(
        actor_path="quant_scalper.journal.recorder:JournalRecorder",
        config_path="quant_scalper.journal.recorder:JournalRecorderConfig",
        config={
            "url": str(settings.journal),
            "password_env": settings.journal_password_env,
            "book": f"backtest:{run_id}",
            "kind": "backtest",
            "config_hash": settings_hash(settings),
            "instrument_id": str(settings.strategy.get("instrument_id")),
            "account_size_cents": int(Decimal(settings.venue.starting_balance.split()[0]) * 100),
            **session,
        },
    )


def settings_hash(settings: BacktestSettings) -> str:
    """sha256 of the effective backtest settings (journal location left out)."""
    values = dataclasses.asdict(settings)
    values.pop("journal", None)
    values.pop("journal_password_env", None)
    values.pop("progress", None)
    text = json.dumps(values, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# Closed orders and positions leave Nautilus's cache this often (simulated minutes), once closed
# at least the buffer long: the ledger recorder keeps what the reports need (issue 14).
PURGE_INTERVAL_MINS = 60
PURGE_BUFFER_MINS = 10


def ledger_actor_config() -> ImportableActorConfig:
    """The ``LedgerRecorder`` every backtest runs: the reports' record of fills and trades."""
    from quant_scalper.backtest.ledger import LEDGER_ACTOR_PATH, LEDGER_CONFIG_PATH

    return ImportableActorConfig(
        actor_path=LEDGER_ACTOR_PATH, config_path=LEDGER_CONFIG_PATH, config={}
    )


def purging_exec_engine_config() -> ExecEngineConfig:
    """Nautilus's execution engine purging closed orders and positions during the run.

    Without it the cache keeps every order of the run, and under NETTING the simulated venue
    walks all of a position's orders on each fill (O(orders²) per run).
    """
    return ExecEngineConfig(
        purge_closed_orders_interval_mins=PURGE_INTERVAL_MINS,
        purge_closed_orders_buffer_mins=PURGE_BUFFER_MINS,
        purge_closed_positions_interval_mins=PURGE_INTERVAL_MINS,
        purge_closed_positions_buffer_mins=PURGE_BUFFER_MINS,
    )


def risk_engine_config(
    engine: RiskEngineSettings,
    trade_size: int,
    instrument_ids: list[str],
) -> RiskEngineConfig:
    """Nautilus's pre-trade risk checks: order rates and a per-order notional cap (USD).

    The default cap is trade_size x multiplier x 10,000 index points (MES, 1 lot: $50,000).
    Shared by the backtest and the live node so both deny the same orders.
    """
    cap = engine.max_notional_per_order_usd
    notional: dict[str, int] = {}
    for instrument_id in instrument_ids:
        symbol = InstrumentId.from_str(instrument_id).symbol.value
        multiplier = spec_for(symbol if symbol in SPECS else _root_of(symbol)).multiplier
        notional[instrument_id] = cap or trade_size * multiplier * NOTIONAL_CAP_INDEX_POINTS
    return RiskEngineConfig(
        max_order_submit_rate=engine.max_order_submit_rate,
        max_order_modify_rate=engine.max_order_modify_rate,
        max_notional_per_order=notional,
    )


def _strategy_config(
    settings: BacktestSettings, contract: TradedContract, rolls: bool = False
) -> dict[str, object]:
    config: dict[str, object] = strategy_fields(settings.strategy, settings.risk)
    config["instrument_id"] = contract.instrument_id
    config["bar_type"] = contract.bar_type
    config["order_id_tag"] = InstrumentId.from_str(contract.instrument_id).symbol.value
    if rolls:  # a later contract follows: flatten at this one's last bar, not at its expiry
        config["trade_until"] = contract.last_bar_ts
    return config


def _traded(segment: ContractSegment, bar_type: BarType) -> TradedContract:
    spec = bar_type.spec
    source = bar_type.aggregation_source.name
    return TradedContract(
        instrument_id=segment.instrument_id,
        bar_type=f"{segment.instrument_id}-{spec}-{source}",
        bar_count=segment.bar_count,
        last_bar_ts=segment.last_bar_ts.isoformat(),
    )


def _root_of(symbol: str) -> str:
    for root in sorted(SPECS, key=len, reverse=True):
        if symbol.startswith(root) and len(symbol) == len(root) + 2:
            return root
    raise ConfigError(
        f"strategy.instrument_id symbol {symbol!r} is neither a contract root "
        f"({', '.join(SPECS)}) nor a contract like MESZ3",
    )


def _available(catalog: Path, root: str) -> list[str]:
    return [s.instrument_id for s in catalog_segments(catalog, root)]


def _check_bar_type_in_catalog(catalog: Path, bar_type: str) -> None:
    folder = catalog / "data" / "bar" / bar_type
    if not folder.is_dir():
        have = sorted(p.name for p in (catalog / "data" / "bar").glob("*"))
        raise CatalogError(
            f"bar type {bar_type} is not in the catalog {catalog}; it has: "
            f"{', '.join(have) or 'no bars'}. Fix strategy.bar_type "
            "(the bundled catalog has 1-MINUTE-LAST-EXTERNAL bars)",
        )
