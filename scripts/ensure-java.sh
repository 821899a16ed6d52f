#!/usr/bin/env bash
# Java 17+ for the Spark test (pyspark starts a JVM). Installs Debian's openjdk-17-jre-headless when
# no java 17+ is on PATH and this runs as root with apt-get; otherwise says why, and the Spark test skips with that reason.
set -u
java_major() { java -version 2>&1 | sed -n 's/.*version "\(1\.\)\{0,1\}\([0-9]*\).*/\2/p' | head -n1; }
if command -v java >/dev/null && [ "$(java_major)" -ge 17 ] 2>/dev/null; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian openjdk-17-jre-headless for the Spark test..."
  export DEBIAN_FRONTEND=noninteractive
  # Debian's JRE postinst links man pages; slim images lack the folder
  mkdir -p /usr/share/man/man1
  apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null \
    || echo "warning: apt-get could not install openjdk-17-jre-headless; the Spark test will be skipped"
else
  echo "warning: no Java 17+ and not root: the Spark test will be skipped (apt-get install openjdk-17-jre-headless)"
fi
exit 0
