#!/usr/bin/env bash
# Start the local services OpenOMS's integration suites use, when they are down (safe to run
# when they are up). Commands from ../shared/SERVICES.md; needs root on the CI image.
# PostgreSQL: the journal tests run on it as well as on SQLite (tests/conftest.py). NATS with
# JetStream: the engine-shard tests (tests/integration/test_nats_shards.py). Redis and RabbitMQ:
# no test uses them yet.
set -u
up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
start() {  # name port command...
  local name=$1 port=$2; shift 2
  if up "$port"; then echo "services: $name up on $port"; return 0; fi
  echo "services: starting $name"
  "$@" >/dev/null 2>&1 || true
  for _ in $(seq 1 30); do up "$port" && { echo "services: $name up on $port"; return 0; }; sleep 1; done
  echo "services: $name did not come up on $port" >&2
  return 1
}
rc=0
if command -v pg_ctlcluster >/dev/null 2>&1; then
  start postgresql 5432 pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || rc=1
fi
if command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ]; then
  start nats 4222 start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log || rc=1
fi
if command -v redis-server >/dev/null 2>&1; then
  start redis 6379 redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || rc=1
fi
if command -v rabbitmq-server >/dev/null 2>&1; then
  start rabbitmq 5672 rabbitmq-server -detached || rc=1
fi
exit $rc
