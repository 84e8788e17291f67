"""moto_server, with one request served at a time.

DynamoDB applies a conditional write atomically per item. moto's threaded server does not: two
concurrent UpdateItem calls can both pass the same condition. The race tests exist to prove that
the handler relies on that atomicity correctly, so they need a server that has it; serializing
requests gives moto the same guarantee (connections are still accepted concurrently).

Usage: python scripts/moto_server_serial.py HOST PORT
"""

import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


def serialized(app):
    lock = threading.Lock()

    def wrapper(environ, start_response):
        with lock:
            # Materialize the body under the lock: the request is served whole before the next.
            return list(app(environ, start_response))

    return wrapper


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, serialized(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
