"""Signal rules and bracket sizing: pure logic, no engine."""

from decimal import Decimal

import pytest

from quant_scalper.signals import Action, Side, SignalRules, usd_to_points

RULES = SignalRules(entry_z=2.0, exit_z=0.5)


@pytest.mark.parametrize(
    ("z", "side", "action"),
    [
        (None, Side.FLAT, Action.HOLD),
        (-2.0, Side.FLAT, Action.ENTER_LONG),
        (-2.5, Side.FLAT, Action.ENTER_LONG),
        (-1.99, Side.FLAT, Action.HOLD),
        (2.0, Side.FLAT, Action.ENTER_SHORT),
        (1.99, Side.FLAT, Action.HOLD),
        (0.5, Side.LONG, Action.EXIT),
        (-0.5, Side.SHORT, Action.EXIT),
        (0.0, Side.LONG, Action.EXIT),
        (-0.51, Side.LONG, Action.HOLD),
        (-3.0, Side.LONG, Action.HOLD),  # stretched further: the stop loss handles it
        (1.0, Side.SHORT, Action.HOLD),
        (2.0, Side.LONG, Action.EXIT),  # opposite extreme closes, does not reverse
        (-2.0, Side.SHORT, Action.EXIT),
        (None, Side.LONG, Action.HOLD),
    ],
)
def test_decide(z: float | None, side: Side, action: Action) -> None:
    assert RULES.decide(z, side) is action


@pytest.mark.parametrize(
    ("entry", "exit_"), [(0.5, 0.5), (0.4, 0.5), (2.0, -0.1), (float("nan"), 0.5)]
)
def test_rules_reject_inconsistent_thresholds(entry: float, exit_: float) -> None:
    with pytest.raises(ValueError):
        SignalRules(entry_z=entry, exit_z=exit_)


def test_entry_must_exceed_exit_message_names_both() -> None:
    with pytest.raises(ValueError, match=r"entry_z \(0.4\) must be greater than exit_z \(0.5\)"):
        SignalRules(entry_z=0.4, exit_z=0.5)


@pytest.mark.parametrize(
    ("usd", "multiplier", "points"),
    [
        ("200", "5", "40.00"),  # MES stop
        ("300", "5", "60.00"),  # MES target
        ("200", "50", "4.00"),  # ES stop
        ("7", "5", "1.50"),  # 1.4 points -> nearest tick
        ("0.5", "5", "0.25"),  # never below one tick
        ("3.125", "5", "0.75"),  # 0.625 = 2.5 ticks: halves round up
    ],
)
def test_usd_to_points(usd: str, multiplier: str, points: str) -> None:
    assert usd_to_points(Decimal(usd), Decimal(multiplier), Decimal("0.25")) == Decimal(points)


def test_usd_to_points_rejects_non_positive() -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        usd_to_points(Decimal(0), Decimal(5), Decimal("0.25"))


def test_gap_rule_restarts_only_after_a_gap_longer_than_the_limit() -> None:
    from quant_scalper.signals import DEFAULT_MAX_BAR_GAP_MINUTES, NS_PER_MINUTE, gap_restarts

    assert DEFAULT_MAX_BAR_GAP_MINUTES == 10
    t = 1_000 * NS_PER_MINUTE
    assert not gap_restarts(None, t, 10)  # the first bar
    assert not gap_restarts(t, t + 10 * NS_PER_MINUTE, 10)  # exactly the limit
    assert gap_restarts(t, t + 10 * NS_PER_MINUTE + 1, 10)
    assert gap_restarts(t, t + 16 * NS_PER_MINUTE, 10)  # the 15:15-15:30 break
    assert not gap_restarts(t, t + 10**6 * NS_PER_MINUTE, None)  # off
