#!/usr/bin/env bash
# Installs everything cove needs to build, run and test, from Debian's archive.
# Idempotent: when every package is present it only checks and returns (< 1 s).
# This is the one place that installs things.
set -euo pipefail

PKGS=(
	build-essential pkg-config
	libmicrohttpd-dev libjansson-dev libsqlite3-dev libpq-dev
	libcurl4-gnutls-dev librhonabwy-dev libgnutls28-dev nettle-dev
	libargon2-dev libcmocka-dev
	python3 python3-pytest python3-requests
	sqlite3 curl wrk hyperfine bc
)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing packages: ${missing[*]}" >&2
	echo "deps.sh: run as root (or install them) to continue" >&2
	exit 1
fi

echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
