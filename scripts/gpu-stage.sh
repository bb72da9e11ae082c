#!/usr/bin/env bash
# Run on the GPU machine, once per `device` call that carries a part from scripts/gpu-chunks.sh:
#   bash /root/stage/.gpu/gpu-stage.sh .gpudata/K
# keeps the part under /root/stage/parts (the machine keeps /root while warm, 30 s idle) and, with the
# last part (it holds `bundle.sha256`), puts the bundle back together, checks it, and unpacks it into
# /root/stage: .gpu/fer2013.bin.xz (the data set) and models/... (ensemble members, if any were packed).
set -euo pipefail
[ $# = 1 ] && [ -d "$1" ] || { echo "gpu-stage.sh: give the carried part's folder (.gpudata/K), got '${*:-nothing}'" >&2; exit 2; }
STAGE=/root/stage
mkdir -p "$STAGE/parts"
cp "$1"/bundle.tar.* "$STAGE/parts/"
if [ -f "$1/bundle.sha256" ]; then
  want=$(cut -d' ' -f1 "$1/bundle.sha256")
  n=$(ls "$STAGE"/parts/bundle.tar.* | wc -l)
  expected=$(cut -d' ' -f2 "$1/bundle.sha256")
  [ "$n" = "$expected" ] || { echo "gpu-stage.sh: $n of $expected parts are here (a call was missed, or the machine was given back between calls)" >&2; exit 2; }
  got=$(cat "$STAGE"/parts/bundle.tar.* | sha256sum | cut -d' ' -f1)
  [ "$got" = "$want" ] || { echo "gpu-stage.sh: the $n parts do not make the packed bundle (sha256 $got, expected $want)" >&2; exit 2; }
  cat "$STAGE"/parts/bundle.tar.* | tar -xf - -C "$STAGE"
  rm -rf "$STAGE/parts"
  echo "gpu-stage.sh: unpacked into $STAGE:"; (cd "$STAGE" && find .gpu/fer2013.bin.xz models -type f 2>/dev/null | sort)
else
  echo "gpu-stage.sh: $(ls "$STAGE"/parts/bundle.tar.* | wc -l) part(s) staged"
fi
