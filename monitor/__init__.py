"""Pamir news monitor: poll news sources, catch the stories about GBAO and the Pamiris, deliver digests."""

__version__ = "0.1.0"
