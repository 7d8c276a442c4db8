"""The refusal table: IB's wording of a rejection -> the problem and what to do."""

from __future__ import annotations

import pytest

from quant_scalper.live.ib_errors import (
    CONTRACT_EXPIRED,
    INACTIVE,
    MARGIN,
    MARKET_CLOSED,
    NO_ANSWER,
    PRICE_LIMITS,
    explain_refusal,
)


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        (
            "Order rejected - reason:YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE DESIRED "
            "POSITION YOUR EQUITY WITH LOAN VALUE [1200.00 USD] MUST EXCEED THE INITIAL MARGIN "
            "[1510.00 USD]",
            MARGIN,
        ),
        ("Order rejected - reason:Insufficient margin for this order", MARGIN),
        ("Order rejected - reason:Trading is not allowed: market closed", MARKET_CLOSED),
        ("Order rejected - reason:The exchange is closed.", MARKET_CLOSED),
        (
            'The following order "ID:12" price exceeds the Percentage constraint of 3%.',
            PRICE_LIMITS,
        ),
        (
            "The price does not conform to the minimum price variation for this contract.",
            PRICE_LIMITS,
        ),
        ("Order rejected - reason:Limit price too far outside of NBBO; price band", PRICE_LIMITS),
        ("No security definition has been found for the request", CONTRACT_EXPIRED),
        ("Order rejected - reason:The contract has expired", CONTRACT_EXPIRED),
        ("Order inactive (IB)", INACTIVE),
        ("UNKNOWN", NO_ANSWER),
    ],
)
def test_known_refusals_name_the_problem(reason: str, expected: object) -> None:
    assert explain_refusal(reason) is expected


def test_unknown_text_is_not_guessed() -> None:
    assert explain_refusal("Order rejected - reason:something new") is None
    assert explain_refusal("") is None


def test_line_names_problem_then_action() -> None:
    assert MARGIN.line() == "margin: deposit funds or lower trade_size"
