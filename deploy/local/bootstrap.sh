#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine, once: system packages that are
# missing (Java, Maven, PostgreSQL, Prometheus, curl), the Python virtualenv with the project and its dev
# tools, and Kafka's jars. Re-running it does nothing when nothing changed.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

VENV=$ROOT_DIR/.venv
PY=${PYTHON311:-$(command -v python3.11 || command -v python3)}

apt_missing=()
command -v java >/dev/null || apt_missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || apt_missing+=(maven)
command -v curl >/dev/null || apt_missing+=(curl)
command -v prometheus >/dev/null || apt_missing+=(prometheus)
ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 || apt_missing+=(postgresql)
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
stamp=$VENV/.installed-$(sha1sum "$ROOT_DIR/pyproject.toml" | cut -c1-12)
if [[ ! -f $stamp ]]; then
  say "installing the Python environment in .venv (first run takes a minute)"
  [[ -x $VENV/bin/python ]] || "$PY" -m venv "$VENV"
  with_progress "upgrading pip" "$VENV/bin/python" -m pip install --upgrade pip
  with_progress "pip install -e .[dev]" "$VENV/bin/python" -m pip install -e "$ROOT_DIR[dev]"
  rm -f "$VENV"/.installed-* && touch "$stamp"
fi

bash "$ROOT_DIR/deploy/local/kafka.sh" fetch
