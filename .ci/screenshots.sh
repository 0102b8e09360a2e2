#!/usr/bin/env bash
# Real-window screenshots of the setup in French (issue 14): setup → Connect → held plan preview →
# Confirm → device table → "why" panel, written to docs/screenshots/fr-*.png.
#
# Runs `exchange-connector-setup --lab` in Xvfb (1280×900), in French (LANG=fr_FR.UTF-8 with a fresh
# HOME, so no remembered language or window size applies), drives it with xdotool and captures the
# screen with ImageMagick's `import`. AccessKit is not visible to xdotool, so the script clicks at
# window-relative positions measured on this layout (1280×900, scale 1): after a layout change, run it,
# look at the PNGs, and adjust the positions below.
#
# Usage: .ci/screenshots.sh [BIN_DIR]   (default: $CARGO_TARGET_DIR/debug or target/debug)
# Needs: xvfb-run, xdotool, imagemagick (apt-get install -y xvfb xdotool imagemagick).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN_DIR="${1:-${CARGO_TARGET_DIR:-target}/debug}"
OUT=docs/screenshots
mkdir -p "$OUT"
for tool in xvfb-run xdotool import; do
  command -v "$tool" >/dev/null || { echo "$tool is missing"; exit 1; }
done
[ -x "$BIN_DIR/exchange-connector-setup" ] || { echo "build first: cargo build --bins"; exit 1; }
[ -x "$BIN_DIR/exchange-connector-service" ] || { echo "build first: cargo build --bins"; exit 1; }

if [ -z "${SCREENSHOTS_IN_XVFB:-}" ]; then
  export SCREENSHOTS_IN_XVFB=1
  exec xvfb-run -a -s "-screen 0 1280x900x24" "$0" "$BIN_DIR"
fi

HOME_DIR=$(mktemp -d)
export HOME="$HOME_DIR" XDG_CONFIG_HOME="$HOME_DIR/.config" XDG_DATA_HOME="$HOME_DIR/.local/share"
export XDG_RUNTIME_DIR="$HOME_DIR/run"; mkdir -p -m700 "$XDG_RUNTIME_DIR"
export LANG=fr_FR.UTF-8 LC_ALL=fr_FR.UTF-8 LANGUAGE=fr
# Software rendering in Xvfb.
export LIBGL_ALWAYS_SOFTWARE=1 WGPU_BACKEND=gl

"$BIN_DIR/exchange-connector-setup" --lab --lab-users "${LAB_USERS:-60}" --lab-devices "${LAB_DEVICES:-140}" \
  >"$HOME_DIR/setup.log" 2>&1 &
SETUP_PID=$!
WORKER_PID=""
cleanup() {
  [ -n "$WORKER_PID" ] && kill "$WORKER_PID" 2>/dev/null || true
  kill "$SETUP_PID" 2>/dev/null || true
  wait "$SETUP_PID" 2>/dev/null || true
  rm -rf "$HOME_DIR"
}
trap cleanup EXIT

WID=$(xdotool search --sync --onlyvisible --name "Exchange Connector setup" | head -1)
xdotool windowmove "$WID" 0 0
sleep 3

shot() { # name
  sleep "${2:-1.5}"
  import -window root "$OUT/fr-$1.png"
  echo "captured $OUT/fr-$1.png"
}
click() { # x y (window-relative)
  xdotool mousemove --window "$WID" "$1" "$2" click 1
  sleep 0.7
}
key() { xdotool key --window "$WID" "$@"; sleep 0.4; }
type_text() { xdotool type --window "$WID" --delay 30 "$1"; sleep 0.4; }
wait_for() { # seconds
  sleep "$1"
}
