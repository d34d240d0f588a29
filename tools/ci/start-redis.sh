#!/usr/bin/env bash
# Start a throwaway redis-server on a free loopback port: no persistence (no RDB, no AOF), daemonized,
# its files in a fresh temporary directory. Prints the URL (redis://127.0.0.1:<port>/0) on stdout.
#   export TEST_REDIS_URL="$(tools/ci/start-redis.sh)"
# Stop it with: redis-cli -p <port> shutdown nosave   (or kill "$(cat <dir>/redis.pid)")
set -euo pipefail

server="${REDIS_SERVER:-$(command -v redis-server || true)}"
if [ -z "$server" ]; then
  echo "start-redis.sh: redis-server not found (apt-get install redis-server)" >&2
  exit 1
fi

dir="$(mktemp -d "${TMPDIR:-/tmp}/test-redis.XXXXXX")"
for _ in 1 2 3 4 5; do
  # A free port from the kernel; another process may take it before redis binds, hence the retries.
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
  if "$server" --bind 127.0.0.1 --port "$port" --protected-mode yes \
      --save '' --appendonly no --dir "$dir" \
      --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >/dev/null 2>&1; then
    # Daemonized: wait until it answers (or its log says why it did not start).
    for _ in $(seq 1 100); do
      if python3 - "$port" <<'PY' 2>/dev/null
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.5) as s:
    s.sendall(b"PING\r\n")
    sys.exit(0 if s.recv(16).startswith(b"+PONG") else 1)
PY
      then
        echo "redis://127.0.0.1:$port/0"
        exit 0
      fi
      if [ -f "$dir/redis.pid" ] && ! kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null; then
        break
      fi
      sleep 0.05
    done
  fi
done
echo "start-redis.sh: redis-server did not start; see $dir/redis.log" >&2
exit 1
