"""The node's HTTP API: a Flask application factory over the domain layer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, abort, request
from werkzeug.middleware.proxy_fix import ProxyFix

from consortium import __version__
from consortium.api import (
    access,
    alliance,
    attestations,
    contracts,
    datasets,
    federation,
    inbox,
    ledger,
    node_info,
    people,
    witness,
)
from consortium.api.bodies import check_body
from consortium.api.context import BEARER
from consortium.api.problems import ProblemApi
from consortium.node import Node
from consortium.text import text_problem


def create_app(node: Node | Path | str, **settings: Any) -> Flask:
    """Build the app for an open `Node` or the data directory of one."""
    if not isinstance(node, Node):
        node = Node.open(Path(node))
    app = Flask("consortium")
    app.config.update(
        API_TITLE="consortium node",
        API_VERSION=__version__,
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        MAX_CONTENT_LENGTH=1 << 20,
        JSON_SORT_KEYS=False,
    )
    app.config.update(settings)
    app.extensions["consortium.node"] = node
    if node.config.trusted_proxies:
        # The client's address is what the proxies say it is (sign-in throttling counts by it),
        # and so are the scheme and host it addressed (a member node signs the URI it called).
        proxies = node.config.trusted_proxies
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies
        )
    api = ProblemApi(app)
    api.spec.components.security_scheme(
        BEARER, {"type": "http", "scheme": "bearer", "description": "A `consortium token`."}
    )
    for module in (
        node_info,
        ledger,
        attestations,
        people,
        datasets,
        contracts,
        access,
        inbox,
        alliance,
        federation,
        witness,
    ):
        api.register_blueprint(module.blp)

    app.before_request(check_body)

    @app.before_request
    def _no_control_characters_in_paths() -> None:
        # Ids in paths reach SQL; PostgreSQL text cannot even hold a NUL.
        if text_problem(request.path):
            abort(404)

    return app
