"""quant-scalper: Z-score mean reversion on CME Micro E-mini S&P 500 futures for NautilusTrader."""

__version__ = "0.1.0"
