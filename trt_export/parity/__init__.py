"""Parity: compare exported outputs with the dygraph model's, and find what breaks them."""
