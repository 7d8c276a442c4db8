"""Run the TWS peer by hand: ``python -m tests.ibpeer --port 4002``, replaying bundled bars.

Point ``quant-scalper live --config configs/live.paper.yaml`` at it (with
``IB_ACCOUNT_ID=DU1234567``) to watch the node trade without IB Gateway. Test support only.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from tests.ibpeer.market import catalog_bars
from tests.ibpeer.server import IBPeer

REPO = Path(__file__).resolve().parents[2]


def main() -> None:
    """Start the peer, replay the catalog's bars at ``--interval`` seconds each, until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m tests.ibpeer", description=__doc__)
    parser.add_argument("--port", type=int, default=4002)
    parser.add_argument("--account", default="DU1234567")
    parser.add_argument("--catalog", type=Path, default=REPO / "catalog")
    parser.add_argument("--bars", default="MESZ3.CME", help="catalog contract to replay")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds per 1-minute bar")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s ibpeer %(message)s")
    candles = [timed.candle for timed in catalog_bars(args.catalog, args.bars)]
    with IBPeer(account=args.account, port=args.port) as peer:
        peer.play(candles, args.interval)
        print(f"TWS peer on 127.0.0.1:{peer.port}, replaying {len(candles)} bars of {args.bars}")
        try:
            while True:
                time.sleep(5)
                snap = peer.snapshot()
                print(
                    f"bars {snap.bars_pushed}, sessions {snap.sessions}, positions "
                    f"{dict(snap.positions) or '{}'}, working {len(snap.working)}, "
                    f"fills {len(snap.fills)}",
                    flush=True,
                )
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
