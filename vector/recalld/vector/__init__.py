"""Vector-store backend (Milvus) and embedders."""
