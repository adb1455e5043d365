"""The pure domain: orders, instruments, accounts, events. No I/O, no clock, no randomness."""
