#!/usr/bin/env bash
# The bulk benchmark of issue 4, in one run (about a minute on 2 cores):
#   - `openssl speed -multi <cores>` for rsa2048 and ecdsap256 (the ceiling),
#   - `aspen bulk` over 10,000 generated users: signed RSA-2048, signed P-256,
#     unsigned (median of 3 runs each),
#   - the shell loop admins write today, one `openssl smime -sign` per user
#     (on a sample, per file),
#   - peak RSS of `aspen bulk --unsigned` for 100,000 users,
#   - the pipeline's floor (users sharing one cached unsigned profile: only
#     the CSV, hashing and file writes remain),
#   - aspen's own share in memory (`cargo bench --bench profiles`),
# and prints each ratio against its target. Output files go to a fresh folder
# under BENCH_DIR (default /dev/shm, a RAM file system, so the figures are
# about aspen and not about the disk; set BENCH_DIR=/tmp to include the disk).
#
# Usage: benches/bulk.sh            (USERS=10000 SAMPLE=200 SECONDS_=2 to change)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
users=${USERS:-10000}
sample=${SAMPLE:-200}
speed_seconds=${SECONDS_:-2}
cores=$(nproc)
for tool in openssl bc awk /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "benches/bulk.sh needs $tool (apt-get install openssl bc gawk time)" >&2; exit 1; }
done

cargo build --release -q
cargo bench --bench profiles --no-run -q 2>/dev/null
aspen=$root/target/release/aspen
base=${BENCH_DIR:-/dev/shm}
[ -w "$base" ] || base=${TMPDIR:-/tmp}
work=$(mktemp -d "$base/aspen-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

# ---- The machine ----
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $cores cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr), $(openssl version | cut -d' ' -f1-2)"
echo "output:  $work ($(df -T "$work" | awk 'NR==2{print $2}'))"
echo "load at start: $(uptime | sed 's/.*load average: //')"

# ---- Settings and users ----
certs=$root/fixtures/certs
sed -e "s#\.\./certs/#$certs/#" -e '/^\[directory\]/,$d' fixtures/demo/aspen.toml >"$work/rsa.toml"
sed -e 's#signer\.pem#signer-ec.pem#' -e 's#signer\.key#signer-ec.key#' "$work/rsa.toml" >"$work/ec.toml"
# Three users in four get User Enrollment (a profile each: Staff with
# --choice work, Contractors), one in four corporate device enrollment.
gen_users() {
  echo "email,managed_apple_id,groups"
  awk -v n="$1" 'BEGIN { split("Staff Leadership Contractors Staff;Contractors", g, " ");
    for (i = 0; i < n; i++) printf "user%06d@contoso.com,user%06d@contoso.com,%s\n", i, i, g[i % 4 + 1] }'
}
gen_users "$users" >"$work/users.csv"
gen_users 100000 >"$work/users-100k.csv"
# The pipeline's floor: users who all share one (cached) device profile, so
# what remains is reading the CSV, hashing and writing the files.
{ echo "email,managed_apple_id,groups"; awk -v n="$users" 'BEGIN { for (i = 0; i < n; i++)
    printf "user%06d@contoso.com,,Leadership\n", i }'; } >"$work/users-device.csv"

now() { date +%s.%N; }
# Median wall time of 3 runs of `aspen bulk` with the given arguments.
bulk_seconds() { # users-file aspen-args...
  local times=() csv=$1
  shift
  for _ in 1 2 3; do
    rm -rf "$work/out"
    local t0; t0=$(now)
    "$aspen" bulk --users "$csv" --out "$work/out" --choice work "$@" 2>/dev/null
    times+=("$(echo "$(now) - $t0" | bc -l)")
  done
  printf '%s\n' "${times[@]}" | sort -g | sed -n 2p
}
rate() { echo "$1 / $2" | bc -l; }
# The best bulk can do if signing ran at openssl speed's rate: the signature's
# time plus the floor's per profile.
ceiling() { echo "1 / (1 / $1 + 1 / $floor_rate)" | bc -l; }
pct() { printf '%.0f' "$(echo "100 * $1 / $2" | bc -l)"; }
check() { # name value target unit
  local verdict=MISS
  if [ "$(echo "$2 >= $3" | bc -l)" = 1 ]; then verdict=ok; fi
  printf '  %-44s %10.1f%s  (target >= %s%s)  %s\n' "$1" "$2" "$4" "$3" "$4" "$verdict"
}

# ---- openssl speed, before and after aspen's runs (the mean is used) ----
speed_runs=()
openssl_speed() {
  speed_runs+=("$(openssl speed -seconds "$speed_seconds" -multi "$cores" rsa2048 ecdsap256 2>/dev/null)")
}
openssl_speed

# ---- aspen bulk ----
t=$(bulk_seconds "$work/users-device.csv" -c "$work/rsa.toml" --unsigned)
floor_rate=$(rate "$users" "$t")
t=$(bulk_seconds "$work/users.csv" -c "$work/rsa.toml")
rsa_rate=$(rate "$users" "$t")
t=$(bulk_seconds "$work/users.csv" -c "$work/ec.toml")
ec_rate=$(rate "$users" "$t")
t=$(bulk_seconds "$work/users.csv" -c "$work/rsa.toml" --unsigned)
unsigned_rate=$(rate "$users" "$t")

# ---- the shell loop, one openssl process per user ----
shell_rate() { # key-name
  mkdir -p "$work/loop"
  local files; files=$(ls "$work/out"/*.mobileconfig | head -n "$sample")
  local t0; t0=$(now)
  for f in $files; do
    openssl smime -sign -nodetach -outform der -in "$f" -out "$work/loop/$(basename "$f")" \
      -signer "$certs/$1.pem" -inkey "$certs/$1.key" -certfile "$certs/intermediate.pem"
  done
  rate "$sample" "$(echo "$(now) - $t0" | bc -l)"
}
rsa_loop=$(shell_rate signer)
ec_loop=$(shell_rate signer-ec)

# ---- peak RSS, 100,000 users, unsigned ----
rm -rf "$work/out"
rss_kib=$( { /usr/bin/time -f '%M' "$aspen" bulk -c "$work/rsa.toml" --users "$work/users-100k.csv" \
  --out "$work/out" --choice work --unsigned 2>&1 >/dev/null; } | tail -1)
rm -rf "$work/out"

openssl_speed
mean_speed() { # pattern
  printf '%s\n' "${speed_runs[@]}" | awk -v p="$1" '$0 ~ p { s += $(NF-1); n++ } END { print s / n }'
}
rsa_speed=$(mean_speed '^rsa 2048 bits')
ec_speed=$(mean_speed 'nistp256')

# ---- aspen's own share, in memory ----
inmem=$(cargo bench -q --bench profiles -- "$users" 2>/dev/null)

echo "load at end: $(uptime | sed 's/.*load average: //')"
echo
echo "openssl speed -multi $cores (mean of 2 runs): rsa2048 $(printf '%.0f' "$rsa_speed") sign/s, ecdsap256 $(printf '%.0f' "$ec_speed") sign/s"
echo "aspen bulk, $users users: RSA-2048 $(printf '%.0f' "$rsa_rate")/s, P-256 $(printf '%.0f' "$ec_rate")/s, unsigned $(printf '%.0f' "$unsigned_rate")/s"
echo "bulk floor (one shared unsigned profile: CSV, hashing, files only): $(printf '%.0f' "$floor_rate")/s"
echo "  so at best: RSA-2048 $(printf '%.0f' "$(ceiling "$rsa_speed")")/s, P-256 $(printf '%.0f' "$(ceiling "$ec_speed")")/s (speed and floor added up per profile)"
echo "shell loop of openssl smime: RSA-2048 $(printf '%.1f' "$rsa_loop")/s, P-256 $(printf '%.1f' "$ec_loop")/s ($sample files each)"
echo "$inmem"
echo
echo "targets:"
check "signed RSA-2048 vs openssl speed" "$(pct "$rsa_rate" "$rsa_speed")" 90 "%"
check "signed P-256 vs openssl speed" "$(pct "$ec_rate" "$ec_speed")" 60 "%"
printf '  %-44s %10s%%  (of the ceiling above)\n' "signed RSA-2048 vs speed + floor" "$(pct "$rsa_rate" "$(ceiling "$rsa_speed")")"
printf '  %-44s %10s%%  (of the ceiling above)\n' "signed P-256 vs speed + floor" "$(pct "$ec_rate" "$(ceiling "$ec_speed")")"
check "signed RSA-2048 vs shell loop" "$(echo "$rsa_rate / $rsa_loop" | bc -l)" 40 "x"
check "signed P-256 vs shell loop" "$(echo "$ec_rate / $ec_loop" | bc -l)" 200 "x"
check "unsigned profiles/s (bulk, files)" "$unsigned_rate" 100000 ""
inmem_gen=$(echo "$inmem" | awk '/generate/ {print $3}')
check "unsigned profiles/s (in memory)" "$inmem_gen" 100000 ""
inmem_rsa=$(echo "$inmem" | awk '/sign rsa2048/ {print $4}')
inmem_ec=$(echo "$inmem" | awk '/sign ecdsap256/ {print $4}')
check "in-memory signing RSA-2048 vs openssl speed" "$(pct "$inmem_rsa" "$rsa_speed")" 90 "%"
check "in-memory signing P-256 vs openssl speed" "$(pct "$inmem_ec" "$ec_speed")" 60 "%"
rss_mib=$(echo "$rss_kib / 1024" | bc -l)
printf '  %-44s %10.1f MiB (target < 64 MiB)  %s\n' "peak RSS, 100,000 users unsigned" "$rss_mib" \
  "$([ "$(echo "$rss_mib < 64" | bc -l)" = 1 ] && echo ok || echo MISS)"
