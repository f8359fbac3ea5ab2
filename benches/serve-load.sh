#!/usr/bin/env bash
# Load run for `aspen serve`, everything in one run on loopback:
#  1. wrk against the portal's profile download with the store in SQLite (the
#     default) and in PostgreSQL (a throwaway cluster this script starts), and
#     against the account-driven well-known endpoint; nginx serving the same
#     pre-signed file from disk is the reference for static-file speed;
#  2. complete account-driven enrollments per second (benches/enroll.rs: the
#     well-known request, 401, the sign-in page, the sign-in with a one-time
#     code, the token POST that signs a fresh per-user profile), on both stores,
#     against `openssl speed -multi <cores> rsa2048` measured before and after.
#  3. with BASELINE=<git revision>: that revision's server too, on the same
#     download and well-known endpoints (SQLite store), so the ratios to nginx
#     before and after a change come from one run.
# Each wrk run is bounded (DURATION), each enrollment run by ENROLLMENTS.
# Fails if any request errors or answers other than 2xx. The SQLite download
# runs with `download_repeat_window = 0`, so every download is recorded as
# before the repeat window existed (REPEAT_WINDOW=60 measures the default).
#
#   bash benches/serve-load.sh                    # 30 s per wrk run (the documented figures)
#   BASELINE=6d3204b bash benches/serve-load.sh   # and the server of 6d3204b, before/after
#   DURATION=5s ENROLLMENTS=2000 bash benches/serve-load.sh
# BASELINE_TARGET_DIR=<dir> builds the baseline there (e.g. a target folder
# built before, so only what changed is compiled again).
# Needs: wrk, nginx, curl, openssl, python3 and PostgreSQL's server
# (Debian: apt-get install wrk nginx-light curl postgresql).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-30s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
ENROLLMENTS=${ENROLLMENTS:-10000}
DEVICES=${DEVICES:-128}
BASELINE=${BASELINE:-}
BASELINE_TARGET_DIR=${BASELINE_TARGET_DIR:-}
REPEAT_WINDOW=${REPEAT_WINDOW:-0}
# Bob downloads over and over: the per-user issue limit ([serve]
# issues_per_user, 20 an hour by default) would answer all but the first
# 20 with 429. 0 measures issuing, as before the limit existed.
ISSUES_PER_USER=${ISSUES_PER_USER:-0}
# Every simulated device signs in from 127.0.0.1, 128 at once; sign-ins are
# charged to their address before the code is checked (and refunded when it
# is right), so one address's budget ([serve] signin_failures_per_address,
# 10) would refuse most of a burst of right codes. Real devices come from
# their own addresses.
SIGNIN_BUDGET=${SIGNIN_BUDGET:-100000}
# PostgreSQL's durability here matches the SQLite store's (WAL,
# synchronous=NORMAL: a crash of the machine may lose the last commits, never
# corrupts): commits do not wait for their WAL flush. PG_SYNC=on waits.
PG_SYNC=${PG_SYNC:-off}
cores=$(nproc)
for tool in wrk nginx curl openssl python3; do
  command -v "$tool" >/dev/null || { echo "serve-load: $tool is needed" >&2; exit 1; }
done
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$pgbin" ] || pgbin=$(dirname "$(command -v initdb || echo /nonexistent/initdb)")
[ -x "$pgbin/initdb" ] || { echo "serve-load: PostgreSQL is needed (apt-get install postgresql)" >&2; exit 1; }
cargo build --release --quiet
cargo bench --bench enroll --no-run --quiet 2>/dev/null
aspen=$PWD/target/release/aspen
work=$(mktemp -d)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/pg/data/postmaster.pid" ] && as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -m fast -w stop >/dev/null 2>&1 || true
  [ -n "$BASELINE" ] && git worktree remove --force "$work/baseline-src" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
# initdb refuses root: run the cluster as the postgres user then.
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
certs=$PWD/fixtures/certs

# The directory: the demo's users plus the enrolling devices' own users (User
# Enrollment under the Contractors policy), each enrolling once per store.
{ cat fixtures/demo/users.csv
  awk -v n="$ENROLLMENTS" 'BEGIN { for (i = 0; i < n; i++) printf "u%d@contoso.com,u%d@contoso.com,Contractors\n", i, i }'
} > "$work/users.csv"

# ---- PostgreSQL: a throwaway cluster on a free loopback port ----
mkdir -p "$work/pg"
[ "$(id -u)" -eq 0 ] && chown postgres: "$work/pg"
pgport=$(free_port)
as_pg "$pgbin/initdb" -D "$work/pg/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >/dev/null
as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w start -o \
  "-p $pgport -c listen_addresses=127.0.0.1 -c unix_socket_directories=$work/pg -c synchronous_commit=$PG_SYNC -c max_connections=100" >/dev/null
psql() { "$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -h "$work/pg" -p "$pgport" -U postgres "$@"; }
psql -d postgres -c "CREATE ROLE aspen LOGIN" -c "CREATE DATABASE aspen OWNER aspen"
export ASPEN_DATABASE_URL="postgres://aspen@127.0.0.1:$pgport/aspen"

# ---- the servers: the same settings, one store each ----
settings() { # NAME PORT STORE-LINES [DEMO-SETTINGS]
  mkdir -p "$work/$1"
  sed -e "s#\.\./certs/#$certs/#g" -e "s#users = \"users.csv\"#users = \"$work/users.csv\"#" \
    "${4:-fixtures/demo/aspen.toml}" > "$work/$1/aspen.toml"
  printf '\n[portal]\npublic_url = "http://127.0.0.1:%s"\nsecret_file = "portal.secret"\n%b\n' "$2" "$3" >> "$work/$1/aspen.toml"
  (umask 077; openssl rand -hex 32 > "$work/$1/portal.secret")
}
bin() { if [ "$1" = baseline ]; then echo "${BASELINE_TARGET_DIR:-$work/baseline-src/target}/release/aspen"; else echo "$aspen"; fi; }
serve() { # NAME PORT
  "$(bin "$1")" serve -c "$work/$1/aspen.toml" --listen "127.0.0.1:$2" --quiet 2>"$work/$1/serve.log" &
  pids+=($!)
  for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$2/signin" && return; sleep 0.1; done
  echo "serve-load: aspen ($1) did not start: $(cat "$work/$1/serve.log")" >&2; exit 1
}
sport=$(free_port); pport=$(free_port)
settings sqlite "$sport" "state_dir = \"state\"\n\n[serve]\ndownload_repeat_window = $REPEAT_WINDOW\nissues_per_user = $ISSUES_PER_USER\nsignin_failures_per_address = $SIGNIN_BUDGET"
settings postgres "$pport" "\n[store]\nurl_env = \"ASPEN_DATABASE_URL\"\n\n[serve]\ndownload_repeat_window = $REPEAT_WINDOW\nissues_per_user = $ISSUES_PER_USER\nsignin_failures_per_address = $SIGNIN_BUDGET"
serve sqlite "$sport"
serve postgres "$pport"
if [ -n "$BASELINE" ]; then
  git worktree add --detach --quiet "$work/baseline-src" "$BASELINE"
  (cd "$work/baseline-src" && CARGO_TARGET_DIR="${BASELINE_TARGET_DIR:-target}" cargo build --release --quiet)
  bport=$(free_port)
  # The same download recording as the runs above, where the baseline knows the setting.
  bextra='state_dir = "state"'
  if grep -rq download_repeat_window "$work/baseline-src/src"; then
    bextra="$bextra\n\n[serve]\ndownload_repeat_window = $REPEAT_WINDOW"
  fi
  settings baseline "$bport" "$bextra" "$work/baseline-src/fixtures/demo/aspen.toml"
  serve baseline "$bport"
fi

# Sign Bob in (device policy) as a browser would; print his session cookie.
session() { # NAME PORT
  local url="http://127.0.0.1:$2" code page csrf jar="$work/$1/jar"
  code=$("$(bin "$1")" invite -c "$work/$1/aspen.toml" --user bob@contoso.com | awk '/^Code:/ {print $2}')
  page=$(curl -fs -c "$jar" "$url/signin")
  csrf=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' <<<"$page" | head -1)
  curl -fs -o /dev/null -b "$jar" -c "$jar" --data-urlencode "csrf=$csrf" --data-urlencode "code=$code" "$url/signin"
  awk '$6 == "aspen_session" {print $7}' "$jar"
}
ssession=$(session sqlite "$sport")
psession=$(session postgres "$pport")
[ -n "$ssession" ] && [ -n "$psession" ] || { echo "serve-load: sign-in failed" >&2; exit 1; }
if [ -n "$BASELINE" ]; then
  bsession=$(session baseline "$bport")
  [ -n "$bsession" ] || { echo "serve-load: sign-in on the baseline failed" >&2; exit 1; }
fi
download=/enroll/profile.mobileconfig
well_known="/.well-known/com.apple.remotemanagement?user-identifier=bob@contoso.com&model-family=iPhone"

# The same signed file aspen serves, for nginx.
mkdir -p "$work/www"
curl -fs -b "aspen_session=$ssession" -o "$work/www/profile.mobileconfig" "http://127.0.0.1:$sport$download"
openssl cms -verify -inform DER -binary -purpose any -CAfile "$certs/ca.pem" \
  -in "$work/www/profile.mobileconfig" -out /dev/null 2>/dev/null
nport=$(free_port)
cat > "$work/nginx.conf" <<NGINX
user root;
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx.err;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nodelay on;
  server {
    listen 127.0.0.1:$nport;
    root $work/www;
    location = /profile.mobileconfig {
      default_type application/x-apple-aspen-config;
      add_header Content-Disposition 'attachment; filename="profile.mobileconfig"';
      add_header X-Content-Type-Options nosniff;
      add_header Cache-Control no-store;
    }
  }
}
NGINX
nginx -c "$work/nginx.conf" -p "$work" -g 'daemon off;' &
pids+=($!)
for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$nport/profile.mobileconfig" && break; sleep 0.1; done

failed=0
# run NAME URL [HEADER] → prints requests/s, checks for errors
run() {
  local name=$1 target=$2 out
  shift 2
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "$target")
  echo "$out" > "$work/$name.wrk"
  local rps p50 p99 errors non2xx
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errors=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' <<<"$out")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$out")
  errors=${errors:-0}; non2xx=${non2xx:-0}
  printf '| %s | %s | %s | %s | %s |\n' "$name" "$rps" "$p50" "$p99" "$((errors + non2xx))"
  [ "$((errors + non2xx))" -eq 0 ] || failed=1
  eval "rps_${name//-/_}=$rps"
}
issued_rows() { "$aspen" issued -c "$work/$1/aspen.toml" --json | grep -c "\"channel\": \"$2\"" || true; }

echo "machine: $(nproc) cores, $(uname -sr); PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}') (synchronous_commit=$PG_SYNC); load before: $(uptime | sed 's/.*load average: //')"
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION; profile $(stat -c %s "$work/www/profile.mobileconfig") bytes (RSA-2048, signed)"
echo
echo "| endpoint | requests/s | p50 | p99 | errors |"
echo "|---|---|---|---|---|"
run aspen-download-sqlite "http://127.0.0.1:$sport$download" -H "Cookie: aspen_session=$ssession"
run aspen-download-postgres "http://127.0.0.1:$pport$download" -H "Cookie: aspen_session=$psession"
run aspen-well-known "http://127.0.0.1:$sport$well_known"
run nginx-static "http://127.0.0.1:$nport/profile.mobileconfig"
if [ -n "$BASELINE" ]; then
  run before-download "http://127.0.0.1:$bport$download" -H "Cookie: aspen_session=$bsession"
  run before-well-known "http://127.0.0.1:$bport$well_known"
fi
echo
awk -v s="$rps_aspen_download_sqlite" -v p="$rps_aspen_download_postgres" -v n="$rps_nginx_static" 'BEGIN {
  printf "download, PostgreSQL store / SQLite store: %.2f (target >= 0.80)\n", p / s
  printf "download (SQLite store) / nginx static file: %.2f\n", s / n }'
if [ -n "$BASELINE" ]; then
  awk -v d="$rps_aspen_download_sqlite" -v w="$rps_aspen_well_known" -v n="$rps_nginx_static" \
      -v bd="$rps_before_download" -v bw="$rps_before_well_known" -v rev="$BASELINE" 'BEGIN {
    printf "before (%s) / after, as shares of nginx: download %.2f / %.2f (after/before %.2f), well-known %.2f / %.2f (after/before %.2f); budget: after/before >= 0.90\n",
      rev, bd / n, d / n, d / bd, bw / n, w / n, w / bw }'
fi
echo "audit rows recorded: SQLite $(issued_rows sqlite portal), PostgreSQL $(issued_rows postgres portal)"

# ---- account-driven enrollments against openssl's signing rate ----
speed() { openssl speed -seconds 5 -multi "$cores" rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ { print $(NF-1) }'; }
speed_before=$(speed)
enroll() { # NAME PORT
  ENROLL_SETTINGS="$work/$1/aspen.toml" ENROLL_URL="http://127.0.0.1:$2" ENROLL_USERS="$ENROLLMENTS" \
    ENROLL_CONCURRENCY="$DEVICES" cargo bench --quiet --bench enroll 2>"$work/$1/enroll.log" \
    | tee "$work/$1/enroll.out" | awk '/^enrollments:/ { sub(/\/s;.*/, ""); print $NF }'
}
# Mean wall time per step of one enrollment, as the devices saw it.
steps() { sed -n 's/^  \(.*\): \(.*\) ms mean$/\1 \2 ms/p' "$work/$1/enroll.out" | paste -sd ';' | sed 's/;/; /g'; }
enroll_sqlite=$(enroll sqlite "$sport") || { cat "$work/sqlite/enroll.log" >&2; failed=1; }
enroll_postgres=$(enroll postgres "$pport") || { cat "$work/postgres/enroll.log" >&2; failed=1; }
speed_after=$(speed)
echo
echo "account-driven enrollments ($ENROLLMENTS fresh users, $DEVICES devices at once, one RSA-2048 signature each):"
awk -v s="${enroll_sqlite:-0}" -v p="${enroll_postgres:-0}" -v b="$speed_before" -v a="$speed_after" -v c="$cores" 'BEGIN {
  o = (a + b) / 2
  printf "  openssl speed -multi %d rsa2048: %.0f sign/s (before %.0f, after %.0f)\n", c, o, b, a
  printf "  SQLite store:     %.0f enrollments/s = %.2f of openssl (target >= 0.50)\n", s, s / o
  printf "  PostgreSQL store: %.0f enrollments/s = %.2f of openssl (target >= 0.50)\n", p, p / o }'
echo "  steps, SQLite:     $(steps sqlite)"
echo "  steps, PostgreSQL: $(steps postgres)"
echo "  audit rows recorded: SQLite $(issued_rows sqlite account-driven), PostgreSQL $(issued_rows postgres account-driven)"
echo "load after: $(uptime | sed 's/.*load average: //')"
exit $failed
