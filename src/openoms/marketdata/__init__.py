"""Market data: a seeded quote simulator and a latest-quote store."""
