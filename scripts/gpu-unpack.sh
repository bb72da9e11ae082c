#!/usr/bin/env bash
# Run on the GPU machine, from the repo root, at the start of every command (see gpu-pack.sh).
set -e
for f in .gpu/*.deb; do dpkg -x "$f" /; done
ldconfig
xz -dc .gpu/node.xz > /usr/local/bin/node && chmod +x /usr/local/bin/node
mkdir -p .gpu/app/node_modules/webgpu/dist/linux-x64 .gpu/app/node_modules/@fer
xz -dc .gpu/dawn.node.xz > .gpu/app/node_modules/webgpu/dist/linux-x64/dawn.node
for p in tensor nn fer; do ln -sfn ../../packages/$p .gpu/app/node_modules/@fer/$p; done
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
echo "node $(node -v)"
