#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine, once: system packages that are
# missing (Java, Maven, PostgreSQL, Prometheus, Alertmanager, curl, Chromium and its driver), the Python virtualenv with the project and its dev
# tools from requirements-dev.lock, and Kafka's jars. Re-running it does nothing when nothing changed.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

VENV=$ROOT_DIR/.venv
PY=${PYTHON311:-$(command -v python3.11 || command -v python3)}

apt_missing=()
command -v java >/dev/null || apt_missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || apt_missing+=(maven)
command -v curl >/dev/null || apt_missing+=(curl)
command -v prometheus >/dev/null || apt_missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null || apt_missing+=(prometheus-alertmanager)
ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 || apt_missing+=(postgresql)
# The review console's browser tests (tests/e2e/test_console_browser.py): selenium drives
# Debian's chromium through its own driver, /usr/bin/chromedriver (nothing is downloaded).
command -v chromium >/dev/null || apt_missing+=(chromium)
[[ -x /usr/bin/chromedriver ]] || apt_missing+=(chromium-driver)
if (( ${#apt_missing[@]} )); then
  command -v apt-get >/dev/null || die "missing ${apt_missing[*]} and no apt-get to install them"
  say "installing ${apt_missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  with_progress "apt-get update" apt-get update -qq
  with_progress "installing ${apt_missing[*]}" \
    apt-get install -y -qq --no-install-recommends "${apt_missing[@]}"
fi

"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
  || die "Python 3.11 is required (found $("$PY" --version))"
# The virtualenv is installed from the lock (exact versions, hashes checked; `make lock` writes it
# from pyproject.toml), then the project itself without its dependencies. It is redone when the
# lock or pyproject.toml (the project's own metadata: scripts, packages) changes. The lock holds
# every dependency (uv lists them all), so pip installs it as it is (--no-deps): resolving again
# made pip look up pip-audit's `CacheControl[filecache]` on the index, where a newer release
# than the lock's has no hash in it, and refuse the whole install.
LOCK=$ROOT_DIR/requirements-dev.lock
[[ -f $LOCK ]] || die "$LOCK is missing (make lock writes it)"
stamp=$VENV/.installed-$(cat "$LOCK" "$ROOT_DIR/pyproject.toml" | sha1sum | cut -c1-12)
if [[ ! -f $stamp ]]; then
  say "installing the Python environment in .venv from requirements-dev.lock (first run takes a minute)"
  [[ -x $VENV/bin/python ]] || "$PY" -m venv "$VENV"
  with_progress "pip install -r requirements-dev.lock" \
    "$VENV/bin/python" -m pip install --require-hashes --no-deps --only-binary :all: -r "$LOCK"
  # The build backend (setuptools) comes from the lock too, hence no build isolation.
  with_progress "pip install -e . (the project)" \
    "$VENV/bin/python" -m pip install --no-deps --no-build-isolation -e "$ROOT_DIR"
  # every dependency is installed (none was resolved above): a lock that lost one fails here
  with_progress "pip check" "$VENV/bin/python" -m pip check
  rm -f "$VENV"/.installed-* && touch "$stamp"
fi

bash "$ROOT_DIR/deploy/local/kafka.sh" fetch
