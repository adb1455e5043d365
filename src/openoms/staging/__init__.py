"""Staged orders: a portfolio manager prepares orders, a trader picks them up and releases them
to the market (as ordinary orders, through every check). An engine extension: journaled."""
