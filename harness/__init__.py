"""harness: a benchmarking harness for GAN image generators."""

__version__ = "0.1.0"
