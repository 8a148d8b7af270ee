"""The kernel: domain values, errors, the filter model and the ports (store protocols).

Imports nothing else of recalld."""
