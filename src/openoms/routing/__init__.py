"""Routing: venues and their health, routing rules, the smart order router (pure parts) and
the ``Router`` that the engine asks where an order goes."""
