#!/usr/bin/env bash
# Speed of the readers, in one run so the figures compare: aspen verify
# against `openssl cms -verify` on the same signed profile, aspen lint with
# and without Apple's schema, and inspect. Each figure is the mean wall time
# of N runs of a fresh process (what an admin or a script sees).
# Usage: bash benches/read.sh   (N=50 by default; needs openssl)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-50}
cargo build --release --quiet
A=$PWD/target/release/aspen
SCHEMA=${SCHEMA:-../shared/apple-device-management}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
sed "s#\.\./certs/#$PWD/fixtures/certs/#; s#users = \"users.csv\"#users = \"$PWD/fixtures/demo/users.csv\"#" \
  fixtures/demo/aspen.toml > "$tmp/aspen.toml"
"$A" profile user -c "$tmp/aspen.toml" --managed-apple-id alice@contoso.com -o "$tmp/p.mobileconfig"

mean_ms() { # mean wall time of N runs of "$@", in ms
  local start end
  start=$(date +%s%N)
  for _ in $(seq "$N"); do "$@" >/dev/null 2>&1 || true; done
  end=$(date +%s%N)
  echo "scale=2; ($end - $start) / $N / 1000000" | bc
}

echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
v_openssl=$(mean_ms openssl cms -verify -inform DER -binary -in "$tmp/p.mobileconfig" -CAfile fixtures/certs/ca.pem -purpose any -out /dev/null)
v_aspen=$(mean_ms "$A" verify "$tmp/p.mobileconfig" --ca fixtures/certs/ca.pem)
inspect=$(mean_ms "$A" inspect "$tmp/p.mobileconfig")
lint=$(mean_ms "$A" lint "$tmp/p.mobileconfig")
lint_corpus=$(mean_ms "$A" lint fixtures/profiles/*.mobileconfig)
echo "openssl cms -verify        ${v_openssl} ms"
echo "aspen verify --ca          ${v_aspen} ms"
echo "aspen inspect              ${inspect} ms"
echo "aspen lint (1 file)        ${lint} ms"
echo "aspen lint ($(ls fixtures/profiles/*.mobileconfig | wc -l) files)      ${lint_corpus} ms"
if [ -d "$SCHEMA/mdm/profiles" ]; then
  lint_schema=$(mean_ms "$A" lint --schema "$SCHEMA" "$tmp/p.mobileconfig")
  echo "aspen lint --schema        ${lint_schema} ms (loads $(ls "$SCHEMA"/mdm/profiles/*.yaml | wc -l) YAML files)"
fi
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
