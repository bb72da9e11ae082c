#!/usr/bin/env bash
# Packs a GPU training session into two `device` calls (a call carries at most 64 MiB, the tracked tree
# included): .gpu/ from gpu-pack.sh (node, Vulkan loader, built app, TF.js peers: ~41 MB) and the packed
# data set (the decoded cache a training run writes to .cache/, xz-compressed: ~64 MB), split into
# .gpudata/1 (the part that fits beside .gpu/ in the first call) and .gpudata/2 (the rest).
# Move the shipped weights out of the checkout first (they are ~33 MB of the tracked tree).
# The two calls, back to back (the machine keeps /root only while warm, 30 s idle):
#   run(carry [.gpu, .gpudata/1]):  mkdir -p /root/stage && cp -r .gpu .gpudata/1/* /root/stage/ && \
#                                   cd /root/stage && PLAN=profile bash .gpu/gpu-run.sh 150
#   run(carry [.gpudata/2]):        cat /root/stage/fer.xz.* .gpudata/2/* > /root/stage/.gpu/fer2013.bin.xz && \
#                                   cd /root/stage && PLAN=train bash .gpu/gpu-run.sh 540
# (The first call does useful work while the data set's first part travels; its tuner cache,
# /root/gpu-work/tune, serves the second.)
set -euo pipefail
cd "$(dirname "$0")/.."
LIMIT=$((64 * 1048576))
tracked=$( (git ls-files -z | xargs -0 du -cb 2>/dev/null || true) | tail -1 | cut -f1)
bash scripts/gpu-pack.sh
rm -f .gpu/fer2013.bin.xz # the data set travels in .gpudata/, not in .gpu/
bin=$(ls -t .cache/fer2013-*.bin 2>/dev/null | head -1 || true)
[ -n "$bin" ] || { echo "gpu-chunks: no packed data set in .cache/: run any training once (pnpm fer:train --epochs 1) to write it" >&2; exit 1; }
mkdir -p .gpudata
if [ ! -f .gpudata/fer2013.bin.xz ] || [ "$bin" -nt .gpudata/fer2013.bin.xz ]; then xz -T0 -9 -c "$bin" > .gpudata/fer2013.bin.xz; fi
gpu=$(du -sb .gpu | cut -f1)
data=$(stat -c %s .gpudata/fer2013.bin.xz)
# 2 MB of margin per call for files that are neither tracked nor carried (new sources, notes).
first=$((LIMIT - tracked - gpu - 2000000))
second=$((data - first))
echo "tracked tree $((tracked / 1000000)) MB, .gpu $((gpu / 1000000)) MB, data set $((data / 1000000)) MB -> calls of $(((tracked + gpu + first) / 1000000)) and $(((tracked + second) / 1000000)) MB"
[ "$first" -gt 0 ] && [ $((tracked + second + 2000000)) -le "$LIMIT" ] || { echo "gpu-chunks: does not fit in two calls (move models/*.safetensors out of the checkout?)" >&2; exit 1; }
rm -rf .gpudata/1 .gpudata/2 && mkdir -p .gpudata/1 .gpudata/2
head -c "$first" .gpudata/fer2013.bin.xz > .gpudata/1/fer.xz.aa
tail -c +$((first + 1)) .gpudata/fer2013.bin.xz > .gpudata/2/fer.xz.ab
cat .gpudata/1/fer.xz.aa .gpudata/2/fer.xz.ab | cmp - .gpudata/fer2013.bin.xz
du -sh .gpu .gpudata/1 .gpudata/2
