#!/usr/bin/env bash
# Judges a finished CPU run on PublicTest only, by the rules written before it (docs/results.md):
#   its best checkpoint with flip and with ten-crop (the single-network rules: 4, 10, 13, 17, 20, 23), and
#   resvgg + vgg + it, ten-crop, equal weights (the ensemble rules: 5, 11, 15, 18, 21, 24; the shipped three: 2,546).
# It prints the counts; each rule's bar is in docs/results.md (rule 24's is higher than the others').
# The shipped resvgg's and vgg's ten-crop PublicTest probabilities come from one pass over those two
# (`fer:eval --save-probs`, ~15 min on 2 cores), cached in runs/shipped-public/, so each later run needs only its
# own ten-crop pass (~3 min). PrivateTest is not read here: a rule reads it once, by hand, only if it allows.
# A run is judged only once it has all the epochs its checkpoint's config planned (no partial run).
#   RUN=runs/cpu-e80 bash scripts/analysis/judge-cpu-run.sh     # the default RUN
set -euo pipefail
cd "$(dirname "$0")/../.."
RUN=${RUN:-runs/cpu-e80}
SHIPPED=runs/shipped-public/tencrop-probs.json
pnpm -s exec tsc -b
# the planned epoch count, from the run's own checkpoint, read by the checkpoint reader training resumes with
EPOCHS=$(node --input-type=module -e 'import { readCheckpoint } from "./packages/fer/dist/checkpoint.js";
console.log((await readCheckpoint(process.argv[1])).state.config.epochs)' "$RUN/last.safetensors")
test "$(wc -l < "$RUN/epochs.jsonl")" -ge "$EPOCHS" || { echo "$RUN: $(wc -l < "$RUN/epochs.jsonl") of $EPOCHS epochs; finish it first: pnpm fer:train --out $RUN --resume" >&2; exit 2; }
# the shipped model's first two members (models/default.json): resvgg and vgg; redone when either weights file is newer
MEMBERS=(models/res/best.safetensors models/fer-best.safetensors)
[ "$SHIPPED" -nt "${MEMBERS[0]}" ] && [ "$SHIPPED" -nt "${MEMBERS[1]}" ] || pnpm -s fer:eval --checkpoint "${MEMBERS[0]},${MEMBERS[1]}" --split public \
  --tta tencrop --out runs/shipped-public --save-probs "$SHIPPED" | tee runs/shipped-public.log
pnpm -s fer:eval --checkpoint "$RUN/best.safetensors" --split public --tta flip --out "$RUN/eval-flip" | tee "$RUN/eval-flip.log"
pnpm -s fer:eval --checkpoint "$RUN/best.safetensors" --split public --tta tencrop --out "$RUN/eval-tencrop" \
  --save-probs "$RUN/public-tencrop.json" | tee "$RUN/eval-tencrop.log"
python3 scripts/analysis/combine-probs.py "$SHIPPED" "$RUN/public-tencrop.json" | tee "$RUN/ensemble-tencrop.log"
