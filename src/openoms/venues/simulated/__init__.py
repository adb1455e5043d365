"""A simulated exchange: a pure per-instrument order book and a VenueGateway wrapped around it."""
