#!/usr/bin/env bash
# README pictures (a dev-time step, not CI), from the running stack (`make up` first):
# docs/report.png, the HTML report of BRANCH (default br01) and PERIOD taken with headless
# Chromium, and docs/live-summary.txt, one live summary as text. Installs Debian's chromium
# and CJK fonts when missing.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

PYTHON=${PYTHON:-$ROOT_DIR/.venv/bin/python}
missing=()
command -v chromium >/dev/null || missing+=(chromium)
fc-list :lang=zh 2>/dev/null | grep -q . || missing+=(fonts-noto-cjk)
if (( ${#missing[@]} )); then
  command -v apt-get >/dev/null || die "install ${missing[*]} first"
  export DEBIAN_FRONTEND=noninteractive
  with_progress "installing ${missing[*]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

export BRANCH=${BRANCH:-br01}
report=$RUN_DIR/screenshots/report.html
mkdir -p "$RUN_DIR/screenshots" "$ROOT_DIR/docs"
OUT=$report bash "$ROOT_DIR/deploy/local/report.sh"

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
# The flags that work on a machine without a network (see the README's screenshots section).
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --hide-scrollbars --window-size=1100,2900 \
  --screenshot="$ROOT_DIR/docs/report.png" "file://$report" 2>/dev/null
say "wrote docs/report.png"

export_stack_env
[[ -z ${SIMULATE_MONTH:-} && -s $RUN_DIR/simulator.month ]] && export SIMULATE_MONTH=$(cat "$RUN_DIR/simulator.month")
(cd "$ROOT_DIR" && "$PYTHON" -m tools.live_summary --once) > "$ROOT_DIR/docs/live-summary.txt"
say "wrote docs/live-summary.txt"
