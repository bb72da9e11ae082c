#!/usr/bin/env bash
# Judges the 80-epoch `cpu` run (runs/cpu-e80) by the rules written before it (.git/rules28.md, rules 4 and 5):
#   rule 4: its best checkpoint, flip TTA, >= 2,430 PublicTest images (50 epochs: 2,405);
#   rule 5: resvgg + vgg + it, ten-crop, equal weights, >= 2,551 PublicTest images (the shipped three: 2,546).
# Rule 5 reuses the saved ten-crop PublicTest probabilities of the shipped resvgg and vgg (session 27,
# runs/gpu27/eval4.tgz) so that only the new network needs a ten-crop pass on this machine (~10 min on 2 cores).
# PrivateTest is not read here: rule 8 reads it once, by hand, only if rule 4 holds.
# RUN=runs/cpu-e80-std judges the 80-epoch run with standard augmentation the same way (rules 10-11: >= 2,487
# images with flip; >= 2,551 for the ensemble). RUN=runs/cpu-e120 judges the 120-epoch run (rules 13 and 15:
# >= 2,487 images with flip; >= 2,551 for the ensemble). A run is judged only once it has all the epochs its
# checkpoint's config planned (rules 9, 12 and 16: no partial run).
set -euo pipefail
cd "$(dirname "$0")/../.."
RUN=${RUN:-runs/cpu-e80}
# the planned epoch count, from the run's own checkpoint, read by the checkpoint reader training resumes with
pnpm -s exec tsc -b
EPOCHS=$(node --input-type=module -e 'import { readCheckpoint } from "./packages/fer/dist/checkpoint.js";
console.log((await readCheckpoint(process.argv[1])).state.config.epochs)' "$RUN/last.safetensors")
test "$(wc -l < "$RUN/epochs.jsonl")" -ge "$EPOCHS" || { echo "$RUN: $(wc -l < "$RUN/epochs.jsonl") of $EPOCHS epochs; finish it first: pnpm fer:train --preset cpu --out $RUN --resume" >&2; exit 2; }
test -f runs/gpu27/eval4/ens4-tencrop-public-probs.json || tar xzf runs/gpu27/eval4.tgz -C runs/gpu27
pnpm -s fer:eval --checkpoint "$RUN/best.safetensors" --split public --tta flip --out "$RUN/eval-flip" | tee "$RUN/eval-flip.log"
pnpm -s fer:eval --checkpoint "$RUN/best.safetensors" --split public --tta tencrop --out "$RUN/eval-tencrop" \
  --save-probs "$RUN/public-tencrop.json" | tee "$RUN/eval-tencrop.log"
# members 1 and 2 of the saved file: the shipped resvgg (res42) and vgg
python3 scripts/analysis/combine-probs.py runs/gpu27/eval4/ens4-tencrop-public-probs.json:1,2 "$RUN/public-tencrop.json" \
  | tee "$RUN/ensemble-tencrop.log"
