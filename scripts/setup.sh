#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (root) or a developer machine: pnpm via corepack, the locked
# dependencies, the TypeScript build, and a WebGPU adapter (Mesa's software Vulkan, lavapipe, from
# bookworm-backports when no adapter is found). Idempotent: a second run does little.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

# pnpm: corepack needs COREPACK_INTEGRITY_KEYS=0 here (the registry serves no signatures).
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm -v 2>/dev/null)" != "10.34.9" ]; then
  export COREPACK_INTEGRITY_KEYS=0
  if ! (corepack enable pnpm && pnpm -v >/dev/null 2>&1); then
    npm install -g pnpm@10.34.9
  fi
fi
export COREPACK_INTEGRITY_KEYS=0
pnpm install --frozen-lockfile
pnpm run build

# A WebGPU adapter: keep whatever is found (a real GPU, or lavapipe already installed).
if ! node bench/dist/probe.js; then
  if [ "$(id -u)" != 0 ]; then
    echo "No WebGPU adapter and not root: install Mesa's Vulkan drivers from bookworm-backports (see README)." >&2
    exit 1
  fi
  echo "Installing Mesa's software Vulkan driver (lavapipe) from bookworm-backports..."
  cat > /etc/apt/sources.list.d/backports.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  apt-get update -qq
  apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
  node bench/dist/probe.js
fi
