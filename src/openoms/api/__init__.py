"""Entrypoints: HTTP (REST) now; WebSocket and FIX later. They translate, they never decide."""
