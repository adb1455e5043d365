"""FIX 4.4: framing and encoding (on simplefix), the session layer, and the mapping between FIX
messages and the engine's commands and events. Sockets live in ``openoms.api.fix_acceptor``."""
