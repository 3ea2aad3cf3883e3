"""Torch side of the project: reference model, training and export to nnlite weights.

Nothing outside convert/, bench/ and the parity tests may import this package: torch is for
making weights, never for running them.
"""
