"""Trade journal: fills, round trips, orders, breaker events, equity marks, node status."""
