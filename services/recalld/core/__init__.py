"""The core: memory pipeline, reconciliation with the vector index, hybrid retrieval, fusion.

Knows the stores only through recalld.kernel.ports; knows nothing of gRPC."""
