#!/usr/bin/env bash
# The Windows proof, on Linux: the MSI built with wixl, installed, run and removed under Wine, and the
# Windows-only test executables run under Wine. Sourced by .ci/run (one `stage` per function), or run
# alone: `bash .ci/windows.sh` (every step, in order).
#
# Wine 8 (Debian 12) lacks ProcessPrng in bcryptprimitives.dll, which every Rust program imports: the
# shim in assets/wine/ is built here and put in the prefix's system32, so the test executables and the
# service that msiexec installs under Program Files both find it.
#
# A step that cannot run yet exits 77 (shown as "skipped" in the summary) and says why.

WIN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WIN_TRIPLE=x86_64-pc-windows-gnu
WIN_DEBUG="target/$WIN_TRIPLE/debug"
WIN_LOGS=target/ci-logs
WIN_MSI=target/exchange-connector.msi
WIN_SCREENSHOT="$WIN_LOGS/setup-screenshot.png"
export WINEPREFIX="$WIN_ROOT/target/wine-prefix"
export WINEDEBUG=-all
# No Mono or Gecko download prompts in a fresh prefix.
export WINEDLLOVERRIDES="mscoree,mshtml="
WIN_SERVICE=ExchangeConnector
WIN_INSTALL_DIR="$WINEPREFIX/drive_c/Program Files/Exchange Connector"
WIN_CONFIG_DIR="$WINEPREFIX/drive_c/ProgramData/ExchangeConnector"
WIN_XVFB_PID=""
WIN_INSTALLED_MSI=$WIN_MSI
WIN_SERVICE_STARTS=1

win_skip() { echo "skipped: $*"; return 77; }

# Tools: wine (64-bit), wixl/msitools, Xvfb and ImageMagick for the screenshot.
windows_wine_tools() {
  local missing=()
  command -v wine >/dev/null || missing+=(wine wine64)
  command -v wixl >/dev/null || missing+=(wixl)
  command -v msiinfo >/dev/null || missing+=(msitools)
  command -v Xvfb >/dev/null || missing+=(xvfb)
  command -v import >/dev/null || missing+=(imagemagick)
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null || return 1
    else
      echo "missing: ${missing[*]} (install them with apt-get)"; return 1
    fi
  fi
  mkdir -p "$WIN_LOGS"
  # The ProcessPrng shim (see assets/wine/processprng-shim.c).
  mkdir -p target/wine-shim
  x86_64-w64-mingw32-gcc -shared -O2 -Wall -o target/wine-shim/bcryptprimitives.dll \
    assets/wine/processprng-shim.c assets/wine/processprng-shim.def -ladvapi32 || return 1
  # A display for Wine's desktop and the setup window.
  local n
  for n in $(seq 90 99); do
    [ -e "/tmp/.X$n-lock" ] && continue
    Xvfb ":$n" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
    WIN_XVFB_PID=$!
    export DISPLAY=":$n"
    break
  done
  [ -n "$WIN_XVFB_PID" ] || { echo "no free X display for Xvfb"; return 1; }
  sleep 1
  # A fresh prefix every run: nothing left over from an earlier install.
  wine_stop
  rm -rf "$WINEPREFIX"
  # wineboot's exit code is not reliable (it also reports the missing 32-bit half): check the prefix.
  wine wineboot -i >"$WIN_LOGS/wineboot.log" 2>&1
  [ -f "$WINEPREFIX/drive_c/windows/system32/kernel32.dll" ] || { cat "$WIN_LOGS/wineboot.log"; return 1; }
  cp target/wine-shim/bcryptprimitives.dll "$WINEPREFIX/drive_c/windows/system32/" || return 1
  # Restart the prefix's wineserver: services.exe as left by `wineboot -i` accepts CreateService but
  # then cannot open the new service (msiexec's StartServices fails with 1060); a fresh one is fine.
  wine_stop
  echo "Wine $(wine --version) prefix $WINEPREFIX, display $DISPLAY"
}

# Stops this prefix's wineserver (and with it every Wine process of the prefix) and our Xvfb.
wine_stop() {
  [ -d "$WINEPREFIX" ] && wineserver -k 2>/dev/null
  return 0
}
windows_cleanup() {
  wine_stop
  [ -n "$WIN_XVFB_PID" ] && kill "$WIN_XVFB_PID" 2>/dev/null
  WIN_XVFB_PID=""
  return 0
}

# The Windows test executables (tests/windows_*.rs) and, with them, the three .exe files, in one cargo
# invocation that reuses the cross-build's artefacts.
windows_build_tests() {
  mkdir -p "$WIN_LOGS"
  cargo test --locked --target "$WIN_TRIPLE" --no-run --test 'windows_*' \
    --message-format=json-render-diagnostics >"$WIN_LOGS/windows-tests.json" || return 1
  python3 - "$WIN_LOGS/windows-tests.json" >"$WIN_LOGS/windows-tests.list" <<'EOF' || return 1
import json, sys
for line in open(sys.argv[1]):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and "test" in m["target"]["kind"]:
        print(m["executable"])
EOF
  echo "test executables:"; cat "$WIN_LOGS/windows-tests.list"
  [ -s "$WIN_LOGS/windows-tests.list" ]
}

windows_build_msi() {
  bash .ci/build-msi.sh
}

# Runs a Windows program under Wine with a time limit; its exit code is the program's.
wine_run() {
  local limit=$1; shift
  timeout "$limit" wine "$@"
}

windows_msi_install() {
  [ -s "$WIN_MSI" ] || { echo "$WIN_MSI is missing"; return 1; }
  WIN_INSTALLED_MSI=$WIN_MSI
  WIN_SERVICE_STARTS=1
  # The MSI starts the service at install and fails if it cannot: that needs a service binary with
  # the SCM entry point (`run --service`). Until it has one, install a copy whose ServiceControl row
  # only stops and removes (event 162 instead of 163), and say so.
  if ! wine_run 120 "$WIN_DEBUG/exchange-connector-service.exe" run --help >/dev/null 2>&1; then
    echo "NOTE: exchange-connector-service.exe has no \`run --service\` yet: installing without starting the service"
    WIN_INSTALLED_MSI=target/exchange-connector-nostart.msi
    WIN_SERVICE_STARTS=0
    cp "$WIN_MSI" "$WIN_INSTALLED_MSI" || return 1
    msibuild "$WIN_INSTALLED_MSI" -q "UPDATE \`ServiceControl\` SET \`Event\` = 162 WHERE \`ServiceControl\` = 'ServiceControl'" || return 1
  fi
  wine_run 600 msiexec /i "$WIN_INSTALLED_MSI" /qn /l*v "$(winepath -w "$WIN_LOGS/msi-install.log")"
  local rc=$?
  if [ $rc -ne 0 ]; then
    echo "msiexec /i failed ($rc); the end of its log:"
    tr -d '\0\r' <"$WIN_LOGS/msi-install.log" | grep -v '^Property' | tail -30
    return 1
  fi
  local f ok=0
  for f in exchange-connector-service.exe exchange-connector-setup.exe exchange-connector-lab.exe \
           assets/exchange-connector.ico assets/exchange-bridge.ps1 assets/notifications/en.html; do
    if [ -f "$WIN_INSTALL_DIR/$f" ]; then echo "installed: Program Files/Exchange Connector/$f"
    else echo "NOT installed: $f"; ok=1; fi
  done
  [ -d "$WIN_CONFIG_DIR" ] && echo "created: ProgramData/ExchangeConnector" \
    || { echo "NOT created: ProgramData/ExchangeConnector"; ok=1; }
  # Wine resolves the per-machine Start menu to the user's; Windows to ProgramData's.
  [ -n "$(find "$WINEPREFIX/drive_c" -path '*Start Menu/Programs/Exchange Connector Setup.lnk')" ] \
    && echo "Start menu: Exchange Connector Setup" \
    || { echo "NOT in the Start menu: Exchange Connector Setup"; ok=1; }
  return $ok
}

# The service as the SCM and the registry see it.
windows_service_registered() {
  local key="HKLM\\System\\CurrentControlSet\\Services\\$WIN_SERVICE"
  wine_run 120 reg query "$key" >"$WIN_LOGS/service-registry.txt" 2>&1 \
    || { echo "the service $WIN_SERVICE is not registered"; cat "$WIN_LOGS/service-registry.txt"; return 1; }
  tr -d '\r' <"$WIN_LOGS/service-registry.txt" | grep -E "ImagePath|ObjectName|Start|DisplayName"
  local reg ok=0
  reg=$(tr -d '\r' <"$WIN_LOGS/service-registry.txt")
  grep -q 'ImagePath.*exchange-connector-service.exe.* run --service' <<<"$reg" || { echo "unexpected ImagePath"; ok=1; }
  grep -qi 'ObjectName.*NT SERVICE\\ExchangeConnector' <<<"$reg" || { echo "unexpected account"; ok=1; }
  grep -qE 'Start[[:space:]]+REG_DWORD[[:space:]]+0x2' <<<"$reg" || { echo "not automatic start"; ok=1; }
  # Wine's sc.exe has no `query`; the service binary reports the state itself once it can.
  if [ "$WIN_SERVICE_STARTS" = 1 ]; then
    wine_run 120 "$WIN_INSTALL_DIR/exchange-connector-service.exe" service status 2>&1 | tr -d '\r' \
      | tee "$WIN_LOGS/service-status.txt"
    grep -q "Running" "$WIN_LOGS/service-status.txt" || { echo "the service is not running"; ok=1; }
  fi
  return $ok
}

windows_run_tests() {
  [ -s "$WIN_LOGS/windows-tests.list" ] || { echo "no Windows test executables were built"; return 1; }
  local exe rc=0 log
  while read -r exe; do
    log="$WIN_LOGS/$(basename "$exe" .exe).log"
    echo "--- wine $(basename "$exe")"
    wine_run 900 "$exe" --test-threads=1 --nocapture 2>&1 | tr -d '\r' | tee "$log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
  done <"$WIN_LOGS/windows-tests.list"
  return $rc
}

# The installed setup window under Xvfb, photographed.
windows_gui_screenshot() {
  local exe="$WIN_INSTALL_DIR/exchange-connector-setup.exe"
  [ -f "$exe" ] || { echo "the setup is not installed"; return 1; }
  # PE subsystem 2 is a windowed program; the placeholder setup is a console program.
  local headers
  headers=$(x86_64-w64-mingw32-objdump -p "$exe")
  if ! grep -q "Subsystem.*Windows GUI" <<<"$headers"; then
    win_skip "GUI not built yet (exchange-connector-setup.exe is still the console placeholder)"
    return
  fi
  rm -f "$WIN_SCREENSHOT"
  # wgpu's default (D3D12) finds no usable adapter under Wine 8 ("Parent device is lost"); its GL
  # backend goes through Wine's WGL to Mesa on Xvfb.
  ( cd "$WIN_INSTALL_DIR" && WGPU_BACKEND=gl exec timeout 120 wine ./exchange-connector-setup.exe ) \
    >"$WIN_LOGS/setup-gui.log" 2>&1 &
  local pid=$! waited=0
  # Wait for a window to be drawn (the first frame can take a while with a software renderer).
  while [ $waited -lt 60 ]; do
    sleep 5; waited=$((waited + 5))
    kill -0 $pid 2>/dev/null || break
    import -display "$DISPLAY" -window root "$WIN_SCREENSHOT" 2>/dev/null || continue
    # A black desktop alone has (almost) no colour variation.
    local sd
    sd=$(identify -format '%[fx:standard_deviation]' "$WIN_SCREENSHOT" 2>/dev/null || echo 0)
    awk -v s="$sd" 'BEGIN { exit !(s > 0.02) }' && [ $waited -ge 15 ] && break
  done
  kill $pid 2>/dev/null
  wait $pid 2>/dev/null
  if [ ! -s "$WIN_SCREENSHOT" ]; then
    echo "no screenshot; the setup's output:"; tail -20 "$WIN_LOGS/setup-gui.log"; return 1
  fi
  local sd
  sd=$(identify -format '%[fx:standard_deviation]' "$WIN_SCREENSHOT")
  echo "screenshot: $WIN_SCREENSHOT (colour deviation $sd)"
  awk -v s="$sd" 'BEGIN { exit !(s > 0.02) }' || { echo "the screenshot is blank"; tail -20 "$WIN_LOGS/setup-gui.log"; return 1; }
}

windows_msi_uninstall() {
  # Stands for the configuration an admin wrote: uninstall must keep it.
  mkdir -p "$WIN_CONFIG_DIR" && echo '<Configuration/>' >"$WIN_CONFIG_DIR/ci-kept.xml"
  wine_run 600 msiexec /x "$WIN_INSTALLED_MSI" /qn /l*v "$(winepath -w "$WIN_LOGS/msi-uninstall.log")"
  local rc=$? ok=0
  if [ $rc -ne 0 ]; then
    echo "msiexec /x failed ($rc)"; tr -d '\0\r' <"$WIN_LOGS/msi-uninstall.log" | grep -v '^Property' | tail -30
    return 1
  fi
  # Wine's services.exe drops a deleted service's key once its last handle is closed: allow a moment.
  local tries=0
  while wine_run 120 reg query "HKLM\\System\\CurrentControlSet\\Services\\$WIN_SERVICE" >/dev/null 2>&1 \
        && [ $tries -lt 15 ]; do
    sleep 2; tries=$((tries + 1))
  done
  if [ $tries -ge 15 ]; then
    echo "the service $WIN_SERVICE is still registered"; ok=1
  else
    echo "service removed: $WIN_SERVICE"
  fi
  if [ -e "$WIN_INSTALL_DIR/exchange-connector-service.exe" ]; then
    echo "the programs are still in Program Files"; ok=1
  else
    echo "programs removed: Program Files/Exchange Connector"
  fi
  if [ -f "$WIN_CONFIG_DIR/ci-kept.xml" ]; then
    echo "configuration kept: ProgramData/ExchangeConnector"
  else
    echo "the configuration folder was removed"; ok=1
  fi
  return $ok
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -uo pipefail
  cd "$WIN_ROOT" || exit 1
  trap windows_cleanup EXIT
  for step in windows_build_tests windows_build_msi windows_wine_tools windows_msi_install \
              windows_service_registered windows_run_tests windows_gui_screenshot windows_msi_uninstall; do
    echo "::: $step"
    "$step"; rc=$?
    [ $rc -eq 0 ] || [ $rc -eq 77 ] || { echo "$step failed"; exit 1; }
  done
fi
