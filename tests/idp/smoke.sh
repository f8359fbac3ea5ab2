#!/usr/bin/env bash
# End-to-end check of the TEST-ONLY identity provider in this folder, with curl.
# It doubles as documentation of the HTTP steps of a sign-in through the
# devInteractions pages (see README.md).
#
#   bash tests/idp/smoke.sh        (needs node, npm ci done in tests/idp, curl, jq, openssl)
#
# Prints "N passed, N failed" last and exits non-zero on any failure.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok - $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
jqe() { local json=$1; shift; jq -e "$@" <<<"$json" >/dev/null 2>&1; }

CB=http://127.0.0.1:1234/oidc/callback
APPLE_CB=apple-remotemanagement-user-login://oauth2-callback
SECRET='s3cret:with/odd+chars'

cat >"$WORK/config.json" <<EOF
{"port": 0,
 "clients": [{"client_id": "placeholder", "client_secret": "x", "redirect_uris": ["http://127.0.0.1:9/cb"]}],
 "accounts": [{"id": "alice", "email": "alice@contoso.com", "groups": ["Staff", "0b5c7e2a-1111-2222-3333-444455556666"],
               "name": "Alice", "preferred_username": "alice@contoso.com"}],
 "resource": "urn:aspen:device"}
EOF

# ---- start: the provider exits when its stdin closes, so keep it on a coproc pipe
coproc IDP { exec node "$HERE/provider.mjs" --config "$WORK/config.json" 2>"$WORK/stderr"; }
IDP_IN=${IDP[1]}
IDP_PID_SAVED=$IDP_PID
if ! read -r -t 20 READY <&"${IDP[0]}"; then
  echo "provider did not start:"; cat "$WORK/stderr"; exit 1
fi
echo "ready line: $READY"
ISS=$(jq -r .issuer <<<"$READY")
PORT=$(jq -r .port <<<"$READY")
check "ready line is exactly {issuer,port}" test "$(jq -c 'keys' <<<"$READY")" = '["issuer","port"]'
check "issuer is http://127.0.0.1:PORT" test "$ISS" = "http://127.0.0.1:$PORT"

# ---- clients are set after start, as a Rust test would once aspen's port is known
CLIENTS=$(jq -n --arg cb "$CB" --arg apple "$APPLE_CB" --arg secret "$SECRET" '[
  {client_id: "aspen-enroll", client_secret: $secret, redirect_uris: [$cb],
   token_endpoint_auth_method: "client_secret_basic", post_logout_redirect_uris: ["http://127.0.0.1:1234/"]},
  {client_id: "aspen-post", client_secret: $secret, redirect_uris: [$cb], token_endpoint_auth_method: "client_secret_post"},
  {client_id: "apple-device", token_endpoint_auth_method: "none", redirect_uris: [$apple],
   grant_types: ["authorization_code", "refresh_token"]}]')
check "POST /__test/clients" test "$(curl -s -X POST -d "{\"clients\": $CLIENTS}" "$ISS/__test/clients" | jq -c .clients)" = '["aspen-enroll","aspen-post","apple-device"]'
check "POST /__test/clients refuses a bad client (400)" test "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{"clients":[{"client_id":"x","redirect_uris":["not a uri"]}]}' "$ISS/__test/clients")" = 400
check "... and keeps the previous clients" test "$(curl -s "$ISS/__test/state" | jq -c .clients)" = '["aspen-enroll","aspen-post","apple-device"]'

DISCO=$(curl -s "$ISS/.well-known/openid-configuration")
check "discovery issuer" test "$(jq -r .issuer <<<"$DISCO")" = "$ISS"
check "discovery end_session_endpoint" test "$(jq -r .end_session_endpoint <<<"$DISCO")" = "$ISS/session/end"
check "discovery scopes include groups" jqe "$DISCO" '.scopes_supported | index("groups")'
KID0=$(curl -s "$ISS/jwks" | jq -r '.keys[0].kid')
check "JWKS has one RS256 key" test "$(curl -s "$ISS/jwks" | jq -c '[.keys[] | [.kty, .alg]]')" = '[["RSA","RS256"]]'

# ---- helpers
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
# jwt_part TOKEN N : the decoded JSON of part N (0 header, 1 payload)
jwt_part() { node -e 'const p=process.argv[1].split(".")[+process.argv[2]];console.log(Buffer.from(p,"base64url").toString())' "$1" "$2"; }
# jwt_verifies TOKEN : true when the token's RS256 signature verifies against the current JWKS
jwt_verifies() {
  curl -s "$ISS/jwks" >"$WORK/jwks.json"
  node --input-type=module -e '
    import * as crypto from "node:crypto"; import * as fs from "node:fs";
    const [h, p, s] = process.argv[1].split(".");
    const header = JSON.parse(Buffer.from(h, "base64url"));
    const jwk = JSON.parse(fs.readFileSync(process.argv[2])).keys.find((k) => k.kid === header.kid);
    const good = header.alg === "RS256" && jwk && crypto.verify("sha256", Buffer.from(`${h}.${p}`),
      crypto.createPublicKey({ key: jwk, format: "jwk" }), Buffer.from(s, "base64url"));
    process.exit(good ? 0 : 1);' "$1" "$WORK/jwks.json"
}

# signin JAR CLIENT_ID REDIRECT_URI SCOPE LOGIN [EXTRA_QUERY]
# Walks /auth -> login page -> consent page -> redirect_uri, printing every step to
# $WORK/steps.log. Sets CODE, STATE_BACK, CALLBACK (the final Location) and VERIFIER.
signin() {
  local jar=$1 client=$2 redirect=$3 scope=$4 login=$5 extra=${6:-}
  VERIFIER=$(openssl rand -base64 48 | tr -d '=+/\n' | cut -c1-64)
  local challenge state nonce url loc page prompt
  challenge=$(printf %s "$VERIFIER" | openssl dgst -sha256 -binary | b64url)
  state=st-$RANDOM$RANDOM
  NONCE=n-$RANDOM$RANDOM
  url="$ISS/auth?response_type=code&client_id=$client&redirect_uri=$(jq -rn --arg u "$redirect" '$u|@uri')&scope=$(jq -rn --arg u "$scope" '$u|@uri')&state=$state&code_challenge=$challenge&code_challenge_method=S256$extra"
  # nonce only with openid: oidc-provider refuses a nonce on a plain OAuth2 request
  [[ " $scope " == *" openid "* ]] && url="$url&nonce=$NONCE"
  CODE= CALLBACK= STATE_BACK=
  echo "GET $url" >>"$WORK/steps.log"
  loc=$(curl -s -o /dev/null -D - -c "$jar" -b "$jar" "$url" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
  for _ in 1 2 3 4 5 6; do
    echo "  -> $loc" >>"$WORK/steps.log"
    [[ $loc == /* ]] && loc="$ISS$loc"   # first hops are relative, later ones absolute
    if [[ $loc == "$redirect"* ]]; then
      CALLBACK=$loc
      CODE=$(sed -n 's/.*[?&]code=\([^&]*\).*/\1/p' <<<"$loc")
      STATE_BACK=$(sed -n 's/.*[?&]state=\([^&]*\).*/\1/p' <<<"$loc")
      [[ $STATE_BACK == "$state" ]] || return 1
      [[ -n $CODE ]] || return 2   # e.g. error=access_denied
      return 0
    fi
    if [[ $loc == "$ISS/interaction/"* ]]; then
      page=$(curl -s -c "$jar" -b "$jar" "$loc")
      prompt=$(sed -n 's/.*name="prompt" value="\([a-z]*\)".*/\1/p' <<<"$page")
      echo "  GET $loc -> 200 page with prompt=$prompt; POST it back" >>"$WORK/steps.log"
      if [[ $prompt == login ]]; then
        loc=$(curl -s -o /dev/null -D - -c "$jar" -b "$jar" --data-urlencode prompt=login \
          --data-urlencode "login=$login" --data-urlencode password=anything "$loc" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
      elif [[ $prompt == consent ]]; then
        loc=$(curl -s -o /dev/null -D - -c "$jar" -b "$jar" --data-urlencode prompt=consent "$loc" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
      else
        echo "unexpected interaction page" >>"$WORK/steps.log"; return 1
      fi
    else
      loc=$(curl -s -o /dev/null -D - -c "$jar" -b "$jar" "$loc" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
    fi
  done
  return 1
}

# token_basic CLIENT_ID SECRET REDIRECT : exchange $CODE with client_secret_basic (RFC 6749 2.3.1:
# id and secret are form-urlencoded before base64, which matters for odd secrets)
token_basic() {
  local id secret
  id=$(jq -rn --arg u "$1" '$u|@uri'); secret=$(jq -rn --arg u "$2" '$u|@uri')
  curl -s -u "$id:$secret" -d grant_type=authorization_code --data-urlencode "code=$CODE" \
    --data-urlencode "redirect_uri=$3" --data-urlencode "code_verifier=$VERIFIER" "$ISS/token"
}

# ---- 1. a full sign-in: code + PKCE, client_secret_basic, login by email
JAR=$WORK/jar1
check "sign-in walks to the redirect_uri with code and state" signin "$JAR" aspen-enroll "$CB" "openid email profile groups" alice@contoso.com
check "callback carries iss (RFC 9207)" grep -q "iss=$(jq -rn --arg u "$ISS" '$u|@uri')" <<<"$CALLBACK"
TOK=$(token_basic aspen-enroll "$SECRET" "$CB")
IDT=$(jq -r .id_token <<<"$TOK")
P=$(jwt_part "$IDT" 1)
echo "id_token header: $(jwt_part "$IDT" 0)"
echo "id_token payload: $P"
check "token answer has access_token, id_token, token_type Bearer" jqe "$TOK" '.access_token and .id_token and .token_type == "Bearer"'
check "id_token sub=alice, email, groups, nonce, aud, iss" jqe "$P" --arg n "$NONCE" --arg iss "$ISS" \
  '.sub == "alice" and .email == "alice@contoso.com" and .email_verified == true and .groups == ["Staff","0b5c7e2a-1111-2222-3333-444455556666"] and .nonce == $n and .aud == "aspen-enroll" and .iss == $iss and .name == "Alice" and .preferred_username == "alice@contoso.com"'
check "id_token verifies against the JWKS" jwt_verifies "$IDT"
check "id_token kid is the JWKS kid" test "$(jwt_part "$IDT" 0 | jq -r .kid)" = "$KID0"
check "GET /__test/last-token has the same payload" test "$(curl -s "$ISS/__test/last-token" | jq -c .payload)" = "$(jq -c . <<<"$P")"
check "userinfo answers with the access token" test "$(curl -s -H "Authorization: Bearer $(jq -r .access_token <<<"$TOK")" "$ISS/me" | jq -r .email)" = alice@contoso.com
check "a code is single-use (and its reuse revokes the tokens)" test "$(token_basic aspen-enroll "$SECRET" "$CB" | jq -r .error)" = invalid_grant

# same browser again: the session cookie and the saved grant skip both pages
check "second sign-in in the same jar needs no pages" signin "$JAR" aspen-enroll "$CB" "openid email profile groups" nobody-typed
check "  (went straight from /auth to the callback)" test "$(tail -n 1 "$WORK/steps.log" | grep -c oidc/callback)" = 1

# login by account id; wrong verifier fails; client_secret_post
check "login by id (alice)" signin "$WORK/jar2" aspen-post "$CB" "openid email" alice
VERIFIER_OK=$VERIFIER; VERIFIER=wrong-verifier-wrong-verifier-wrong-verifier-wrong
check "wrong code_verifier -> invalid_grant" test "$(curl -s -d grant_type=authorization_code -d client_id=aspen-post --data-urlencode "client_secret=$SECRET" --data-urlencode "code=$CODE" --data-urlencode "redirect_uri=$CB" --data-urlencode "code_verifier=$VERIFIER" "$ISS/token" | jq -r .error)" = invalid_grant
check "login by id (alice), client_secret_post" signin "$WORK/jar2b" aspen-post "$CB" "openid email" alice
check "  token via client_secret_post; only the email scope's claims" test "$(curl -s -d grant_type=authorization_code -d client_id=aspen-post --data-urlencode "client_secret=$SECRET" --data-urlencode "code=$CODE" --data-urlencode "redirect_uri=$CB" --data-urlencode "code_verifier=$VERIFIER" "$ISS/token" | jq -r .id_token | { read -r t; jwt_part "$t" 1; } | jq -c '[.sub, .email, .groups]')" = '["alice","alice@contoso.com",null]'

# unknown login -> access_denied at the redirect_uri
signin "$WORK/jar3" aspen-enroll "$CB" "openid" mallory
check "unknown login -> redirect with error=access_denied" grep -q 'error=access_denied' <<<"$CALLBACK"

# no PKCE -> refused at /auth (303 to the redirect_uri with an error)
LOC=$(curl -s -o /dev/null -D - "$ISS/auth?response_type=code&client_id=aspen-enroll&redirect_uri=$(jq -rn --arg u "$CB" '$u|@uri')&scope=openid&state=s" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
check "authorization without code_challenge -> error=invalid_request" grep -q 'error=invalid_request' <<<"$LOC"

# ---- 2. tamper modes
tampered() { # MODE -> signs in, prints the served id_token
  curl -s -X POST -d "{\"mode\":\"$1\"}" "$ISS/__test/tamper" >/dev/null
  signin "$WORK/jar-t-$1" aspen-enroll "$CB" "openid email profile groups" alice || return 1
  token_basic aspen-enroll "$SECRET" "$CB" | jq -r .id_token
}
for MODE in resign none hs256 audience expired nonce issuer; do
  T=$(tampered $MODE); H=$(jwt_part "$T" 0); P=$(jwt_part "$T" 1)
  ORIG=$(curl -s "$ISS/__test/last-token"); OP=$(jq -c .payload <<<"$ORIG")
  check "[$MODE] last-token keeps the untampered token; mode recorded" jqe "$ORIG" --arg t "$T" --arg m $MODE '.served_id_token == $t and .mode == $m and .id_token != $t'
  case $MODE in
    resign) check "[resign] same header" test "$H" = "$(jq -c .header <<<"$ORIG")"
            check "[resign] same payload" test "$P" = "$OP"
            ! jwt_verifies "$T"; check "[resign]   (fails verification)" test $? = 0 ;;
    none)   check "[none] alg none" test "$(jq -r .alg <<<"$H")" = none
            check "[none] empty signature (token ends with a dot)" test "${T: -1}" = . ;;
    hs256)  check "[hs256] alg HS256, HMAC with the client secret" test "$(node -e 'const c=require("crypto");const [h,p,s]=process.argv[1].split(".");process.stdout.write(String(c.createHmac("sha256",process.argv[2]).update(h+"."+p).digest("base64url")===s))' "$T" "$SECRET")" = true
            check "[hs256]   header alg" test "$(jq -r .alg <<<"$H")" = HS256 ;;
    audience) check "[audience] aud=someone-else, validly signed" jqe "$P" '.aud == "someone-else"'
              check "[audience]   signature verifies" jwt_verifies "$T" ;;
    expired) check "[expired] exp and iat >= 2h in the past, validly signed" jqe "$P" --argjson now "$(date +%s)" '.exp <= $now - 7190 and .iat < .exp'
             check "[expired]   signature verifies" jwt_verifies "$T" ;;
    nonce)  check "[nonce] nonce replaced, validly signed" jqe "$P" --argjson o "$OP" '.nonce != $o.nonce and .nonce != null'
            check "[nonce]   signature verifies" jwt_verifies "$T" ;;
    issuer) check "[issuer] iss replaced, validly signed" jqe "$P" --arg iss "$ISS" '.iss == ($iss + "/tampered")'
            check "[issuer]   signature verifies" jwt_verifies "$T" ;;
  esac
  # the other claims stay as issued
  check "[$MODE] other claims unchanged" test "$(jq -c 'del(.aud,.exp,.iat,.nonce,.iss)' <<<"$P")" = "$(jq -c 'del(.aud,.exp,.iat,.nonce,.iss)' <<<"$OP")"
done
check "tamper answers {mode}" test "$(curl -s -X POST -d '{"mode":"off"}' "$ISS/__test/tamper")" = '{"mode":"off"}'
check "unknown tamper mode -> 400" test "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{"mode":"bogus"}' "$ISS/__test/tamper")" = 400
T=$(signin "$WORK/jar-off" aspen-enroll "$CB" "openid" alice && token_basic aspen-enroll "$SECRET" "$CB" | jq -r .id_token)
check "mode off: tokens verify again" jwt_verifies "$T"

# ---- 3. rotate
KID1=$(curl -s -X POST "$ISS/__test/rotate" | jq -r .kid)
check "rotate answers a new kid" test -n "$KID1" -a "$KID1" != "$KID0"
check "JWKS now shows only the new kid" test "$(curl -s "$ISS/jwks" | jq -c '[.keys[].kid]')" = "[\"$KID1\"]"
! jwt_verifies "$IDT"; check "  (old id_token fails against the new JWKS)" test $? = 0
check "sign-in after rotate, same jar: no pages (session and grant survive the swap)" signin "$JAR" aspen-enroll "$CB" "openid email profile groups" nobody-typed
T=$(token_basic aspen-enroll "$SECRET" "$CB" | jq -r .id_token)
check "new id_token carries the new kid" test "$(jwt_part "$T" 0 | jq -r .kid)" = "$KID1"
jwt_verifies "$T"; check "  (verifies)" test $? = 0

# ---- 4. apple-oauth2: public client, custom-scheme redirect, JWT access token for the resource
check "public client, no openid scope: code at the custom scheme" signin "$WORK/jar-apple" apple-device "$APPLE_CB" "device" alice@contoso.com
echo "apple callback: $CALLBACK"
AT_ANSWER=$(curl -s -d grant_type=authorization_code -d client_id=apple-device --data-urlencode "code=$CODE" \
  --data-urlencode "redirect_uri=$APPLE_CB" --data-urlencode "code_verifier=$VERIFIER" "$ISS/token")
echo "apple token answer: $(jq -c '.access_token |= .[0:20] + "..." | .refresh_token |= (if . then .[0:10] + "..." else . end)' <<<"$AT_ANSWER")"
AT=$(jq -r .access_token <<<"$AT_ANSWER")
ATH=$(jwt_part "$AT" 0); ATP=$(jwt_part "$AT" 1)
echo "access_token header: $ATH"
echo "access_token payload: $ATP"
check "access token is a JWT (typ at+jwt) with the current kid" jqe "$ATH" --arg k "$KID1" '.typ == "at+jwt" and .alg == "RS256" and .kid == $k'
check "access token aud=urn:aspen:device, client_id, email, groups" jqe "$ATP" '.aud == "urn:aspen:device" and .client_id == "apple-device" and .sub == "alice" and .email == "alice@contoso.com" and (.groups | length) == 2 and .scope == "device"'
jwt_verifies "$AT"; check "access token verifies against the JWKS" test $? = 0
check "refresh token issued (client has grant_types refresh_token)" jqe "$AT_ANSWER" '.refresh_token | type == "string"'
check "openid client asking resource=urn:aspen:device also gets a JWT access token" signin "$WORK/jar-res" aspen-enroll "$CB" "openid email" alice "&resource=urn%3Aaspen%3Adevice"
check "  (aud is the resource)" test "$(token_basic aspen-enroll "$SECRET" "$CB" | jq -r .access_token | { read -r t; jwt_part "$t" 1; } | jq -r .aud)" = urn:aspen:device

# ---- 5. RP-initiated logout: GET end_session shows a confirm form, POST it
LOGOUT=$(curl -s -c "$JAR" -b "$JAR" "$ISS/session/end?client_id=aspen-enroll&post_logout_redirect_uri=$(jq -rn --arg u http://127.0.0.1:1234/ '$u|@uri')&state=bye")
XSRF=$(sed -n 's/.*name="xsrf" value="\([^"]*\)".*/\1/p' <<<"$LOGOUT")
LOC=$(curl -s -o /dev/null -D - -c "$JAR" -b "$JAR" -d "xsrf=$XSRF" -d logout=yes "$ISS/session/end/confirm" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
check "logout ends at post_logout_redirect_uri with state" test "$LOC" = "http://127.0.0.1:1234/?state=bye"

# ---- 6. stdin EOF ends the process
exec {IDP_IN}>&-
for _ in $(seq 50); do kill -0 "$IDP_PID_SAVED" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$IDP_PID_SAVED" 2>/dev/null; then bad "provider exits on stdin EOF"; kill "$IDP_PID_SAVED"; else ok "provider exits on stdin EOF"; fi

echo "--- steps of the first sign-in:"; sed -n '1,8p' "$WORK/steps.log"
if [ "$FAIL" -ne 0 ]; then echo "--- provider stderr:"; cat "$WORK/stderr"; fi
echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
