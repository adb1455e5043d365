"""Sign-in, sign-out, who-am-I, and user administration over HTTP (administrators)."""

from __future__ import annotations

import asyncio
import logging

import msgspec
from fastapi import FastAPI, Request
from fastapi.responses import Response

from ..access.policy import PERMISSIONS, Action, Principal
from ..access.users import UserError
from ..service.views import iso
from .access import AccessControl, bearer
from .rest import BadRequest, decode_body, error_response, json_response

log = logging.getLogger("openoms.access")


class LoginRequest(msgspec.Struct, forbid_unknown_fields=True):
    username: str
    password: str


class NewUserRequest(msgspec.Struct, forbid_unknown_fields=True):
    username: str
    roles: list[str]
    accounts: list[str] = []
    desks: list[str] = []
    password: str | None = None
    display_name: str = ""


class UpdateUserRequest(msgspec.Struct, forbid_unknown_fields=True):
    roles: list[str] | None = None
    accounts: list[str] | None = None
    desks: list[str] | None = None
    disabled: bool | None = None


class PasswordRequest(msgspec.Struct, forbid_unknown_fields=True):
    password: str


class ApiKeyRequest(msgspec.Struct, forbid_unknown_fields=True):
    name: str


def principal_of(request: Request) -> Principal:
    principal = getattr(request.state, "principal", None)
    assert isinstance(principal, Principal), "the access middleware runs before every /api/ route"
    return principal


def me(principal: Principal) -> dict[str, object]:
    return {"user": principal.user, "roles": sorted(principal.roles), "via": principal.via,
            "accounts": "*" if principal.sees_all() else sorted(principal.accounts),
            "tradable_accounts": sorted(principal.accounts) if principal.may(Action.TRADE) else [],
            "actions": sorted(a.value for a in PERMISSIONS if principal.may(a))}


def register_auth_routes(app: FastAPI, control: AccessControl) -> None:
    users = control.users

    def user_error(exc: UserError) -> Response:
        status = 404 if str(exc).startswith("unknown user") else 409 if "already exists" in str(exc) else 422
        return error_response(status, "INVALID_USER", str(exc))

    @app.post("/api/v1/auth/login", tags=["access"], summary="Sign in with a password: a session token that expires",
              openapi_extra={"security": [],
                             "requestBody": {"content": {"application/json": {"schema": msgspec.json.schema(LoginRequest)}}}})
    async def login(request: Request) -> Response:
        body = decode_body(await request.body(), LoginRequest)
        address = request.client.host if request.client is not None else "unknown"
        # Counted before the password is looked at: parallel guesses cannot all pass while argon2 runs.
        refusal = control.throttle.begin(body.username, address)
        if refusal is not None:  # refused before the password is looked at: a right one is refused too
            what = f"user {body.username!r}" if refusal.by == "user" else f"address {address}"
            log.warning("sign-in throttled: %s (%s from %s), retry after %d s", what, body.username, address, refusal.retry_after_s)
            control.users.record_denial(body.username, "login", f"throttled: too many failed sign-ins for {what} (from {address})")
            refused = error_response(429, "TOO_MANY_SIGN_INS",
                                     f"too many failed sign-ins for {what}; try again in {refusal.retry_after_s} s",
                                     {"by": refusal.by, "retry_after_s": refusal.retry_after_s, "max_failures": refusal.failures})
            refused.headers["Retry-After"] = str(refusal.retry_after_s)
            return refused
        # argon2 takes tens of milliseconds on purpose: off the event loop, so trading goes on.
        signed_in: bool | None = None  # None: the check itself failed (user store away), nothing to count
        try:
            result = await asyncio.to_thread(users.login, body.username, body.password)
            signed_in = result is not None
        finally:
            control.throttle.end(body.username, address, signed_in)
        if result is None:
            control.users.record_denial(body.username, "login", f"wrong username or password (from {address})")
            return error_response(401, "BAD_CREDENTIALS", "wrong username or password")
        token, expires_at = result
        found = users.authenticate(token)
        assert found is not None
        return json_response({"token": token, "expires_at": iso(expires_at), **me(control.principal_of(found[0], found[1]))})

    @app.post("/api/v1/auth/logout", tags=["access"], summary="End this session")
    async def logout(request: Request) -> Response:
        credential = bearer(request.scope["headers"])
        if credential is not None and not credential.startswith("oms_"):
            users.logout(credential)
        return json_response({"signed_out": True})

    @app.get("/api/v1/auth/me", tags=["access"], summary="Who is calling: roles, accounts and allowed actions")
    async def who_am_i(request: Request) -> Response:
        return json_response(me(principal_of(request)))

    @app.get("/api/v1/users", tags=["access"], summary="Users with their roles and entitlements (administrator)")
    async def list_users() -> Response:
        return json_response({"users": [u.as_dict() for u in users.all()], "api_keys": users.api_keys()})

    @app.get("/api/v1/users/changes", tags=["access"], summary="Who changed which user, when (administrator)")
    async def user_changes() -> Response:
        return json_response({"changes": [{**c, "time": iso(int(c["ts"]))} for c in users.changes()],  # type: ignore[call-overload]
                              "denials": [{**d, "time": iso(int(d["ts"]))} for d in users.denials()]})  # type: ignore[call-overload]

    @app.post("/api/v1/users", status_code=201, tags=["access"], summary="Create a user (administrator)",
              openapi_extra={"requestBody": {"content": {"application/json": {"schema": msgspec.json.schema(NewUserRequest)}}}})
    async def create_user(request: Request) -> Response:
        body = decode_body(await request.body(), NewUserRequest)
        try:
            user = await asyncio.to_thread(users.create, body.username, body.roles, body.accounts, body.desks, body.password,
                                           body.display_name, principal_of(request).user)
        except UserError as exc:
            return user_error(exc)
        return json_response(user.as_dict(), 201)

    @app.patch("/api/v1/users/{username}", tags=["access"], summary="Change roles, entitlements or disable (administrator)")
    async def update_user(username: str, request: Request) -> Response:
        body = decode_body(await request.body(), UpdateUserRequest)
        try:
            user = users.update(username, principal_of(request).user, body.roles, body.accounts, body.desks, body.disabled)
        except UserError as exc:
            return user_error(exc)
        return json_response(user.as_dict())

    @app.post("/api/v1/users/{username}/password", tags=["access"], summary="Set a password; ends the user's sessions")
    async def set_password(username: str, request: Request) -> Response:
        body = decode_body(await request.body(), PasswordRequest)
        try:
            await asyncio.to_thread(users.set_password, username, body.password, principal_of(request).user)
        except UserError as exc:
            return user_error(exc)
        return json_response({"username": username, "password_set": True})

    @app.post("/api/v1/users/{username}/api-keys", status_code=201, tags=["access"],
              summary="Issue an API key for a system acting as this user (shown once)")
    async def issue_key(username: str, request: Request) -> Response:
        body = decode_body(await request.body(), ApiKeyRequest)
        if not body.name.strip():
            raise BadRequest(422, "INVALID_FIELD", "an API key needs a name (what system uses it)")
        try:
            key = users.issue_api_key(username, body.name, principal_of(request).user)
        except UserError as exc:
            return user_error(exc)
        return json_response({"username": username, "name": body.name, "api_key": key}, 201)
