"""Market data for quant-scalper: the LEAN reader and the bundled Parquet catalog builder."""
