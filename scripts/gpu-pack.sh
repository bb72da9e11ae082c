#!/usr/bin/env bash
# Packs what a bare GPU machine (CUDA + Python, no Node, no registry) needs to run our built JS:
# node itself, libvulkan1, the compiled packages, shaders and the linux-x64 part of `webgpu`.
# Output: .gpu/ (git-ignored), well under the device tool's 64 MiB limit.
# On the GPU machine:  bash scripts/gpu-unpack.sh && cd .gpu/app && node bench/dist/....js
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -b
rm -rf .gpu/app && mkdir -p .gpu/app
[ -f .gpu/node.xz ] || xz -T0 -c "$(readlink -f "$(command -v node)")" > .gpu/node.xz
# libvulkan1 alone is not enough: NVIDIA's ICD (libGLX_nvidia.so.0) needs libglvnd to load.
if ! ls .gpu/libglvnd0_*.deb >/dev/null 2>&1; then
  (cd .gpu && apt-get download libvulkan1 libglvnd0 libegl1 libopengl0 libgl1 libglx0 libgles2 2>&1 | grep -v unsandboxed || true)
fi
cp package.json .gpu/app/
cp -r shaders .gpu/app/
for p in tensor nn fer; do
  mkdir -p .gpu/app/packages/$p
  cp packages/$p/package.json .gpu/app/packages/$p/
  [ -d packages/$p/dist ] && cp -r packages/$p/dist .gpu/app/packages/$p/
done
mkdir -p .gpu/app/bench && cp bench/package.json .gpu/app/bench/ && cp -r bench/dist .gpu/app/bench/
# Kernel choices an earlier session's tuner made on the lent GPUs (bench/tune/, one file per adapter):
# gpu-run.sh seeds its tuner cache with them, so shapes tuned before cost no device time again.
[ -d bench/tune ] && cp -r bench/tune .gpu/app/bench/
W=$(readlink -f node_modules/.pnpm/webgpu@*/node_modules/webgpu | head -1)
mkdir -p .gpu/app/node_modules/webgpu/dist
cp "$W/package.json" "$W/index.js" .gpu/app/node_modules/webgpu/
xz -T0 -c "$W/dist/linux-x64/dawn.node" > .gpu/dawn.node.xz
cp -rL "$(readlink -f node_modules/.pnpm/pngjs@*/node_modules/pngjs | head -1)" .gpu/app/node_modules/pngjs
# The bench's peers (TF.js-WebGPU on the same Dawn adapter): each package's Node bundle (one file)
# and package.json, and the few packages those bundles require; ~8 MB instead of the packages' ~100 MB.
TF=.gpu/app/node_modules/@tensorflow
for p in tfjs tfjs-core tfjs-backend-cpu tfjs-backend-webgl tfjs-backend-webgpu tfjs-converter tfjs-data tfjs-layers; do
  src=$(readlink -f node_modules/.pnpm/@tensorflow+$p@*/node_modules/@tensorflow/$p | head -1)
  main=$(node -p "require('$src/package.json').main")
  mkdir -p "$TF/$p/$(dirname "$main")"
  cp "$src/package.json" "$TF/$p/"
  cp "$src/$main" "$TF/$p/$main"
done
for p in long seedrandom node-fetch whatwg-url tr46 webidl-conversions; do
  cp -rL "$(readlink -f node_modules/.pnpm/$p@*/node_modules/$p | head -1)" .gpu/app/node_modules/$p
done
cp scripts/gpu-run.sh .gpu/
cp scripts/gpu-unpack.sh .gpu/
du -sh .gpu
