"""A small web service for the Locust test: GET /item?code=… looks an item up by an unindexed
column (a sequential scan of the items table), like a missing index in a real service.

Run as ``python webapp.py DSN``; prints the port it listens on (127.0.0.1 only), then serves
until killed.
"""

from __future__ import annotations

import queue
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import psycopg

LOOKUP = "SELECT id, grp FROM items WHERE code = %s"
POOL: queue.Queue = queue.Queue()  # idle connections; one thread per request takes one


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        try:
            conn = POOL.get_nowait()
        except queue.Empty:
            conn = psycopg.connect(self.server.dsn, autocommit=True)  # type: ignore[attr-defined]
        code = parse_qs(urlparse(self.path).query).get("code", [""])[0]
        try:
            row = conn.execute(LOOKUP, [code]).fetchone()
        finally:
            POOL.put(conn)
        body = (str(row[0]) if row else "none").encode()
        self.send_response(200 if row else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:  # quiet
        pass


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.dsn = sys.argv[1]  # type: ignore[attr-defined]
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
