#!/usr/bin/env bash
# Builds target/exchange-connector.msi from wix/main.wxs with wixl (Debian's msitools), on Linux.
#
#   bash .ci/build-msi.sh            # debug Windows binaries (what CI uses)
#   PROFILE=release bash .ci/build-msi.sh
#
# CI packages the debug build: the release build of every crate for a second target costs many
# minutes on a 2-core machine, and the debug .exe files are the same ones the Wine tests run, so the
# cross-build is done once. The .exe files are stripped into target/msi/bin before packaging (the lab's
# debug .exe is ~90 MB with line tables; stripped it packs much faster). Ship releases with
# PROFILE=release.
set -euo pipefail
cd "$(dirname "$0")/.."

TRIPLE=x86_64-pc-windows-gnu
PROFILE=${PROFILE:-debug}
TARGET=${CARGO_TARGET_DIR:-target}
OUT=${OUT:-$TARGET/exchange-connector.msi}

if ! command -v wixl >/dev/null || ! command -v msibuild >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wixl msitools >/dev/null
  else
    echo "wixl is missing: install the Debian packages wixl and msitools"; exit 1
  fi
fi

if [ "$PROFILE" = release ]; then
  cargo build --locked --target "$TRIPLE" --release --bins
else
  # The same invocation as the Windows test build (.ci/windows.sh), which builds the three programs
  # too: a no-op after it, and the .exe files packaged are the ones tested under Wine. (A plain
  # `cargo build --bins` would compile the library again: dev-dependencies change its features.)
  cargo test --locked --target "$TRIPLE" --no-run --test 'windows_*'
fi

VERSION=$(sed -n 's/^version = "\([0-9]*\.[0-9]*\.[0-9]*\).*"$/\1/p' Cargo.toml | head -1)
[ -n "$VERSION" ] || { echo "cannot read the version from Cargo.toml"; exit 1; }

BIN=$TARGET/msi/bin
rm -rf "$BIN" && mkdir -p "$BIN"
for exe in exchange-connector-service exchange-connector-setup exchange-connector-lab; do
  x86_64-w64-mingw32-strip -o "$BIN/$exe.exe" "$TARGET/$TRIPLE/$PROFILE/$exe.exe"
  # build.rs embeds the icon and the version resource: check they are there.
  strings=$(strings -el "$BIN/$exe.exe")
  grep -q "^Exchange Connector$" <<<"$strings" && grep -qx "$VERSION" <<<"$strings" \
    || { echo "$exe.exe has no version resource (build.rs, windres)"; exit 1; }
done
echo "version resource (Exchange Connector $VERSION) and icon embedded in the three .exe files"
# build.rs embeds a manifest per program: the setup asks for elevation, the others run as invoker.
manifest_level() { strings "$BIN/$1.exe" | grep -o 'requestedExecutionLevel level="[A-Za-z]*"' | head -1; }
[ "$(manifest_level exchange-connector-setup)" = 'requestedExecutionLevel level="requireAdministrator"' ] \
  || { echo "exchange-connector-setup.exe has no requireAdministrator manifest (build.rs)"; exit 1; }
for exe in exchange-connector-service exchange-connector-lab; do
  [ "$(manifest_level $exe)" = 'requestedExecutionLevel level="asInvoker"' ] \
    || { echo "$exe.exe has no asInvoker manifest (build.rs)"; exit 1; }
done
echo "manifests: setup requireAdministrator, service and lab asInvoker"

mkdir -p "$(dirname "$OUT")"
# wixl warns about attributes only the WiX toolset uses (Package/@Platform, @InstallPrivileges,
# Component/@Permanent); those lines are noise here.
# wixl takes sources relative to the working directory only (not absolute paths).
wixl -a x64 -D Version="$VERSION" -D CargoTargetBinDir="$(realpath --relative-to=. "$BIN")" -o "$OUT" wix/main.wxs 2>&1 \
  | { grep -v -e "has no property named '\(Platform\|InstallPrivileges\|Permanent\)'" -e '^$' || true; }
[ -s "$OUT" ] || { echo "wixl did not write $OUT"; exit 1; }

# wixl ignores Component/@Permanent: set msidbComponentAttributesPermanent (16) on the configuration
# folder's component as the WiX toolset does, so uninstall never removes %ProgramData%\ExchangeConnector.
msibuild "$OUT" -q "UPDATE \`Component\` SET \`Attributes\` = 276 WHERE \`Component\` = 'ConfigFolderComponent'"
# (Read the table first: `grep -q` in a pipe would cut msiinfo off, and pipefail would call that failure.)
components=$(msiinfo export "$OUT" Component)
grep -qP "^ConfigFolderComponent\t.*\t276\t" <<<"$components" \
  || { echo "the configuration folder's component is not Permanent"; exit 1; }

echo "built $OUT (version $VERSION, $PROFILE binaries, $(du -h "$OUT" | cut -f1))"
