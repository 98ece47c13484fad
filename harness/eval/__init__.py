"""Scoring: a generator under a protocol, the torch-fidelity adapter, FID/KID from features, references, health."""
