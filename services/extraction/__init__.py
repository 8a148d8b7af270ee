"""Fact extraction: the Extractor protocol and its backends."""

from services.extraction.base import Extractor

__all__ = ["Extractor"]
