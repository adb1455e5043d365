"""Pre-trade risk: limits per level of the hierarchy and the checks every order passes (pure)."""
