#!/usr/bin/env bash
# What `make test` needs beyond the virtualenv: Debian's chromium (the browser tests drive it
# through Playwright; Playwright's own browser download is not used), nginx (the cluster
# test puts it in front of two idp processes) and redis-server (the dependency-failure tests
# start and stop a Redis of their own). Run as root (CI, a fresh container), it installs
# whichever is missing with apt-get; otherwise it says in one line what to install and fails.
set -euo pipefail

found() {
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/bin/$1" ] || [ -x "/usr/sbin/$1" ]
}

missing=()
for tool in chromium nginx redis-server; do
  found "$tool" || missing+=("$tool")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$EUID" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing the Debian packages the tests need: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  exit 0
fi

echo "make test needs Debian's ${missing[*]}: run 'sudo apt-get install ${missing[*]}', then make test again" >&2
exit 1
