#!/usr/bin/env bash
# bench/sso.sh - server CPU of a single sign-on callback and of a first
# login's provisioning (release build); see bench/sso.py for the method.
# Targets: callback <= 2 ms CPU, first-login provisioning <= 20 ms.
# Usage: bench/sso.sh [logins per measurement, default 200]
set -euo pipefail
cd "$(dirname "$0")/.."
make -s build/cove
COVE_BIN=$PWD/build/cove exec /usr/bin/python3 bench/sso.py "${1:-200}"
