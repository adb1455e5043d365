"""The README's walkthrough runs as written against a fresh `oms serve` (every curl must succeed)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

README = Path(__file__).resolve().parents[2] / "README.md"


def walkthrough() -> str:
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S)
    return next(block for block in blocks if "curl" in block)


def test_readme_walkthrough_runs_against_oms_serve(server_factory: Any) -> None:
    server = server_factory(trusted_header=False).start()  # sign-in required, as `oms serve` is by default
    script = walkthrough()
    script = script.replace("localhost:8000", f"127.0.0.1:{server.port}")
    script = script.replace("curl -s", "curl -sf")  # an HTTP error fails the step
    script = script.replace(".venv/bin/oms", f"{sys.executable} -m openoms")
    script = script.replace("\ncurl", "\nsleep 0.2\ncurl")  # a person types slower than bash: let the venue answer
    env = dict(os.environ, OMS_DATA_DIR=str(server.data_dir))
    if server.database_url:  # the PostgreSQL run: `oms users` and `oms audit verify` find the database as `oms serve` does
        env["OMS_DATABASE_URL"] = server.database_url
    # `oms users create-admin` asks for the password; piped, it reads one line.
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=120, env=env,
                            input="readme admin password\n")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert '"order_id":"O1"' in result.stdout and "hash chain intact" in result.stdout

    key = subprocess.run([sys.executable, "-m", "openoms", "users", "api-key", "admin", *server.cli_args()],
                         capture_output=True, text=True, check=True).stdout.strip()
    with httpx.Client(base_url=server.url, timeout=5, headers={"Authorization": f"Bearer {key}"}) as client:
        deadline = time.monotonic() + 10
        while client.get("/api/v1/orders/O1").json()["order"]["status"] != "filled" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.get("/api/v1/orders/O1").json()["order"]["status"] == "filled"
        second = client.get("/api/v1/orders/O2").json()["order"]
        assert (second["status"], second["quantity"], second["price"]) == ("canceled", "80", "201.00")
