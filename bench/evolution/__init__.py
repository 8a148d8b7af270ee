"""bench.evolution: does memory stay true as facts change? (python -m bench.evolution)"""
