"""Venue gateways: connections that accept child orders and answer with VenueReport commands."""
