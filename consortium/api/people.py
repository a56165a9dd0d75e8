"""People, sign-in, member institutions and settings: the node's administration."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import request
from flask.views import MethodView
from flask_smorest import abort
from marshmallow import Schema, fields, validate

from consortium.api.blueprint import Blueprint
from consortium.api.context import BEARER, actor, body, node, require_actor
from consortium.api.problems import PROBLEM_JSON, ProblemSchema
from consortium.api.schemas import MemberView, PersonView, SettingsView
from consortium.auth import people, throttle
from consortium.auth.roles import ADMIN, ROLES, Actor
from consortium.auth.tokens import create_token
from consortium.registry import members, settings
from consortium.text import Text

SESSION = timedelta(hours=12)
SECURED = {"security": [{BEARER: []}]}

blp = Blueprint(
    "administration",
    __name__,
    url_prefix="/api/v1",
    description="Sign-in, people and roles, member institutions, settings.",
)


class LoginSchema(Schema):
    username = Text(required=True)
    password = Text(required=True, load_only=True)
    roles = fields.List(
        Text(),
        validate=validate.Length(min=1),
        metadata={"description": "Limit the token to these of your roles."},
    )


class LoginResult(Schema):
    token = Text(metadata={"description": "Bearer token; shown once."})
    expires_at = fields.DateTime()
    username = Text()
    roles = fields.List(Text())


class PasswordSchema(Schema):
    current_password = Text(required=True, load_only=True)
    new_password = Text(required=True, load_only=True)


THROTTLED = {
    "schema": ProblemSchema,
    "content_type": PROBLEM_JSON,
    "description": "Too many wrong passwords for this account or from this address; "
    "`Retry-After` says how many seconds to wait.",
    "headers": {"Retry-After": {"schema": {"type": "integer"}}},
}


def _check_password(username: str, password: str) -> Actor | None:
    """`throttle.sign_in` for this request's client, on the node's clock."""
    return throttle.sign_in(
        node().engine, username, password, request.remote_addr, node().ledger.clock
    )


def _person(row: Any, entry: int | None = None) -> dict[str, Any]:
    """A person as shown; ``entry`` only in the answer to a change (see `EntryRef`)."""
    return row._asdict() | ({} if entry is None else {"entry": entry})


@blp.route("/auth/login")
class Login(MethodView):
    @blp.arguments(LoginSchema)
    @blp.response(201, LoginResult)
    @blp.alt_response(429, **THROTTLED)
    def post(self, data: dict[str, Any]) -> dict[str, Any]:
        """Sign in with a password; get a bearer token valid for 12 hours.

        After repeated wrong passwords for an account or from an address, sign-in answers 429
        with `Retry-After` (seconds) until the wait is over, without checking the password.
        """
        who = _check_password(data["username"], data["password"])
        if who is None:
            abort(401, message="Unknown username or wrong password.")
        roles = data.get("roles")
        if roles is not None and not set(roles) <= who.roles:
            abort(403, message="You do not hold every role you asked for.")
        secret, info = create_token(node().engine, who.name, SESSION, roles)
        granted = [r for r in ROLES if r in (set(roles) if roles is not None else who.roles)]
        return {
            "token": secret,
            "expires_at": info.expires_at,
            "username": who.name,
            "roles": granted,
        }


@blp.route("/me")
class Me(MethodView):
    @blp.doc(**SECURED)
    @require_actor()
    @blp.response(200, PersonView)
    def get(self) -> dict[str, Any]:
        """Who the token acts for, with the roles in effect."""
        with node().engine.connect() as conn:
            row = people.get_person(conn, actor().name)
        return {**_person(row), "roles": [r for r in ROLES if r in actor().roles]}


@blp.route("/me/password")
class MyPassword(MethodView):
    @blp.doc(**SECURED)
    @require_actor()
    @blp.arguments(PasswordSchema)
    @blp.response(204)
    @blp.alt_response(429, **THROTTLED)
    def put(self, data: dict[str, Any]) -> None:
        """Change your own password (needs the current one; wrong ones are throttled like
        sign-in)."""
        engine = node().engine
        if _check_password(actor().name, data["current_password"]) is None:
            abort(403, message="The current password is wrong.")
        people.set_password(engine, actor().name, data["new_password"])


@blp.route("/people")
class People(MethodView):
    @blp.doc(**SECURED)
    @require_actor()
    @blp.response(200, PersonView(many=True))
    def get(self) -> list[dict[str, Any]]:
        """People of this institution and their roles: everyone for an admin; the staff, the
        leads and oneself for anyone else signed in."""
        return [_person(r) for r in people.list_people(node().engine, actor())]

    @blp.doc(**SECURED)
    @require_actor(ADMIN)
    @blp.arguments(people.PersonSchema)
    @blp.response(201, PersonView)
    def post(self, _: dict[str, Any]) -> dict[str, Any]:
        """Add a person with their roles (admin). Set a password with the CLI."""
        event = people.add_person(node().ledger, actor(), body())
        with node().engine.connect() as conn:
            return _person(people.get_person(conn, event.body["username"]), event.index)


@blp.route("/people/<username>/roles")
class PersonRoles(MethodView):
    @blp.doc(**SECURED)
    @require_actor(ADMIN)
    @blp.arguments(people.RolesSchema)
    @blp.response(200, PersonView)
    def put(self, _: dict[str, Any], username: str) -> dict[str, Any]:
        """Replace a person's roles (admin)."""
        event = people.change_roles(node().ledger, actor(), username, body())
        with node().engine.connect() as conn:
            return _person(people.get_person(conn, username), event.index)


@blp.route("/people/<username>/deactivate")
class PersonDeactivate(MethodView):
    @blp.doc(**SECURED)
    @require_actor(ADMIN)
    @blp.arguments(people.DeactivateSchema)
    @blp.response(200, PersonView)
    def post(self, _: dict[str, Any], username: str) -> dict[str, Any]:
        """Deactivate a person: their tokens and password stop working at once (admin)."""
        event = people.deactivate_person(node().ledger, actor(), username, body())
        with node().engine.connect() as conn:
            return _person(people.get_person(conn, username), event.index)


@blp.route("/members")
class Members(MethodView):
    @blp.response(200, MemberView(many=True))
    def get(self) -> list[dict[str, Any]]:
        """Member institutions this node knows, with their keys (public)."""
        return [r._asdict() for r in members.list_members(node().engine)]

    @blp.doc(**SECURED)
    @require_actor(ADMIN)
    @blp.arguments(members.MemberSchema)
    @blp.response(201, MemberView)
    def post(self, _: dict[str, Any]) -> dict[str, Any]:
        """Add a member institution by its node's vkey (admin)."""
        event = members.add_member(node().ledger, actor(), body())
        with node().engine.connect() as conn:
            row = members.get_member(conn, event.body["origin"])
        return {**row._asdict(), "entry": event.index}


@blp.route("/settings")
class Settings(MethodView):
    @blp.response(200, SettingsView)
    def get(self) -> dict[str, Any]:
        """The institution's settings (public: they say what a request must go through)."""
        with node().engine.connect() as conn:
            return settings.current_settings(conn)

    @blp.doc(**SECURED)
    @require_actor(ADMIN)
    @blp.arguments(settings.SettingsSchema)
    @blp.response(200, SettingsView)
    def put(self, _: dict[str, Any]) -> dict[str, Any]:
        """Change settings (admin); fields left out keep their value."""
        event = settings.change_settings(node().ledger, actor(), body())
        with node().engine.connect() as conn:
            return {**settings.current_settings(conn), "entry": event.index}
