# Shared helpers for the glidein bats tests.
# shellcheck shell=bash

bats_require_minimum_version 1.5.0

GLIDEIN_DIR="$(cd "${BATS_TEST_DIRNAME}/../../glidein" && pwd)"
export GLIDEIN_DIR

# free_port: print a free TCP port on 127.0.0.1
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# http_start DIR: serve DIR with python -m http.server; sets HTTP_PORT and HTTP_PID
http_start() {
  HTTP_PORT=$(free_port)
  python3 -m http.server "$HTTP_PORT" --bind 127.0.0.1 --directory "$1" >/dev/null 2>&1 &
  HTTP_PID=$!
  local i
  for ((i = 0; i < 100; i++)); do
    curl -fs -o /dev/null "http://127.0.0.1:${HTTP_PORT}/" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

http_stop() {
  if [[ -n ${HTTP_PID:-} ]]; then
    kill "$HTTP_PID" 2>/dev/null || true
    wait "$HTTP_PID" 2>/dev/null || true
  fi
  return 0
}

# json_get FILE LINE KEY...: print a value of the LINE-th JSON record (1-based) of FILE
json_get() {
  python3 - "$@" <<'PY'
import json, sys
path, line, *keys = sys.argv[1:]
rec = json.loads(open(path, encoding="utf-8").read().splitlines()[int(line) - 1])
for k in keys:
    rec = rec[k]
print(rec)
PY
}
