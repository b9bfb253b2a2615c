"""Inference: backend settings as data, runners behind one interface, inputs and transforms."""
