"""Factory Commons: an affordable smart factory and a commons for small manufacturers."""

__version__ = "0.1.0"
