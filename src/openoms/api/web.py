"""The interfaces around the REST routes: access control, the WebSocket stream, the web blotter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from ..access.users import UserStore, open_user_store
from ..bootstrap import OMS
from .access import AccessControl, AccessMiddleware
from .auth_routes import register_auth_routes
from .stream import register_stream

STATIC = Path(__file__).resolve().parent.parent / "web" / "static"


def user_store(oms: OMS) -> UserStore:
    """users.sqlite in the data dir, or the journal's PostgreSQL database (shared by every gateway)."""
    return open_user_store(oms.config)


def install_interfaces(app: FastAPI, oms: OMS, trusted_header: bool) -> None:
    control = AccessControl(oms, user_store(oms), trusted_header)
    app.state.access = control
    register_auth_routes(app, control)
    register_stream(app, oms, control)
    app.add_middleware(AccessMiddleware, control=control, fastapi_app=app)
    declare_bearer_auth(app)
    serve_blotter(app)


def serve_blotter(app: FastAPI) -> None:
    """The blotter: static files shipped in the package (no build step), talking to the API and
    the stream of the app that serves it (a single ``oms serve``, or a cluster gateway)."""
    app.mount("/blotter/static", StaticFiles(directory=STATIC), name="blotter-static")

    @app.get("/", include_in_schema=False)
    async def root() -> Response:
        return RedirectResponse("/blotter")

    @app.get("/blotter", include_in_schema=False)
    async def blotter() -> Response:
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-cache"})


def declare_bearer_auth(app: FastAPI) -> None:
    """The OpenAPI document says every operation takes a bearer token (clients and generators read it)."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        schema = original()
        schema.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {
            "type": "http", "scheme": "bearer", "description": "a session token (POST /api/v1/auth/login) or an API key (oms users api-key)"}
        schema["security"] = [{"bearer": []}]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
