#!/usr/bin/env bash
# A local Label Studio for the labeling loop, in its own virtual environment (its dependencies
# clash with mihwar's), bound to 127.0.0.1, data in a local folder, one user and an API token
# created without prompts.
#   scripts/label-studio.sh install   create .venv-ls with label-studio from PyPI (once)
#   scripts/label-studio.sh start     start it in the background; prints the URL and the export line for the token
#   scripts/label-studio.sh stop      stop the server this script started
# Environment: LABEL_STUDIO_PORT (8080), LABEL_STUDIO_DATA_DIR (build/label-studio),
# LABEL_STUDIO_USERNAME / LABEL_STUDIO_PASSWORD / LABEL_STUDIO_USER_TOKEN (generated and kept in the data dir).
set -euo pipefail
LS_VERSION=${LS_VERSION:-1.23.2}
VENV=${LS_VENV:-.venv-ls}
DATA=${LABEL_STUDIO_DATA_DIR:-build/label-studio}
PORT=${LABEL_STUDIO_PORT:-8080}
USERNAME=${LABEL_STUDIO_USERNAME:-analyst@mihwar.local}
PY=${PYTHON:-python3}

install() {
  if [ -x "$VENV/bin/label-studio" ]; then return; fi
  echo "installing label-studio==$LS_VERSION into $VENV (a few minutes the first time)..." >&2
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "label-studio==$LS_VERSION"
}

secret() {  # a value kept in the data dir, so a restart keeps the same login and token
  local file="$DATA/$1"
  [ -s "$file" ] || "$PY" -c 'import secrets; print(secrets.token_hex(20))' > "$file"
  cat "$file"
}

start() {
  install
  mkdir -p "$DATA"
  local password token
  password=${LABEL_STUDIO_PASSWORD:-$(secret password)}
  token=${LABEL_STUDIO_USER_TOKEN:-$(secret token)}
  local t0=$SECONDS
  LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK=true nohup "$VENV/bin/label-studio" start --no-browser \
    --data-dir "$DATA" --internal-host 127.0.0.1 --port "$PORT" \
    --username "$USERNAME" --password "$password" --user-token "$token" --enable-legacy-api-token \
    > "$DATA/server.log" 2>&1 &
  echo $! > "$DATA/server.pid"
  for _ in $(seq 1 600); do
    if "$PY" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$PORT/health', timeout=1)" 2>/dev/null; then
      echo "Label Studio is up at http://127.0.0.1:$PORT after $((SECONDS - t0)) s (log: $DATA/server.log)" >&2
      echo "login: $USERNAME / $password" >&2
      echo "export LABEL_STUDIO_API_KEY=$token"
      return
    fi
    kill -0 "$(cat "$DATA/server.pid")" 2>/dev/null || { tail -30 "$DATA/server.log" >&2; exit 1; }
    sleep 0.5
  done
  echo "Label Studio did not answer in 300 s; see $DATA/server.log" >&2
  exit 1
}

stop() {
  [ -f "$DATA/server.pid" ] && kill "$(cat "$DATA/server.pid")" 2>/dev/null && rm -f "$DATA/server.pid" && echo "stopped" >&2 || true
}

"${1:-start}"
