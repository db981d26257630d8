#!/usr/bin/env bash
# A whole session with curl: login, me, refresh, logout. Against `cargo run` by default.
# Usage: examples/curl-session.sh [http://127.0.0.1:8080]   (needs curl and python3)
set -euo pipefail
base="${1:-http://127.0.0.1:8080}"

gql() { # gql QUERY VARIABLES_JSON [ACCESS_TOKEN]
  local auth=()
  [ -n "${3:-}" ] && auth=(-H "Authorization: Bearer $3")
  curl -fsS "$base/graphql" -H 'Content-Type: application/json' "${auth[@]}" \
    -d "$(python3 -c 'import json,sys; print(json.dumps({"query": sys.argv[1], "variables": json.loads(sys.argv[2])}))' "$1" "$2")"
}
field() { python3 -c 'import json,sys; d=json.load(sys.stdin); [d := d[k] for k in sys.argv[1:]]; print(d)' "$@"; }

echo "1. login"
login=$(gql 'mutation($i: LoginInput!) { login(input: $i) { accessToken refreshToken expiresIn } }' \
  '{"i": {"email": "anna.rider@example.org", "password": "Ride-2026!", "device": {"deviceId": "curl-example", "deviceType": "OTHER"}}}')
access=$(echo "$login" | field data login accessToken)
refresh=$(echo "$login" | field data login refreshToken)
echo "   access token expires in $(echo "$login" | field data login expiresIn) s"

echo "2. me"
gql '{ me { email firstName membership { number active } } }' '{}' "$access" | field data me

echo "3. refresh (replace both tokens with the answer)"
refreshed=$(gql 'mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken refreshToken } }' "{\"t\": \"$refresh\"}")
access=$(echo "$refreshed" | field data refreshSession accessToken)

echo "4. logout"
gql 'mutation { logout }' '{}' "$access" | field data logout

echo "5. the ended session's token now gets HTTP $(curl -s -o /dev/null -w '%{http_code}' "$base/graphql" \
  -H 'Content-Type: application/json' -H "Authorization: Bearer $access" -d '{"query":"{ me { id } }"}')"
