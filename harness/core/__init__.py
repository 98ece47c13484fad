"""Plumbing every stage shares: errors, atomic writes, fault points, paths, registries, precision, image conversion."""
