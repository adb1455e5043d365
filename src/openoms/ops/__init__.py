"""Operations: Prometheus metrics, structured logs, readiness."""
