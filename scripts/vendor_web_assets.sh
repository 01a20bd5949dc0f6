#!/usr/bin/env bash
# Vendor the dashboard's chart library (uPlot) and the API documentation's Swagger UI
# (swagger-ui-dist, served at /docs) from the npm registry into
# src/factory_commons/server/static/vendor/{uplot,swagger-ui}/, so the pages load them from the
# server itself (no CDN: a shop PC may have no internet). Run it again to change a version:
#
#   scripts/vendor_web_assets.sh                  # the versions pinned below
#   scripts/vendor_web_assets.sh 1.6.32 5.36.0    # others (uPlot, Swagger UI)
#
# It packs the package with `npm pack`, checks the tarball against the registry's integrity
# (sha512), extracts the minified IIFE build, its CSS and the licence, and writes manifest.json
# (version, tarball integrity, sha256 of each vendored file) that tests/test_dashboard_vendor.py
# checks the files against.
set -euo pipefail
VERSION="${1:-1.6.32}"
cd "$(dirname "$0")/.."
DEST=src/factory_commons/server/static/vendor/uplot
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

INTEGRITY=$(npm view "uplot@$VERSION" dist.integrity)
(cd "$TMP" && npm pack "uplot@$VERSION" --silent >/dev/null)
TGZ="$TMP/uplot-$VERSION.tgz"
ACTUAL="sha512-$(openssl dgst -sha512 -binary "$TGZ" | base64 -w0)"
if [ "$ACTUAL" != "$INTEGRITY" ]; then
  echo "uplot@$VERSION: the tarball's sha512 ($ACTUAL) is not the registry's ($INTEGRITY)" >&2
  exit 1
fi
tar -xzf "$TGZ" -C "$TMP" package/dist/uPlot.iife.min.js package/dist/uPlot.min.css package/LICENSE
mkdir -p "$DEST"
cp "$TMP/package/dist/uPlot.iife.min.js" "$TMP/package/dist/uPlot.min.css" "$DEST/"
cp "$TMP/package/LICENSE" "$DEST/LICENSE"

sha() { sha256sum "$1" | cut -d' ' -f1; }
cat >"$DEST/manifest.json" <<JSON
{
  "package": "uplot",
  "version": "$VERSION",
  "tarball_integrity": "$INTEGRITY",
  "license": "MIT",
  "files": {
    "uPlot.iife.min.js": "sha256:$(sha "$DEST/uPlot.iife.min.js")",
    "uPlot.min.css": "sha256:$(sha "$DEST/uPlot.min.css")",
    "LICENSE": "sha256:$(sha "$DEST/LICENSE")"
  }
}
JSON
echo "vendored uplot@$VERSION into $DEST"

# Swagger UI for /docs (server/app.py serves the page; static/docs.js starts it: no inline script)
SWAGGER_VERSION="${2:-5.36.0}"
DEST=src/factory_commons/server/static/vendor/swagger-ui
INTEGRITY=$(npm view "swagger-ui-dist@$SWAGGER_VERSION" dist.integrity)
(cd "$TMP" && npm pack "swagger-ui-dist@$SWAGGER_VERSION" --silent >/dev/null)
TGZ="$TMP/swagger-ui-dist-$SWAGGER_VERSION.tgz"
ACTUAL="sha512-$(openssl dgst -sha512 -binary "$TGZ" | base64 -w0)"
if [ "$ACTUAL" != "$INTEGRITY" ]; then
  echo "swagger-ui-dist@$SWAGGER_VERSION: the tarball's sha512 ($ACTUAL) is not the registry's ($INTEGRITY)" >&2
  exit 1
fi
rm -rf "$TMP/package"
tar -xzf "$TGZ" -C "$TMP" package/swagger-ui-bundle.js package/swagger-ui.css package/LICENSE
mkdir -p "$DEST"
cp "$TMP/package/swagger-ui-bundle.js" "$TMP/package/swagger-ui.css" "$TMP/package/LICENSE" "$DEST/"
cat >"$DEST/manifest.json" <<JSON
{
  "package": "swagger-ui-dist",
  "version": "$SWAGGER_VERSION",
  "tarball_integrity": "$INTEGRITY",
  "license": "Apache-2.0",
  "files": {
    "swagger-ui-bundle.js": "sha256:$(sha "$DEST/swagger-ui-bundle.js")",
    "swagger-ui.css": "sha256:$(sha "$DEST/swagger-ui.css")",
    "LICENSE": "sha256:$(sha "$DEST/LICENSE")"
  }
}
JSON
echo "vendored swagger-ui-dist@$SWAGGER_VERSION into $DEST"
