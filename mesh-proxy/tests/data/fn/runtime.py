"""mesh-proxy test function: a Runtime API client, standard library only.

It answers HTTP API (v2) events by rawPath, Envoy events by raw_path, and echoes anything else
(pass-through):
  /echo            200, JSON body {"event": <the event>}, a header and two cookies
  /raise           a function error
  /sleep?s=N       answers after N seconds
  /invalid         a result that is not JSON
  /stream          a streamed HTTP integration response: prelude, then chunks 300 ms apart
  /stream-fail     a streamed response that fails after its first chunk
"""
import http.client
import json
import os
import socket
import time
from urllib.parse import parse_qs

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
HOST, PORT = API.split(":")
BASE = "/2018-06-01/runtime/invocation/"


def call(method, path, body=None, headers=None):
    conn = http.client.HTTPConnection(HOST, int(PORT))
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response, data


def stream(request_id, chunks, fail=False):
    """POST a streamed response by hand: chunked encoding, error trailers when failing."""
    sock = socket.create_connection((HOST, int(PORT)))
    head = (
        "POST " + BASE + request_id + "/response HTTP/1.1\r\n"
        "Host: " + API + "\r\n"
        "Lambda-Runtime-Function-Response-Mode: streaming\r\n"
        "Content-Type: application/vnd.awslambda.http-integration-response\r\n"
        "Transfer-Encoding: chunked\r\n"
        "Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n\r\n"
    )
    sock.sendall(head.encode())
    for delay, chunk in chunks:
        time.sleep(delay)
        sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    trailers = b""
    if fail:
        trailers = b"Lambda-Runtime-Function-Error-Type: Stream.Failed\r\nLambda-Runtime-Function-Error-Body: c3RyZWFtIGJyb2tl\r\n"
    sock.sendall(b"0\r\n" + trailers + b"\r\n")
    sock.recv(4096)
    sock.close()


def handle(request_id, event):
    path = event.get("rawPath") or event.get("raw_path") if isinstance(event, dict) else None
    if path is None:
        return json.dumps(event)
    query = parse_qs(event.get("rawQueryString", "") if "rawPath" in event else path.partition("?")[2])
    path = path.partition("?")[0]
    if path == "/raise":
        body = json.dumps({"errorType": "ValueError", "errorMessage": "raised on purpose"})
        call("POST", BASE + request_id + "/error", body, {"Lambda-Runtime-Function-Error-Type": "ValueError"})
        return None
    if path == "/sleep":
        time.sleep(float(query.get("s", ["1"])[0]))
    if path == "/invalid":
        return "this is { not json"
    if path in ("/stream", "/stream-fail"):
        prelude = json.dumps({"statusCode": 201, "headers": {"content-type": "text/plain", "x-streamed": "yes"},
                              "cookies": ["s=1"]}).encode()
        chunks = [(0, prelude + b"\0" * 8 + b"first\n"), (0.3, b"second\n"), (0.3, b"third\n")]
        if path == "/stream-fail":
            stream(request_id, chunks[:1], fail=True)
        else:
            stream(request_id, chunks)
        return None
    if "raw_path" in event:
        return json.dumps({"status_code": 200, "headers": {"content-type": "application/json"},
                           "body": json.dumps({"event": event}), "is_base64_encoded": False})
    return json.dumps({"statusCode": 200, "headers": {"content-type": "application/json", "x-fn": "yes"},
                       "cookies": ["a=1", "b=2"], "body": json.dumps({"event": event})})


while True:
    response, data = call("GET", BASE + "next")
    request_id = response.getheader("Lambda-Runtime-Aws-Request-Id")
    event = json.loads(data) if data else None
    result = handle(request_id, event)
    if result is not None:
        call("POST", BASE + request_id + "/response", result)
