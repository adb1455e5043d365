"""Scale-out on NATS JetStream (first cut): engine shards own a hash partition of accounts and
consume their partition's commands from a JetStream stream; gateways publish commands there.
See partition.py (who owns what), shard.py (the engine side) and gateway.py (the client side)."""
