"""Model sources: factories, PaddleRS training dirs and files, fixed shapes, model types."""
