#!/bin/sh
# The function's handler: starts the unmodified service. /opt/bootstrap (the lambda-mesh layer)
# runs it; the extension forwards invocations to it on $PORT.
exec python3 "$(dirname "$0")/app.py"
