"""Regulatory exports generated from the journal, one trading day at a time (docs/exports.md)."""
