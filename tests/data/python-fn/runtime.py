"""The tests' Lambda function: a Runtime API client with the Python standard library only.

HTTP events (API Gateway v2 by rawPath, Envoy by raw_path) are answered by path, as a web service
behind an adapter would answer them:
  /echo            200, JSON body {"event": <the event>}, a header and two cookies (Envoy: its shape)
  /raise           a function error ("raised on purpose")
  /sleep?s=N       answers after N seconds
  /invalid         a result that is not JSON
  /base64-string   a result whose isBase64Encoded is the string "true" (a wrong type)
  /status?code=N   a result with status N (any number, as a lying service would answer)
  /stream          a streamed HTTP integration response (status 201): prelude, then chunks 300 ms apart
  /stream-fail     a streamed response that fails after its first chunk
  anything else    as /echo

Any other event is a command, by its keys (in this order):
  {"append": path}                 the request id appended to the file
  {"probe_extensions_api": path}   Extensions API refusals written there
  {"pid_file": path}               the runtime's pid written there
  {"alloc_mb": n, "hold": s, "keep": b}  n MB touched in 10 MB steps, held s seconds (kept if b)
  {"sleep": s}, {"exit": n}, {"print": line}
  {"error": msg}                   a function error (Custom.Error)
  {"stream": [chunks], "trailer_error": type, "stream_sleep": s, "first_sleep": s}  a streamed
                                   response (first_sleep: a pause after its head, before chunk 1)
  {"big": n}                       a response of n characters
  otherwise the event is echoed with the invocation's metadata, then
  {"then_exit": true}              exits; {"next_then_exit": true} asks for the next event and exits
                                   without reading it; {"again": path} writes the answers to a
                                   second and a wrong-id response there.

At init, env INIT_ERROR / INIT_SLEEP / INIT_COUNTER (INIT_FAIL_NTH, INIT_SLOW_NTH,
INIT_SLOW_SECONDS) / BIND_PORT act.
"""
import base64
import http.client
import json
import os
import socket
import sys
import time
from urllib.parse import parse_qs

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
# "host:port", or (as cargo-lambda hands it out) "http://host:port/prefix".
_address = API.split("://", 1)[-1]
AUTHORITY, _, _prefix = _address.partition("/")
HOST, PORT = AUTHORITY.rsplit(":", 1)
PREFIX = "/" + _prefix if _prefix else ""
BASE = "/2018-06-01/runtime/invocation/"


def call(method, path, body=None, headers=None):
    conn = http.client.HTTPConnection(HOST, int(PORT))
    conn.request(method, PREFIX + path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response, data


def stream(request_id, chunks, content_type, error_type=None, error_body=b"", end_delay=0):
    """POST a streamed response by hand: each (delay, bytes) chunk after its delay, then after
    end_delay the end, with error trailers when error_type is set."""
    sock = socket.create_connection((HOST, int(PORT)))
    head = ("POST %s HTTP/1.1\r\nHost: %s\r\nLambda-Runtime-Function-Response-Mode: streaming\r\n"
            "Transfer-Encoding: chunked\r\nContent-Type: %s\r\n"
            "Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n\r\n"
            ) % (PREFIX + BASE + request_id + "/response", AUTHORITY, content_type)
    sock.sendall(head.encode())
    for delay, chunk in chunks:
        time.sleep(delay)
        sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    time.sleep(end_delay)
    trailers = b""
    if error_type:
        trailers = ("Lambda-Runtime-Function-Error-Type: %s\r\nLambda-Runtime-Function-Error-Body: %s\r\n"
                    % (error_type, base64.b64encode(error_body).decode())).encode()
    sock.sendall(b"0\r\n" + trailers + b"\r\n")
    sock.recv(4096)
    sock.close()


def http_event(request_id, event):
    """An HTTP event: the result to post, or None when it was answered otherwise."""
    envoy = "raw_path" in event
    path = event["raw_path"] if envoy else event["rawPath"]
    query = parse_qs(path.partition("?")[2] if envoy else event.get("rawQueryString", ""))
    path = path.partition("?")[0]
    if path == "/raise":
        body = json.dumps({"errorType": "ValueError", "errorMessage": "raised on purpose"})
        call("POST", BASE + request_id + "/error", body, {"Lambda-Runtime-Function-Error-Type": "ValueError"})
        return None
    if path == "/sleep":
        time.sleep(float(query.get("s", ["1"])[0]))
    if path == "/invalid":
        return "this is { not json"
    if path == "/base64-string":
        return json.dumps({"statusCode": 200, "body": "aGk=", "isBase64Encoded": "true"})
    if path == "/status":
        code = int(query.get("code", ["200"])[0])
        return json.dumps({"statusCode": code, "headers": {"content-type": "text/plain"}, "body": "odd"})
    if path in ("/stream", "/stream-fail"):
        prelude = json.dumps({"statusCode": 201, "headers": {"content-type": "text/plain", "x-streamed": "yes"},
                              "cookies": ["s=1"]}).encode()
        chunks = [(0, prelude + b"\0" * 8 + b"first\n"), (0.3, b"second\n"), (0.3, b"third\n")]
        content_type = "application/vnd.awslambda.http-integration-response"
        if path == "/stream-fail":
            stream(request_id, chunks[:1], content_type, "Stream.Failed", b"stream broke")
        else:
            stream(request_id, chunks, content_type)
        return None
    if envoy:
        return json.dumps({"status_code": 200, "headers": {"content-type": "application/json"},
                           "body": json.dumps({"event": event}), "is_base64_encoded": False})
    return json.dumps({"statusCode": 200, "headers": {"content-type": "application/json", "x-fn": "yes"},
                       "cookies": ["a=1", "b=2"], "body": json.dumps({"event": event})})


held = []


def command(request_id, response, event):
    """Any other event: run it as a command (see the module's docstring)."""
    global held
    command = event if isinstance(event, dict) else {}
    base = BASE + request_id
    if "append" in command:
        with open(command["append"], "a") as f:
            f.write(request_id + "\n")
    if "probe_extensions_api" in command:
        answers = {}
        for label, events in (("internal_shutdown", ["SHUTDOWN"]), ("late_invoke", ["INVOKE"])):
            r, d = call("POST", "/2020-01-01/extension/register", json.dumps({"events": events}),
                        {"Lambda-Extension-Name": "not-a-file"})
            answers[label] = [r.status, json.loads(d)]
        r, d = call("GET", "/2020-01-01/extension/event/next", None,
                    {"Lambda-Extension-Identifier": "no-such-id"})
        answers["unknown_id"] = [r.status, json.loads(d)]
        with open(command["probe_extensions_api"], "w") as f:
            json.dump(answers, f)
    if "pid_file" in command:
        with open(command["pid_file"], "w") as f:
            f.write(str(os.getpid()))
    if "alloc_mb" in command:
        chunk = []
        for _ in range(command["alloc_mb"] // 10):
            chunk.append(b"x" * (10 * 1024 * 1024))
            time.sleep(0.01)
        time.sleep(command.get("hold", 0))
        held = chunk if command.get("keep") else []
    if "sleep" in command:
        time.sleep(command["sleep"])
    if "exit" in command:
        sys.exit(command["exit"])
    if "print" in command:
        print(command["print"], flush=True)
    if "error" in command:
        body = json.dumps({"errorType": "Custom.Error", "errorMessage": command["error"]})
        call("POST", base + "/error", body, {"Lambda-Runtime-Function-Error-Type": "Custom.Error"})
        return
    if "stream" in command:
        pause = command.get("stream_sleep", 0.05)
        first = command.get("first_sleep", 0)
        chunks = [(first if i == 0 else pause, c.encode()) for i, c in enumerate(command["stream"])]
        stream(request_id, chunks, "text/plain", command.get("trailer_error"), b"it broke",
               pause if chunks else 0)
        return
    if "big" in command:
        r, d = call("POST", base + "/response", json.dumps("x" * command["big"]))
        print("big response status", r.status, flush=True)
        return
    result = {
        "event": event,
        "requestId": request_id,
        "deadlineMs": response.getheader("Lambda-Runtime-Deadline-Ms"),
        "invokedFunctionArn": response.getheader("Lambda-Runtime-Invoked-Function-Arn"),
        "traceId": response.getheader("Lambda-Runtime-Trace-Id"),
        "clientContext": response.getheader("Lambda-Runtime-Client-Context"),
        "port": os.environ.get("PORT"),
        "handler": os.environ.get("_HANDLER"),
        "functionName": os.environ.get("AWS_LAMBDA_FUNCTION_NAME"),
        "version": os.environ.get("AWS_LAMBDA_FUNCTION_VERSION"),
        "pid": os.getpid(),
    }
    call("POST", base + "/response", json.dumps(result))
    if "then_exit" in command:
        sys.exit(0)
    if command.get("next_then_exit"):
        sock = socket.create_connection((HOST, int(PORT)))
        sock.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % (PREFIX + BASE + "next")).encode())
        os._exit(0)
    if "again" in command:
        r2, d2 = call("POST", base + "/response", "{}")
        r3, d3 = call("POST", BASE + "nope/response", "{}")
        with open(command["again"], "w") as f:
            json.dump({"second": [r2.status, json.loads(d2)], "wrong": [r3.status, json.loads(d3)]}, f)


if os.environ.get("BIND_PORT"):
    # A "service" on the configured port: init fails if another environment holds it.
    service = socket.socket()
    service.bind(("127.0.0.1", int(os.environ["PORT"])))
    service.listen()
if os.environ.get("INIT_SLEEP"):
    time.sleep(float(os.environ["INIT_SLEEP"]))
if os.environ.get("INIT_COUNTER"):
    # Count inits in a file; the INIT_FAIL_NTH-th one exits, the INIT_SLOW_NTH-th one sleeps
    # INIT_SLOW_SECONDS.
    path = os.environ["INIT_COUNTER"]
    count = (int(open(path).read() or "0") if os.path.exists(path) else 0) + 1
    with open(path, "w") as f:
        f.write(str(count))
    if count == int(os.environ.get("INIT_FAIL_NTH", "0")):
        sys.exit(7)
    if count == int(os.environ.get("INIT_SLOW_NTH", "0")):
        time.sleep(float(os.environ.get("INIT_SLOW_SECONDS", "0")))
if os.environ.get("INIT_ERROR"):
    call("POST", "/2018-06-01/runtime/init/error",
         json.dumps({"errorType": "Init.Failed", "errorMessage": "init failed on purpose"}),
         {"Lambda-Runtime-Function-Error-Type": "Init.Failed"})
    sys.exit(1)

while True:
    response, data = call("GET", BASE + "next")
    request_id = response.getheader("Lambda-Runtime-Aws-Request-Id")
    event = json.loads(data) if data else None
    if isinstance(event, dict) and ("rawPath" in event or "raw_path" in event):
        result = http_event(request_id, event)
        if result is not None:
            call("POST", BASE + request_id + "/response", result)
    else:
        command(request_id, response, event)
