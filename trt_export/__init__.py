"""trt-export: fixed-shape export, parity verification and size benchmarking for Paddle models."""

__version__ = "0.1.0"
