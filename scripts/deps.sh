#!/usr/bin/env bash
# Install what the tests need, then fetch Go modules.  Idempotent and non-interactive.
#
#   scripts/deps.sh            (run from anywhere; CI runs it as root with no stdin)
#
# Debian packages: Apache ZooKeeper 3.8 (server + C client cli_mt), kazoo, Curator, MIT
# Kerberos (the sasl tests run a loopback KDC: krb5kdc, kdb5_util, kadmin.local), and a
# JDK when javac is missing (Curator's smoke test and the TLS/SASL interop helpers are
# compiled with javac; keytool writes the key stores).  When every
# package is already installed the apt part is skipped without touching the network,
# so a non-root user with everything present gets through.  Missing packages as a
# non-root user: uses `sudo -n` when it works, otherwise fails with the command to run.
#
# env: DEPS_SKIP_APT=1 skips the apt part; DEPS_SKIP_GO=1 skips `go mod download`.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PKGS=(zookeeper zookeeper-bin python3-kazoo
      libcurator-framework-java libcurator-recipes-java libcurator-client-java
      krb5-kdc krb5-admin-server krb5-user)

# Jars and binaries the conformance scripts (../shared/conformance/lib/common.sh,
# clients/*.sh) use directly.  Some are not in zookeeper.jar's manifest Class-Path,
# so a broken or partial install shows up here rather than as a NoClassDefFoundError.
NEED_FILES=(/usr/share/java/zookeeper.jar /usr/share/java/zookeeper-jute.jar
  /usr/share/java/netty-codec.jar /usr/share/java/netty-resolver.jar
  /usr/share/java/netty-transport-native-unix-common.jar /usr/share/java/servlet-api.jar
  /usr/share/java/slf4j-log4j12.jar /usr/share/java/log4j-1.2.jar
  /usr/share/java/curator-recipes.jar /usr/share/java/curator-framework.jar
  /usr/share/java/curator-client.jar /usr/share/java/guava.jar
  /usr/lib/zookeeper/bin/cli_mt /usr/bin/java /usr/bin/python3
  /usr/sbin/krb5kdc /usr/sbin/kdb5_util /usr/sbin/kadmin.local /usr/bin/keytool)

installed() {  # installed PKG: true if dpkg has it fully installed
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

apt_part() {
  if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "deps: no dpkg-query (not Debian?); install by hand: ${PKGS[*]}" >&2
    return 0
  fi
  local missing=() p
  for p in "${PKGS[@]}"; do installed "$p" || missing+=("$p"); done
  command -v javac >/dev/null 2>&1 || missing+=(default-jdk-headless)
  if [ ${#missing[@]} -eq 0 ]; then
    echo "deps: apt packages already installed"
    return 0
  fi

  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo=(sudo -n env DEBIAN_FRONTEND=noninteractive)
    else
      echo "deps: missing ${missing[*]}; as root run:" >&2
      echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
      return 1
    fi
  fi
  echo "deps: installing ${missing[*]}"
  # Wait for a concurrent apt/dpkg (unattended-upgrades, another job) instead of failing.
  local opts=(-o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef
              -o Dpkg::Options::=--force-confold)
  "${sudo[@]}" apt-get "${opts[@]}" update -q
  # --no-install-recommends: every jar the rig uses comes in through Depends; the
  # recommends would add a desktop JRE and X libraries.
  "${sudo[@]}" apt-get "${opts[@]}" install -y -q --no-install-recommends "${missing[@]}" </dev/null
}

check_files() {
  local f bad=0
  for f in "${NEED_FILES[@]}"; do
    [ -e "$f" ] || { echo "deps: missing $f after install" >&2; bad=1; }
  done
  command -v javac >/dev/null 2>&1 || { echo "deps: javac not found" >&2; bad=1; }
  return $bad
}

if [ "${DEPS_SKIP_APT:-0}" != 1 ]; then
  apt_part
  check_files
fi

if [ "${DEPS_SKIP_GO:-0}" != 1 ]; then
  cd "$ROOT"
  go mod download
  # The conformance kit's go-zookeeper smoke client is its own module; fetch it too so
  # `make conformance` needs no network later.  Absent outside the full checkout.
  GOCLIENT="$ROOT/../shared/conformance/goclient"
  if [ -f "$GOCLIENT/go.mod" ]; then (cd "$GOCLIENT" && go mod download); fi
fi
echo "deps: ok"
