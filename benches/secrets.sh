#!/usr/bin/env bash
# What per-profile identity secrets cost (issue 8), in one run:
#   - `aspen bulk` over USERS generated users, static challenge vs
#     challenge = "per-profile" (a fresh secret per row, each chunk's secrets
#     committed to the SQLite store before its files are written), unsigned
#     and signed RSA-2048; median of 3 runs each;
#   - `aspen scep-verify` per request, as a SCEP server runs it (one process
#     per CSR, the store opened each time), over CHECKS issued challenges;
#   - `aspen serve`'s portal download under wrk (DURATION), static (served
#     from the signed-profile cache) vs per-profile (signed and recorded on
#     every request).
# Prints ratios (per-profile / static); absolute times on a shared machine
# move with the load. Output and the store go to BENCH_DIR (default /dev/shm).
#
# Usage: benches/secrets.sh            (USERS=10000 CHECKS=200 to change)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
users=${USERS:-10000}
checks=${CHECKS:-200}
duration=${DURATION:-10s}
for tool in openssl awk python3 bc wrk curl; do
  command -v "$tool" >/dev/null || { echo "benches/secrets.sh needs $tool" >&2; exit 1; }
done
cargo build --release -q
aspen=$root/target/release/aspen
base=${BENCH_DIR:-/dev/shm}
[ -w "$base" ] || base=${TMPDIR:-/tmp}
work=$(mktemp -d "$base/aspen-secrets-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "machine: $(nproc) cores, $(uname -sr); output in $work"
echo "load at start: $(uptime | sed 's/.*load average: //')"

certs=$root/fixtures/certs
portal='[portal]
public_url = "https://enroll.contoso.com"
secret_file = "portal.secret"
state_dir = "state"'
sed -e "s#\.\./certs/#$certs/#" -e '/^\[directory\]/,$d' fixtures/demo/aspen.toml >"$work/static.toml"
printf '\n%s\n' "$portal" >>"$work/static.toml"
sed -e 's/^challenge = .*/challenge = "per-profile"/' "$work/static.toml" >"$work/per-profile.toml"
openssl rand -hex 32 >"$work/portal.secret"
chmod 600 "$work/portal.secret"
awk -v n="$users" 'BEGIN { print "email,managed_apple_id,groups"; split("Staff Leadership Contractors Staff;Contractors", g, " ");
  for (i = 0; i < n; i++) printf "user%06d@contoso.com,user%06d@contoso.com,%s\n", i, i, g[i % 4 + 1] }' >"$work/users.csv"

now() { date +%s.%N; }
median_bulk() { # settings, extra args…
  local settings=$1; shift
  local times=()
  for _ in 1 2 3; do
    rm -rf "$work/out" "$work/state"
    local t0; t0=$(now)
    "$aspen" bulk -c "$work/$settings" --users "$work/users.csv" --out "$work/out" --choice work "$@" 2>/dev/null
    times+=("$(echo "$(now) - $t0" | bc -l)")
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n 2p
}

echo
echo "aspen bulk, $users users (median of 3):"
for mode in "--unsigned" ""; do
  label=${mode:-"signed RSA-2048"}
  s=$(median_bulk static.toml $mode)
  p=$(median_bulk per-profile.toml $mode)
  rows=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from secrets').fetchone()[0])" "$work/state/aspen.sqlite3")
  printf '  %-16s static %6.2f s (%6.0f/s)   per-profile %6.2f s (%6.0f/s, %s secrets stored)   ratio %.2f\n' \
    "$label" "$s" "$(echo "$users / $s" | bc -l)" "$p" "$(echo "$users / $p" | bc -l)" "$rows" "$(echo "$p / $s" | bc -l)"
done

echo
echo "aspen scep-verify, $checks requests (one process each, as -csrverifierexec runs it):"
rm -rf "$work/state" "$work/p"
mkdir -p "$work/p" "$work/csr"
# Issue $checks profiles and a CSR for each one's challenge.
head -n $((checks + 1)) "$work/users.csv" >"$work/few.csv"
"$aspen" bulk -c "$work/per-profile.toml" --users "$work/few.csv" --out "$work/p" --choice work --unsigned 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$work/csr/key.pem"
i=0
for f in "$work"/p/*.mobileconfig; do
  c=$(python3 -c "import plistlib,sys; print(plistlib.load(open(sys.argv[1],'rb'))['PayloadContent'][1]['PayloadContent']['Challenge'])" "$f")
  printf '[req]\nprompt = no\ndistinguished_name = dn\nattributes = a\n[dn]\nCN = d%s\n[a]\nchallengePassword = %s\n' "$i" "$c" >"$work/csr/$i.cnf"
  openssl req -new -key "$work/csr/key.pem" -config "$work/csr/$i.cnf" -outform DER -out "$work/csr/$i.der"
  i=$((i + 1))
done
t0=$(now)
ok=0
for f in "$work"/csr/*.der; do
  if "$aspen" scep-verify -c "$work/per-profile.toml" <"$f" 2>/dev/null; then ok=$((ok + 1)); fi
done
t=$(echo "$(now) - $t0" | bc -l)
printf '  %d accepted of %d in %.2f s: %.1f ms per request\n' "$ok" "$i" "$t" "$(echo "$t * 1000 / $i" | bc -l)"
t0=$(now)
for _ in $(seq 1 50); do "$aspen" --version >/dev/null; done
v=$(echo "($(now) - $t0) * 1000 / 50" | bc -l)
printf '  (starting aspen alone: %.1f ms)\n' "$v"

echo
echo "aspen serve, GET /enroll/profile.mobileconfig, wrk -t2 -c32 -d$duration (SQLite store):"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
for mode in static per-profile; do
  port=$(free_port)
  dir="$work/serve-$mode"
  mkdir -p "$dir"
  sed -e "s#\.\./certs/#$certs/#" -e "s#users = \"users.csv\"#users = \"$root/fixtures/demo/users.csv\"#" fixtures/demo/aspen.toml >"$dir/aspen.toml"
  [ "$mode" = per-profile ] && sed -i 's/^challenge = .*/challenge = "per-profile"/' "$dir/aspen.toml"
  printf '\n[portal]\npublic_url = "http://127.0.0.1:%s"\nsecret_file = "portal.secret"\nstate_dir = "state"\n' "$port" >>"$dir/aspen.toml"
  (umask 077; openssl rand -hex 32 >"$dir/portal.secret")
  "$aspen" serve -c "$dir/aspen.toml" --listen "127.0.0.1:$port" --quiet 2>"$dir/serve.log" &
  pids+=($!)
  for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$port/signin" && break; sleep 0.1; done
  code=$("$aspen" invite -c "$dir/aspen.toml" --user bob@contoso.com | awk '/^Code:/ {print $2}')
  page=$(curl -fs -c "$dir/jar" "http://127.0.0.1:$port/signin")
  csrf=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' <<<"$page" | head -1)
  curl -fs -o /dev/null -b "$dir/jar" -c "$dir/jar" --data-urlencode "csrf=$csrf" --data-urlencode "code=$code" "http://127.0.0.1:$port/signin"
  session=$(awk '$6 == "aspen_session" {print $7}' "$dir/jar")
  [ -n "$session" ] || { echo "secrets bench: sign-in failed" >&2; exit 1; }
  out=$(wrk -t2 -c32 -d"$duration" --latency -H "Cookie: aspen_session=$session" "http://127.0.0.1:$port/enroll/profile.mobileconfig")
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  bad=$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$out")
  rows=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from secrets').fetchone()[0])" "$dir/state/aspen.sqlite3")
  printf '  %-12s %9s requests/s  p99 %8s  non-2xx %s  secrets stored %s\n' "$mode" "$rps" "$p99" "${bad:-0}" "$rows"
done
echo "load at end: $(uptime | sed 's/.*load average: //')"
