"""cachediag: the cache-kit production troubleshooting guide, executable."""

__version__ = "0.1.0"
