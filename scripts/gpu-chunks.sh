#!/usr/bin/env bash
# Packs a GPU training session into `device` calls (each carries at most 64 MiB, the tracked tree
# included): .gpu/ from gpu-pack.sh (node, Vulkan loader, built app: ~40 MB) and a bundle of the packed
# data set (the decoded cache a training run writes to .cache/, xz-compressed: ~63 MB) and, optionally,
# ensemble members for gpu-run.sh's ENSEMBLE=, split into .gpudata/1 (beside .gpu/), .gpudata/2, ...
# Usage: bash scripts/gpu-chunks.sh [MEMBERS]
#   MEMBERS: 'shipped' (default): the files models/default.json names, the shipped model's members;
#   'none'; or a folder of .safetensors files. They land on the machine as /root/stage/models/<path>,
#   for gpu-run.sh's ENSEMBLE=.
# Each call carries the tracked tree, and the weights under models/ are most of it (74 MB): once the
# members are packed, this script deletes the committed .safetensors files under models/ from the
# working tree (git checkout models/ restores them); it refuses when one of them has uncommitted changes.
# The calls, back to back (the machine keeps /root only while warm, 30 s idle):
#   run(carry [.gpu, .gpudata/1]):  mkdir -p /root/stage && cp -r .gpu /root/stage/ && bash .gpu/gpu-stage.sh .gpudata/1
#   run(carry [.gpudata/K]):        bash /root/stage/.gpu/gpu-stage.sh .gpudata/K        # K = 2 .. N-1
#   run(carry [.gpudata/N]):        bash /root/stage/.gpu/gpu-stage.sh .gpudata/N && cd /root/stage && PLAN=train bash .gpu/gpu-run.sh 540
set -euo pipefail
cd "$(dirname "$0")/.."
MEMBERS=${1:-shipped}
case "$MEMBERS" in
  shipped) mapfile -t FILES < <(node -p "require('./models/default.json').checkpoints.join('\\n')"); FROM=models ;;
  none) FILES=(); FROM=models ;;
  *) [ -d "$MEMBERS" ] || { echo "gpu-chunks: MEMBERS must be 'shipped', 'none' or a folder of .safetensors files; '$MEMBERS' is none of them" >&2; exit 2; }
     mapfile -t FILES < <(cd "$MEMBERS" && find . -name '*.safetensors' | sed 's|^\./||' | sort); FROM=$MEMBERS ;;
esac
for f in "${FILES[@]}"; do [ -f "$FROM/$f" ] || { echo "gpu-chunks: member $FROM/$f is missing (git checkout models/ restores the shipped ones)" >&2; exit 1; }; done
git diff --quiet --diff-filter=M -- ':(glob)models/**/*.safetensors' || { echo "gpu-chunks: a .safetensors file under models/ has uncommitted changes: commit it first (this script deletes them from the working tree for the calls)" >&2; exit 1; }
untracked=$(git ls-files --others --exclude-standard -- ':(glob)models/**/*.safetensors')
[ -z "$untracked" ] || { echo "gpu-chunks: untracked weights under models/ would travel with every call; commit them or move them out:" >&2; echo "$untracked" >&2; exit 1; }
LIMIT=$((64 * 1048576))
MARGIN=2000000 # per call, for files that are neither tracked nor carried (new sources, notes)
# The tracked tree as the calls will carry it: without the weights under models/.
tracked=$( (git ls-files -z -- . ':(exclude,glob)models/**/*.safetensors' | xargs -0 du -cb 2>/dev/null || true) | tail -1 | cut -f1)
bash scripts/gpu-pack.sh
cp scripts/gpu-stage.sh .gpu/
rm -f .gpu/fer2013.bin.xz # the data set travels in .gpudata/, not in .gpu/
bin=$(ls -t .cache/fer2013-*.bin 2>/dev/null | head -1 || true)
[ -n "$bin" ] || { echo "gpu-chunks: no packed data set in .cache/: run any training once (pnpm fer:train --epochs 2 --time-limit 1) to write it" >&2; exit 1; }
mkdir -p .gpudata
if [ ! -f .gpudata/fer2013.bin.xz ] || [ "$bin" -nt .gpudata/fer2013.bin.xz ]; then xz -T0 -9 -c "$bin" > .gpudata/fer2013.bin.xz; fi
# The bundle: .gpu/fer2013.bin.xz and models/..., as paths under /root/stage (uncompressed tar: the
# weights do not compress).
rm -rf .gpudata/bundle && mkdir -p .gpudata/bundle/.gpu .gpudata/bundle/models
ln .gpudata/fer2013.bin.xz .gpudata/bundle/.gpu/fer2013.bin.xz
for f in "${FILES[@]}"; do mkdir -p ".gpudata/bundle/models/$(dirname "$f")" && ln -f "$FROM/$f" ".gpudata/bundle/models/$f" 2>/dev/null || cp "$FROM/$f" ".gpudata/bundle/models/$f"; done
tar -cf .gpudata/bundle.tar -C .gpudata/bundle .gpu models
rm -rf .gpudata/bundle
size=$(stat -c %s .gpudata/bundle.tar)
gpu=$(du -sb .gpu | cut -f1)
first=$((LIMIT - tracked - gpu - MARGIN))
rest=$((LIMIT - tracked - MARGIN))
[ "$first" -gt 0 ] || { echo "gpu-chunks: .gpu/ ($((gpu / 1000000)) MB) and the tracked tree ($((tracked / 1000000)) MB) leave no room in the first call" >&2; exit 1; }
rm -rf .gpudata/[0-9]*
k=1; offset=0
while [ "$offset" -lt "$size" ]; do
  n=$([ $k = 1 ] && echo $first || echo $rest)
  mkdir -p .gpudata/$k
  dd if=.gpudata/bundle.tar of=.gpudata/$k/bundle.tar.$(printf %02d $k) iflag=skip_bytes,count_bytes skip=$offset count=$n status=none
  offset=$((offset + n)); k=$((k + 1))
done
N=$((k - 1))
echo "$(sha256sum < .gpudata/bundle.tar | cut -d' ' -f1) $N" > .gpudata/$N/bundle.sha256
for k in $(seq 1 $N); do cat .gpudata/$k/bundle.tar.*; done | cmp - .gpudata/bundle.tar
rm .gpudata/bundle.tar
echo "tracked tree $((tracked / 1000000)) MB, .gpu $((gpu / 1000000)) MB, bundle $((size / 1000000)) MB (the data set and ${#FILES[@]} member(s)${FILES:+: ${FILES[*]}}) -> $N calls:"
for k in $(seq 1 $N); do echo "  .gpudata/$k: $(du -sb .gpudata/$k | cut -f1 | awk '{printf "%.1f MB", $1/1e6}')"; done
# The committed weights leave the working tree for the calls (git checkout models/ restores them).
git ls-files -z -- ':(glob)models/**/*.safetensors' | xargs -0 -r rm -f
echo "deleted the committed models/**/*.safetensors from the working tree for the calls: git checkout models/ restores them"
