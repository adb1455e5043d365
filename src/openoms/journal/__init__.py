"""The append-only, hash-chained event journal and its backends."""
