"""``/api/v1/inbox`` and ``/api/v1/me/email``: a person's notifications and where to mail them.

Nothing here goes on the ledger: read state and e-mail addresses are node-local, so any
signed-in person may use these routes for themselves and no one else.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields

from consortium import notifications
from consortium.api.blueprint import Blueprint
from consortium.api.context import BEARER, actor, body, node, require_actor

SECURED = {"security": [{BEARER: []}]}

blp = Blueprint(
    "inbox",
    __name__,
    url_prefix="/api/v1",
    description="Your notifications, and the address they are mailed to.",
)


class NotificationView(Schema):
    id = fields.String(metadata={"description": "The notification's key: entry index:username."})
    entry_index = fields.Integer(metadata={"description": "The ledger entry it is about."})
    kind = fields.String(metadata={"description": "That entry's kind, e.g. access.requested."})
    subject = fields.String()
    text = fields.String()
    link = fields.String(metadata={"description": "The API path of what it is about."})
    created_at = fields.String()
    read = fields.Boolean()
    read_at = fields.String(allow_none=True)


class InboxArgs(Schema):
    unread = fields.Boolean(load_default=False, metadata={"description": "Only unread ones."})


class ContactView(Schema):
    username = fields.String()
    email = fields.String()


@blp.route("/inbox")
class Inbox(MethodView):
    @blp.doc(**SECURED)
    @require_actor()
    @blp.arguments(InboxArgs, location="query")
    @blp.response(200, NotificationView(many=True))
    def get(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        """Your notifications, newest first."""
        return notifications.inbox(node().engine, actor().name, args["unread"])


@blp.route("/inbox/<key>/read")
class ReadNotification(MethodView):
    @blp.doc(**SECURED)
    @require_actor()
    @blp.response(200, NotificationView)
    def post(self, key: str) -> dict[str, Any]:
        """Mark one of your notifications read."""
        return notifications.mark_read(node().engine, actor().name, key)


@blp.route("/me/email")
class MyEmail(MethodView):
    @blp.doc(**SECURED)
    @require_actor()
    @blp.arguments(notifications.ContactSchema)
    @blp.response(200, ContactView)
    def put(self, _: dict[str, Any]) -> dict[str, str]:
        """Set the address your notifications are mailed to (if the node sends mail)."""
        return notifications.set_email(node().engine, actor().name, body())
