"""Peer benchmarks: recalld side by side with other memory systems (see compare.py)."""
