//! A seeded, sans-IO network impairment model (filled in by the netem change).
