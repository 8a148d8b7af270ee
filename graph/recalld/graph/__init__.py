"""Graph-store backends: embedded (SQLite + networkx) and Cypher (Neo4j 5, FalkorDB)."""
