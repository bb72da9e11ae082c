#!/usr/bin/env bash
# Splits what a GPU session needs into chunks that each fit in one `device` call beside the tracked
# tree (a call carries at most 64 MiB in all): .gpu/ from gpu-pack.sh (node, Vulkan loader, built
# app, TF.js peers: ~33 MB) plus the packed data set (the decoded cache a training run writes to
# .cache/, xz-compressed: ~65 MB). Output: .gpuchunks/1, 2, ... (git-ignored), CHUNK_MB each
# (default: what a call has room for beside the tracked tree).
# On the device, one call per chunk:   mkdir -p /root/stage && cp .gpuchunks/N/* /root/stage/
# and with the last one:               cat /root/stage/part-* .gpuchunks/LAST/part-* | tar -x -C /root/w
#                                      cd /root/w && bash .gpu/gpu-run.sh 540
# The machine keeps /root between calls only while it is warm (30 s idle): make the calls back to back.
set -euo pipefail
cd "$(dirname "$0")/.."
# Each call also carries the tracked tree (the shipped weights are most of it): size the chunks to
# what is left of the 64 MiB, less 2 MB of margin.
# (Tracked files moved out of the way for a call, e.g. the shipped weights, count nothing.)
tracked=$( (git ls-files -z | xargs -0 du -cb 2>/dev/null || true) | tail -1 | cut -f1)
CHUNK_MB=${CHUNK_MB:-$(( (64 * 1048576 - tracked - 2000000) / 1048576 ))}
echo "tracked tree: $((tracked / 1000000)) MB -> chunks of $CHUNK_MB MiB"
[ "$CHUNK_MB" -ge 8 ] || { echo "gpu-chunks: the tracked tree leaves too little room per call" >&2; exit 1; }
bash scripts/gpu-pack.sh
# DATA=0: leave the data set out (PLAN=bench in gpu-run.sh needs none): ~65 MB, two calls, fewer.
EXCLUDE=()
if [ "${DATA:-1}" = 0 ]; then
  EXCLUDE=(--exclude=.gpu/fer2013.bin.xz)
else
  bin=$(ls -t .cache/fer2013-*.bin 2>/dev/null | head -1 || true)
  [ -n "$bin" ] || { echo "gpu-chunks: no packed data set in .cache/: run any training once (pnpm fer:train --epochs 1) to write it" >&2; exit 1; }
  if [ ! -f .gpu/fer2013.bin.xz ] || [ "$bin" -nt .gpu/fer2013.bin.xz ]; then xz -T0 -6 -c "$bin" > .gpu/fer2013.bin.xz; fi
fi
rm -rf .gpuchunks && mkdir -p .gpuchunks
tar -cf - "${EXCLUDE[@]}" .gpu | split -b "${CHUNK_MB}M" -d - .gpuchunks/part-
n=0
for f in .gpuchunks/part-*; do n=$((n + 1)); mkdir -p ".gpuchunks/$n"; mv "$f" ".gpuchunks/$n/"; done
du -sh .gpuchunks/*
