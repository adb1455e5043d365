"""The application layer: the engine runtime (ordering, group commit, dispatch) and its ports."""
