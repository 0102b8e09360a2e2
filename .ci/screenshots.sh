#!/usr/bin/env bash
# Real-window screenshots of the setup in French, from an empty tenant (issues 12 and 14): sign in with a
# device code → what it will create → created → Connect → first sync → held plan preview → Confirm →
# device table → "why" panel → sync this user, written to docs/screenshots/fr-*.png.
#
# Runs `exchange-connector-setup --lab --lab-empty-tenant` in Xvfb (1280×900), in French
# (LANG=fr_FR.UTF-8 with a fresh HOME, so no remembered language or window size applies), drives it with
# xdotool and captures the screen with ImageMagick's `import`. The admin who types the device code on
# another device is the one stand-in: the lab's control API approves the code as a Global Administrator
# (`POST /control/sign-in/device-codes/approve`), as the kittest flows do. AccessKit is not visible to
# xdotool, so the script clicks at screen positions measured on this layout (1280×900, scale 1): after a
# layout change, run it, look at the PNGs, and adjust the positions below.
#
# Usage: .ci/screenshots.sh [BIN_DIR]   (default: $CARGO_TARGET_DIR/debug or target/debug)
# Needs: xvfb-run, xdotool, imagemagick, curl (apt-get install -y xvfb xdotool imagemagick curl).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN_DIR="${1:-${CARGO_TARGET_DIR:-target}/debug}"
OUT=docs/screenshots
mkdir -p "$OUT"
for tool in xvfb-run xdotool import curl; do
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
export LANG=fr_FR.UTF-8 LANGUAGE=fr
# Software rendering in Xvfb.
export LIBGL_ALWAYS_SOFTWARE=1 WGPU_BACKEND=gl

"$BIN_DIR/exchange-connector-setup" --lab --lab-empty-tenant --lab-users "${LAB_USERS:-60}" \
  --lab-devices "${LAB_DEVICES:-140}" >"$HOME_DIR/setup.log" 2>&1 &
SETUP_PID=$!
# Where `setup --lab` puts the lab's endpoints (src/bin/setup.rs).
LAB_DIR="${TMPDIR:-/tmp}/exchange-connector-lab-$SETUP_PID"
WORKER_PID=""
cleanup() {
  [ -n "$WORKER_PID" ] && kill "$WORKER_PID" 2>/dev/null || true
  kill "$SETUP_PID" 2>/dev/null || true
  wait "$SETUP_PID" 2>/dev/null || true
  rm -rf "$HOME_DIR"
}
trap cleanup EXIT

xdotool search --sync --onlyvisible --name "Exchange Connector setup" >/dev/null
sleep 4

shot() { # name
  sleep "${2:-1.5}"
  import -window root "$OUT/fr-$1.png"
  echo "captured $OUT/fr-$1.png"
}
# Without a window manager the window opens centred at its first-run size (1024×720 on this screen,
# at 128,90); positions are screen coordinates as the captures show them.
click() { # x y
  xdotool mousemove "$1" "$2" click 1
  sleep 0.8
}
NEXT="522 789"          # Suivant ▶
DEVICE_CODE="733 323"   # Pas de navigateur ici : utiliser un code d'appareil
CREATE="405 673"        # Créer (under the plan)
CONNECT="427 203"       # Se connecter
STEP_CONNECT="200 258"  # 5. Connexion, in the step list (Connect moves on to the first sync by itself)
STEP_FIRST_SYNC="240 281" # 6. Première synchronisation
OPEN_STATUS="449 252"   # Ouvrir la page d'état (first sync step)
CONFIRM="246 529"       # Confirmer : appliquer à N appareils (held plan)
DEVICES_TAB="288 182"   # Appareils
A_USER="171 346"        # a user with a blocked phone in the device table (opens the "why" panel)
SYNC_USER="228 510"     # Synchroniser cet utilisateur

# The admin on another device: types the code shown, signs in as a Global Administrator.
approve_device_code() {
  local control ca code
  control=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["control_base"])' "$LAB_DIR/endpoints.json")
  ca="$LAB_DIR/lab-ca.pem"
  code=$(curl -sf --cacert "$ca" "$control/sign-in/device-codes" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["userCode"])')
  curl -sf --cacert "$ca" -X POST -H 'content-type: application/json' \
    -d "{\"userCode\":\"$code\",\"user\":\"admin@contoso.lab\",\"role\":\"Global Administrator\"}" \
    "$control/sign-in/device-codes/approve" >/dev/null
  echo "device code $code approved as a Global Administrator"
}

rm -f "$OUT"/fr-*.png
shot 01-sign-in 0
click $DEVICE_CODE
shot 02-device-code 3
approve_device_code
shot 03-plan 5
click $CREATE
shot 04-created 8
for _ in 1 2 3 4; do click $NEXT; done
click $CONNECT
sleep 25
shot 06-first-sync
click $STEP_CONNECT
shot 05-connect
click $STEP_FIRST_SYNC
click $OPEN_STATUS
shot 07-held-plan 5
click $CONFIRM
sleep 25
shot 08-confirmed
# The worker the setup started (its child) is ended with it.
WORKER_PID=$(pgrep -P "$SETUP_PID" -f exchange-connector-service | head -1 || true)
click $DEVICES_TAB
shot 09-device-table 5
click $A_USER
shot 10-why-panel 6
click $SYNC_USER
shot 11-sync-this-user 8
echo "done: look at every $OUT/fr-*.png"
