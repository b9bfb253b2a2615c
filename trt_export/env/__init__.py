"""The environment: the one Paddle import, probes, the fingerprint, the acceptance-run collector."""
