"""Live trading on Interactive Brokers: YAML schema, node builder, emergency flatten, data fetch.

- ``config``: the live YAML schema and its validation (before anything connects)
- ``contract``: which contract month to trade today
- ``node``: gateway probe, ``TradingNode`` builder and runner
- ``status``: the status-file actor
- ``connection``: publishes the IB connection state (the strategy's connection guard)
- ``flatten``: cancel everything and close positions at market
- ``data_fetch``: historical bars from IB into the Parquet catalog
- ``cli``: the ``live``, ``flatten`` and ``data fetch`` commands
"""
