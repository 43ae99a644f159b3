"""An ordinary HTTP service, standard library only, that knows nothing about Lambda.

Run it anywhere with `python3 app.py` (listens on $PORT, default 8080). Behind the lambda-mesh
layer it serves Lambda invocations unchanged.

Endpoints:
  GET  /                      readiness: 200 "ok"
  GET  /hello?name=X          a greeting including X
  ANY  /echo/... (and any path not listed here)
                              the request as JSON: method, path, raw query, headers (in order,
                              repeats kept), cookies, body as base64
  POST /events                pass-through events (SQS, SNS, ...): echoed like /echo
  GET  /status/NNN            answers status NNN
  GET  /big?bytes=N           N bytes of text
  GET  /sleep?ms=N            answers after N milliseconds
  GET  /stream?chunks=N&delay_ms=M   N chunks, M ms apart (chunked transfer encoding)
  ANY  /crash                 the process exits mid-request (for crash tests)
  GET  /set-cookies           two Set-Cookie headers
"""

import base64
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the extension expects
    server_version = "hello-python"

    def log_message(self, fmt, *args):
        sys.stderr.write("hello-python: " + (fmt % args) + "\n")

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status, body, content_type="text/plain; charset=utf-8", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _echo(self, body):
        url = urlsplit(self.path)
        cookies = []
        for header in self.headers.get_all("Cookie") or []:
            cookies.extend(c.strip() for c in header.split(";") if c.strip())
        answer = {
            "method": self.command,
            "path": url.path,
            "query": url.query,
            "headers": [[name.lower(), value] for name, value in self.headers.items()],
            "cookies": cookies,
            "body_base64": base64.b64encode(body).decode("ascii"),
        }
        self._send(200, json.dumps(answer).encode(), "application/json")

    def _stream(self, query):
        chunks = int(query.get("chunks", ["3"])[0])
        delay = int(query.get("delay_ms", ["100"])[0]) / 1000.0
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i in range(chunks):
            data = f"chunk {i}\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
            time.sleep(delay)
        self.wfile.write(b"0\r\n\r\n")

    def _handle(self):
        body = self._body()
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        path = url.path
        if path == "/":
            self._send(200, b"ok")
        elif path == "/hello":
            name = query.get("name", ["world"])[0]
            self._send(200, f"Hello, {name}!".encode())
        elif path == "/echo" or path.startswith("/echo/") or path == "/events":
            self._echo(body)
        elif path.startswith("/status/"):
            self._send(int(path.rsplit("/", 1)[1]), b"status")
        elif path == "/big":
            size = int(query.get("bytes", ["1024"])[0])
            self._send(200, (b"abcdefghij" * (size // 10 + 1))[:size])
        elif path == "/sleep":
            time.sleep(int(query.get("ms", ["100"])[0]) / 1000.0)
            self._send(200, b"slept")
        elif path == "/stream":
            self._stream(query)
        elif path == "/crash":
            sys.stderr.write("hello-python: crashing on request\n")
            sys.stderr.flush()
            os._exit(3)
        elif path == "/set-cookies":
            self._send(200, b"cookies", extra=[("Set-Cookie", "a=1; Path=/"), ("Set-Cookie", "b=2; HttpOnly")])
        else:
            # Any other path echoes too, so every event shape's own path can be checked.
            self._echo(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle


def main():
    port = int(os.environ.get("PORT", "8080"))
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    sys.stderr.write(f"hello-python: listening on 127.0.0.1:{port}\n")
    server.serve_forever()


if __name__ == "__main__":
    main()
