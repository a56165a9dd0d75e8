"""The API's blueprints: flask-smorest's, refusing query parameters a route does not take.

webargs ignores unknown query parameters by default. A misspelt or outdated one (``?interval=``
for ``?by=``, ``?stat=active``) would then give a plausible answer to another question — a
report without its trends, every contract instead of the active ones — so every route that
takes query parameters refuses the ones it does not declare, with a 400 naming them. The check
is made here once, for every blueprint, by the parser `Blueprint.arguments` uses.
"""

from __future__ import annotations

from typing import Any

import flask
import flask_smorest
from flask_smorest import abort
from marshmallow import Schema
from webargs.flaskparser import FlaskParser


class QueryParser(FlaskParser):
    """webargs' Flask parser, with unknown query parameters refused rather than dropped."""

    def load_querystring(self, req: flask.Request, schema: Schema) -> Any:
        known = {field.data_key or name for name, field in schema.load_fields.items()}
        unknown = sorted(set(req.args) - known)
        if unknown:
            abort(
                400,
                message=f"Unknown query parameter{'s' if len(unknown) > 1 else ''}: "
                f"{', '.join(unknown)}. This endpoint takes: {', '.join(sorted(known))}.",
                errors={"query": {name: ["Unknown query parameter."] for name in unknown}},
            )
        return super().load_querystring(req, schema)


class Blueprint(flask_smorest.Blueprint):
    """A flask-smorest blueprint whose query parameters are checked by `QueryParser`."""

    ARGUMENTS_PARSER = QueryParser()
