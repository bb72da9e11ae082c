#!/usr/bin/env bash
# Run on the GPU machine, from the folder holding .gpu/ (see gpu-pack.sh), before any node command:
# installs node and the Vulkan loader + libglvnd there, then unpacks Dawn's addon into the app.
# Where node already exists (a dry run on a development machine) only the app's pieces are unpacked.
set -e
if ! command -v node >/dev/null; then
  for f in .gpu/*.deb; do dpkg -x "$f" /; done
  ldconfig
  xz -dc .gpu/node.xz > /usr/local/bin/node && chmod +x /usr/local/bin/node
fi
mkdir -p .gpu/app/node_modules/webgpu/dist/linux-x64 .gpu/app/node_modules/@fer
xz -dc .gpu/dawn.node.xz > .gpu/app/node_modules/webgpu/dist/linux-x64/dawn.node
for p in tensor nn fer; do ln -sfn ../../packages/$p .gpu/app/node_modules/@fer/$p; done
echo "node $(node -v)"
