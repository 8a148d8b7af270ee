"""Extractor backends (the protocol lives in recalld.kernel.ports)."""
