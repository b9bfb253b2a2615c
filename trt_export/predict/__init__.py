"""Tiled prediction of scenes of any size with a fixed-shape export."""
