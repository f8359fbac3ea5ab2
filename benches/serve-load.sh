#!/usr/bin/env bash
# Load run for `aspen serve`: wrk against the portal's profile download and
# the account-driven well-known endpoint, and against nginx serving the same
# pre-signed file from disk in the same run (the reference for static-file
# speed). Every request on loopback; each wrk run is bounded (DURATION).
# Fails if any request errors or answers other than 2xx.
#
#   bash benches/serve-load.sh            # 30 s per run (the documented figures)
#   DURATION=5s bash benches/serve-load.sh
# Needs: wrk, nginx, curl, openssl (Debian: apt-get install wrk nginx-light curl).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-30s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
for tool in wrk nginx curl openssl; do
  command -v "$tool" >/dev/null || { echo "serve-load: $tool is needed" >&2; exit 1; }
done
cargo build --release --quiet
aspen=$PWD/target/release/aspen
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
url="http://127.0.0.1:$port"
certs=$PWD/fixtures/certs
sed -e "s#\.\./certs/#$certs/#g" -e "s#users = \"users.csv\"#users = \"$PWD/fixtures/demo/users.csv\"#" \
  fixtures/demo/aspen.toml > "$work/aspen.toml"
cat >> "$work/aspen.toml" <<TOML

[portal]
public_url = "$url"
secret_file = "portal.secret"
state_dir = "state"
TOML
(umask 077; openssl rand -hex 32 > "$work/portal.secret")
"$aspen" serve -c "$work/aspen.toml" --listen "127.0.0.1:$port" --quiet 2>"$work/serve.log" &
pids+=($!)
for _ in $(seq 100); do curl -fs -o /dev/null "$url/signin" && break; sleep 0.1; done

# Sign Bob in (device policy) as a browser would, keep the session cookie.
code=$("$aspen" invite -c "$work/aspen.toml" --user bob@contoso.com | awk '/^Code:/ {print $2}')
page=$(curl -fs -c "$work/jar" "$url/signin")
csrf=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' <<<"$page" | head -1)
curl -fs -o /dev/null -b "$work/jar" -c "$work/jar" --data-urlencode "csrf=$csrf" --data-urlencode "code=$code" "$url/signin"
session=$(awk '$6 == "aspen_session" {print $7}' "$work/jar")
[ -n "$session" ] || { echo "serve-load: sign-in failed" >&2; exit 1; }
download="$url/enroll/profile.mobileconfig"
well_known="$url/.well-known/com.apple.remotemanagement?user-identifier=bob@contoso.com&model-family=iPhone"

# The same signed file aspen serves, for nginx.
mkdir -p "$work/www"
curl -fs -b "aspen_session=$session" -o "$work/www/profile.mobileconfig" "$download"
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

echo "machine: $(nproc) cores, $(uname -sr); load before: $(uptime | sed 's/.*load average: //')"
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION; profile $(stat -c %s "$work/www/profile.mobileconfig") bytes (RSA-2048, signed)"
echo
echo "| endpoint | requests/s | p50 | p99 | errors |"
echo "|---|---|---|---|---|"
run aspen-download "$download" -H "Cookie: aspen_session=$session"
run aspen-well-known "$well_known"
run nginx-static "http://127.0.0.1:$nport/profile.mobileconfig"
echo
awk -v a="$rps_aspen_download" -v n="$rps_nginx_static" 'BEGIN { printf "aspen download / nginx static file: %.2f\n", a / n }'
echo "audit rows recorded: $("$aspen" issued -c "$work/aspen.toml" --json | grep -c '"event": "issued"')"
echo "load after: $(uptime | sed 's/.*load average: //')"
exit $failed
