"""humwatch: listen to industrial machines and say when one starts to sound wrong."""

__version__ = "0.1.0"
