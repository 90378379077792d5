"""TCP: segments -> connections -> per-direction in-order byte streams, with gaps reported."""
