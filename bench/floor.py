"""The bare floor: the least a Flask app under the same gunicorn settings can do per request.

Every scenario is compared with this app measured in the same run, so the ratio holds on a
noisy machine where absolute figures do not.
"""

from __future__ import annotations

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.get("/floor")
def read_floor():
    """Answer a small JSON document (the floor of ``GET /api/v1/me``)."""
    return jsonify(ok=True, member={"id": 1, "name": "floor"})


@app.post("/floor")
def post_floor():
    """Parse a small JSON body and answer JSON (the floor of every POST scenario)."""
    body = request.get_json()
    return jsonify(ok=True, member_id=body.get("member_id"), quantity=body.get("quantity")), 201
