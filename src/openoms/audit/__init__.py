"""Audit: order reconstruction and compliance queries over the journal (the only store of record)."""
