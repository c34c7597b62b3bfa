"""The limit for the look-up benchmark: a bare WSGI application doing the same indexed
SELECT (number key -> username, full name), served by gunicorn exactly like cardid."""

import json
import os
import sqlite3

URL = os.environ["CARDID_DATABASE_URL"]
SQL = (
    "SELECT u.username, u.full_name FROM cards_card c JOIN directory_user u "
    "ON u.id = c.user_id WHERE c.number_key = {p} AND u.enabled"
)
_conn = None


def connection():
    global _conn
    if _conn is None:
        if URL.startswith("sqlite:///"):
            _conn = sqlite3.connect(URL.removeprefix("sqlite:///"), check_same_thread=False)
        else:
            import psycopg

            _conn = psycopg.connect(URL.replace("postgres://", "postgresql://"), autocommit=True)
    return _conn


def application(environ, start_response):
    size = int(environ.get("CONTENT_LENGTH") or 0)
    number = json.loads(environ["wsgi.input"].read(size))["number"].strip().lower()
    conn = connection()
    placeholder = "?" if isinstance(conn, sqlite3.Connection) else "%s"
    row = conn.execute(SQL.format(p=placeholder), (number,)).fetchone()
    if row is None:
        start_response("404 Not Found", [("Content-Type", "application/json")])
        return [b'{"detail": "not found"}']
    body = json.dumps({"username": row[0], "full_name": row[1]}).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]
