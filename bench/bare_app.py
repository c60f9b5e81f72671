"""The bare endpoint: Flask answering a small JSON document, nothing else. Served by the same
server command and settings as idp, on the same core, it is the floor for discovery, JWKS,
UserInfo and introspection."""

from flask import Flask, jsonify


def create_app() -> Flask:
    app = Flask(__name__)

    @app.get("/")
    def index():
        return jsonify(status="ok", issuer="http://127.0.0.1:8000")

    return app
