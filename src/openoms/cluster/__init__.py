"""Scale-out on NATS JetStream: engine shards own a hash partition of accounts and consume their
partition's commands from a JetStream stream; gateways publish commands there and serve the
REST API; a projector turns every shard's events into the read models the gateways read.
See partition.py (who owns what), wire.py (what travels), shard.py (the engine side),
gateway.py and gateway_api.py (the gateway side), projector.py and read_models.py (the reads).
The process roles are ``oms serve --role engine|gateway|projector`` (cli_cluster.py)."""
