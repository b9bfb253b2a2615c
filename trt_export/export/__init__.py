"""Fixed-shape export: the deployment directory, its manifest, and what may replace it."""
