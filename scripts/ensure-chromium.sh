#!/usr/bin/env bash
# Debian's chromium + chromium-driver for the browser test. Installs them when missing and
# this runs as root with apt-get; otherwise says why, and the browser test skips with that reason.
set -u
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian chromium and chromium-driver for the browser test..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq chromium chromium-driver >/dev/null \
    || echo "warning: apt-get could not install chromium; the browser test will be skipped"
else
  echo "warning: chromium/chromedriver missing and not root: the browser test will be skipped (apt-get install chromium chromium-driver)"
fi
exit 0
