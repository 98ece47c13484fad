"""Launchers: how jobs reach a device. Nothing in the library imports them."""
