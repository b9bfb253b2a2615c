"""The environment: the one Paddle import, probes, the fingerprint, doctor."""
