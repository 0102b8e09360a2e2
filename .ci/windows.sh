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
# Cargo's target folder (CARGO_TARGET_DIR when set, as a shared build folder does).
WIN_TARGET=${CARGO_TARGET_DIR:-target}
WIN_DEBUG="$WIN_TARGET/$WIN_TRIPLE/debug"
WIN_LOGS=$WIN_TARGET/ci-logs
WIN_MSI=$WIN_TARGET/exchange-connector.msi
WIN_SCREENSHOT="$WIN_LOGS/setup-screenshot.png"
case "$WIN_TARGET" in /*) WIN_TARGET_ABS=$WIN_TARGET ;; *) WIN_TARGET_ABS=$WIN_ROOT/$WIN_TARGET ;; esac
export WINEPREFIX="$WIN_TARGET_ABS/wine-prefix"
export WINEDEBUG=-all
# No Mono or Gecko download prompts in a fresh prefix.
export WINEDLLOVERRIDES="mscoree,mshtml="
WIN_SERVICE=ExchangeConnector
WIN_INSTALL_DIR="$WINEPREFIX/drive_c/Program Files/Exchange Connector"
WIN_CONFIG_DIR="$WINEPREFIX/drive_c/ProgramData/ExchangeConnector"
WIN_XVFB_PID=""
WIN_LAB_PID=""
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
  # The ProcessPrng shim (see assets/wine/processprng-shim.c), and run-limited.exe (a command run
  # with the administrator's limited, non-elevated token: assets/wine/run-limited.c).
  mkdir -p "$WIN_TARGET/wine-shim"
  x86_64-w64-mingw32-gcc -shared -O2 -Wall -o "$WIN_TARGET/wine-shim/bcryptprimitives.dll" \
    assets/wine/processprng-shim.c assets/wine/processprng-shim.def -ladvapi32 || return 1
  x86_64-w64-mingw32-gcc -O2 -Wall -municode -o "$WIN_TARGET/wine-shim/run-limited.exe" \
    assets/wine/run-limited.c -ladvapi32 || return 1
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
  cp "$WIN_TARGET/wine-shim/bcryptprimitives.dll" "$WINEPREFIX/drive_c/windows/system32/" || return 1
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
  [ -n "$WIN_LAB_PID" ] && kill "$WIN_LAB_PID" 2>/dev/null
  WIN_LAB_PID=""
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
    WIN_INSTALLED_MSI=$WIN_TARGET/exchange-connector-nostart.msi
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
  local events="HKLM\\SYSTEM\\CurrentControlSet\\Services\\EventLog\\Application\\$WIN_SERVICE"
  if wine_run 120 reg query "$events" 2>&1 | tr -d '\r' | grep -q "EventMessageFile"; then
    echo "Event Log source registered: Application/$WIN_SERVICE"
  else
    echo "the Event Log source $WIN_SERVICE is not registered"; ok=1
  fi
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
  # `timeout` passes the TERM on, but the Windows process can outlive it for a while; a setup still
  # running holds its .exe open, and msiexec /x then leaves the programs behind (files in use).
  local gone=0
  while pgrep -f 'exchange-connector-setup\.exe' >/dev/null && [ $gone -lt 10 ]; do sleep 1; gone=$((gone + 1)); done
  pkill -9 -f 'exchange-connector-setup\.exe' 2>/dev/null
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
  # The screenshot stage restarts the Wine prefix, and services.exe then starts the auto-start service
  # again. Seen in CI: with the service running, Wine's msiexec /x removed the service but left the
  # programs (files in use), where Windows Installer's StopServices waits for the stop (ServiceControl
  # Wait="yes"). A Wine stand-in gap: stop the service first so the stage tests the removal itself.
  if wine_run 60 "$WIN_INSTALL_DIR/exchange-connector-service.exe" service status 2>&1 | tr -d '\r' | grep -q ": Running"; then
    echo "the service is running (started again with the Wine prefix): stopping it before msiexec /x"
    wine_run 120 "$WIN_INSTALL_DIR/exchange-connector-service.exe" service stop 2>&1 | tr -d '\r'
    win_wait_state Stopped || return 1
  fi
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

# Waits until `service status` says $1 (Running, Stopped).
win_wait_state() {
  local wanted=$1 tries=0
  while [ $tries -lt 60 ]; do
    wine_run 60 "$WIN_INSTALL_DIR/exchange-connector-service.exe" service status 2>&1 | tr -d '\r' \
      | grep -q ": $wanted" && return 0
    sleep 1; tries=$((tries + 1))
  done
  echo "the service did not reach $wanted; the end of its log:"
  tail -15 "$WIN_CONFIG_DIR/Logs/Connector0.log" 2>/dev/null | tr -d '\r' | cut -c1-400
  return 1
}

# The proof end to end: a lab on 127.0.0.1 on the Linux side; the installed service configured
# through its pipe with the lab's real package (a full-size PFX), first by an administrator who did
# not elevate (refused, nothing stored), then with the service stopped (configure starts it); then a
# full sync by the installed service; then the invariants read from the lab's control API.
#
# The one stand-in: Wine has no PowerShell remoting, so the service's PowerShellPath is a .cmd that
# runs the installed lab's `pwsh` stand-in (the same JSON-lines bridge protocol as
# assets/exchange-bridge.ps1).
windows_lab_sync() {
  local svc="$WIN_INSTALL_DIR/exchange-connector-service.exe"
  [ -f "$svc" ] || { echo "the service is not installed"; return 1; }
  [ "$WIN_SERVICE_STARTS" = 1 ] || { win_skip "the installed service does not start"; return; }
  local lab_dir="$WIN_TARGET_ABS/wine-lab" linux_lab="$WIN_TARGET_ABS/debug/exchange-connector-lab"
  cargo build --locked --bin exchange-connector-lab >/dev/null 2>&1 || { echo "cannot build the Linux lab"; return 1; }
  rm -rf "$lab_dir" && mkdir -p "$lab_dir"
  "$linux_lab" scenario --generate users=40,devices=90,seed=11 >"$lab_dir/scenario.json" || return 1
  ( cd "$lab_dir" && exec "$linux_lab" serve --scenario scenario.json --endpoints-file endpoints.json --dir . ) \
    >"$WIN_LOGS/wine-lab.log" 2>&1 &
  WIN_LAB_PID=$!
  local tries=0
  while [ ! -s "$lab_dir/endpoints.json" ] && [ $tries -lt 60 ]; do sleep 1; tries=$((tries + 1)); done
  [ -s "$lab_dir/endpoints.json" ] || { echo "the lab did not start"; cat "$WIN_LOGS/wine-lab.log"; return 1; }
  local endpoints_w ok=0 out=$WIN_LOGS/wine-configure.log
  endpoints_w=$(winepath -w "$lab_dir/endpoints.json")
  local sealed="$WIN_CONFIG_DIR/secrets/default.ClientCertificate.dpapi"
  local config_file="$WIN_CONFIG_DIR/OnPremisesExchangeConnectorServiceConfiguration.xml"
  rm -f "$sealed" "$config_file"

  echo "--- 1. configure by an administrator who did not elevate: refused, nothing stored"
  wine_run 300 "$WIN_TARGET/wine-shim/run-limited.exe" "$(winepath -w "$svc")" configure \
    --lab-endpoints "$endpoints_w" >"$out" 2>&1
  local rc=$?
  tr -d '\r' <"$out"
  if [ $rc -eq 0 ] || ! grep -q "not running as an administrator" "$out"; then
    echo "FAILED: a non-elevated configure was not refused (exit $rc)"; ok=1
  fi
  [ -e "$sealed" ] && { echo "FAILED: the certificate was stored"; ok=1; }
  [ -e "$config_file" ] && { echo "FAILED: the configuration was written"; ok=1; }

  echo "--- 2. the service stopped; configure (elevated) starts it and hands the secrets over"
  wine_run 120 "$svc" service stop >/dev/null 2>&1
  win_wait_state Stopped || ok=1
  wine_run 300 "$svc" configure --lab-endpoints "$endpoints_w" >"$out" 2>&1
  rc=$?
  tr -d '\r' <"$out"
  [ $rc -eq 0 ] || { echo "FAILED: configure (exit $rc)"; ok=1; }
  grep -qi "worker\|service" "$out" || { echo "FAILED: the secrets did not go to the service"; ok=1; }
  win_wait_state Running || ok=1
  if [ -s "$sealed" ]; then
    echo "certificate sealed with DPAPI in the service's vault: $(basename "$sealed") ($(stat -c %s "$sealed") bytes)"
  else
    echo "FAILED: no sealed certificate in the service's vault"; ok=1
  fi

  echo "--- 3. the PowerShell stand-in as PowerShellPath; the service restarted on the whole configuration"
  local ca_w lab_exe_w
  # The endpoints file names the CA by an absolute path (the lab makes its folder absolute); an older
  # file's relative path is relative to the file's folder.
  ca_w=$(winepath -w "$(python3 -c 'import json, os, sys; p = json.load(open(sys.argv[1]))["ca_cert_pem"]; print(os.path.join(os.path.dirname(sys.argv[1]), p))' "$lab_dir/endpoints.json")")
  lab_exe_w=$(winepath -w "$WIN_INSTALL_DIR/exchange-connector-lab.exe")
  printf '@echo off\r\n"%s" pwsh --ca-file "%s" %%*\r\n' "$lab_exe_w" "$ca_w" >"$lab_dir/lab-pwsh.cmd"
  printf 'PowerShellPath=%s\n' "$(winepath -w "$lab_dir/lab-pwsh.cmd")" >"$lab_dir/answers.txt"
  wine_run 120 "$svc" configure --answers "$(winepath -w "$lab_dir/answers.txt")" 2>&1 | tr -d '\r'
  wine_run 120 "$svc" service stop >/dev/null 2>&1; win_wait_state Stopped || ok=1
  wine_run 120 "$svc" service start >/dev/null 2>&1; win_wait_state Running || ok=1

  echo "--- 4. a full sync by the installed service"
  local report=$WIN_LOGS/wine-sync.json
  wine_run 600 "$svc" sync --full --json >"$report" 2>"$WIN_LOGS/wine-sync.err"
  if grep -q '"outcome": *"HeldByGuard"' "$report"; then
    echo "the mass-change guard held the plan: confirming it"
    wine_run 600 "$svc" sync --confirm --json >"$report" 2>>"$WIN_LOGS/wine-sync.err"
  fi
  tr -d '\r' <"$WIN_LOGS/wine-sync.err" | tail -5

  echo "--- 5. the invariants, from the lab's control API"
  python3 .ci/lab-invariants.py "$lab_dir" "$report" || ok=1
  if [ $ok -ne 0 ]; then
    echo "the service's log:"; tail -30 "$WIN_CONFIG_DIR/Logs/Connector0.log" 2>/dev/null | tr -d '\r'
  fi
  # Stop the service while the lab still answers (a run in flight ends at once), so that the later
  # stages (and msiexec /x) find it stopped, not draining a run against a lab that is gone.
  wine_run 120 "$svc" service stop >/dev/null 2>&1
  win_wait_state Stopped || ok=1
  kill "$WIN_LAB_PID" 2>/dev/null; WIN_LAB_PID=""
  return $ok
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -uo pipefail
  cd "$WIN_ROOT" || exit 1
  trap windows_cleanup EXIT
  for step in windows_build_tests windows_build_msi windows_wine_tools windows_msi_install \
              windows_service_registered windows_lab_sync windows_run_tests windows_gui_screenshot \
              windows_msi_uninstall; do
    echo "::: $step"
    "$step"; rc=$?
    [ $rc -eq 0 ] || [ $rc -eq 77 ] || { echo "$step failed"; exit 1; }
  done
fi
