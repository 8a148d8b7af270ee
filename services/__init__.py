"""recalld: long-term memory service for AI applications."""

__version__ = "0.1.0"
