# Sourced by the scripts that drive a running platform (api-fuzz, api-contract,
# console-tests): builds
# the binary, starts `alerting up` on free loopback ports with a fresh embedded
# database and an admin token of its own, and stops it on exit.
#
# After `start_up`: $token, $rule_service, $alert_producer (http://host:port), $binary,
# $work (a scratch folder removed on exit) and $log (the platform's output).
# UP_PROFILE=release builds and runs the release binary; UP_DATABASE_URL runs the
# platform on that database instead of a fresh SQLite one.

start_up() {
  local profile="${UP_PROFILE:-debug}" database=(-u DATABASE_URL)
  if [[ "$profile" == release ]]; then
    cargo build --quiet --release --bin alerting
  else
    cargo build --quiet --bin alerting
  fi
  binary="$(cd "${CARGO_TARGET_DIR:-target}/$profile" && pwd)/alerting"
  if [[ -n "${UP_DATABASE_URL:-}" ]]; then database=("DATABASE_URL=$UP_DATABASE_URL"); fi
  work="$(mktemp -d)"
  log="$work/up.log"
  token="alerting_admin_script_$(python3 -c 'import secrets; print(secrets.token_hex(24))')"
  trap stop_up EXIT
  # Private endpoint addresses allowed: webhooks on loopback, and fuzzed ones are not
  # looked up in DNS.
  # exec: $up_pid is the platform itself, which stop_up signals.
  (cd "$work" && exec env -u KAFKA_BROKERS -u REDIS_URL "${database[@]}" \
    ADMIN_TOKEN="$token" ALLOW_PRIVATE_ENDPOINTS=true INGEST_RATE_LIMIT=0 \
    RULE_SERVICE_ADDR=127.0.0.1:0 ALERT_PRODUCER_ADDR=127.0.0.1:0 DATA_DIR="$work/data" \
    RUST_LOG=warn,alerting=info LOG_FORMAT=text \
    "$binary" up) >"$log" 2>&1 &
  up_pid=$!
  for _ in $(seq 1 60); do
    if grep -q "alert-producer on http://" "$log"; then break; fi
    if ! kill -0 "$up_pid" 2>/dev/null; then cat "$log" >&2; echo "error: alerting up exited" >&2; exit 1; fi
    sleep 1
  done
  local line
  line="$(grep -m1 "alert-producer on http://" "$log" || true)"
  if [[ -z "$line" ]]; then cat "$log" >&2; echo "error: alerting up did not start" >&2; exit 1; fi
  rule_service="$(sed -E 's/.*rule-service on (http:\/\/[0-9.:]+).*/\1/' <<<"$line")"
  alert_producer="$(sed -E 's/.*alert-producer on (http:\/\/[0-9.:]+).*/\1/' <<<"$line")"
}

# A webhook receiver that answers 2xx (the platform's own `alerting sink`): $sink.
start_sink() {
  "$binary" sink --addr 127.0.0.1:0 >"$work/sink.log" 2>&1 &
  extra_pids=$!
  for _ in $(seq 1 30); do
    if grep -q "sink listening on http://" "$work/sink.log"; then break; fi
    sleep 0.5
  done
  sink="$(grep -m1 -o 'http://[0-9.:]*' "$work/sink.log" || true)"
  if [[ -z "$sink" ]]; then cat "$work/sink.log" >&2; echo "error: the sink did not start" >&2; exit 1; fi
}

stop_up() {
  for pid in ${up_pid:-} ${extra_pids:-}; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "${work:-}"
}

# Fails when the platform panicked while the script drove it.
check_no_panic() {
  if grep -q "panicked" "$log"; then
    echo "error: the platform panicked:" >&2
    grep -A5 "panicked" "$log" >&2
    return 1
  fi
}
