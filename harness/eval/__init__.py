"""Scoring: the torch-fidelity adapter, FID/KID from Inception features, cached references, health metrics."""
