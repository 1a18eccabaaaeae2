#!/usr/bin/env bash
# Fills fuzz/corpus/<target>/ with seed inputs: the hand-made ones in fuzz/seeds/<target>/,
# small real files from ../shared/data (the first 16 KiB of each), committed regression
# inputs, and Topaz's affine weights when installed. Run from the repository root.
set -euo pipefail
data=../shared/data
corpus=fuzz/corpus
put() { # target file...
    local t=$1; shift
    mkdir -p "$corpus/$t"
    for f in "$@"; do
        [ -f "$f" ] || continue
        head -c 16384 "$f" > "$corpus/$t/$(basename "$(dirname "$f")")_$(basename "$f")"
    done
}
for t in mrc tiff star coords ctf session model_json safetensors topaz_sav wheel; do
    mkdir -p "$corpus/$t"
    [ -d "fuzz/seeds/$t" ] && cp fuzz/seeds/$t/* "$corpus/$t/"
    [ -d "tests/data/fuzz-regressions/$t" ] && cp tests/data/fuzz-regressions/$t/* "$corpus/$t/"
done
put mrc "$data"/maps/mrcfile/EMD-3197.map
put tiff "$data"/tomograms/cylindra/14pf_MT.tif
put star "$data"/coords/starfile/*.star "$data"/coords/starfile/relion_tutorial/*.star
put coords "$data"/coords/cryolobm/*/*.{box,cbox,coords,star} "$data"/coords/napari_boxmanager/*.cbox \
    "$data"/coords/napari_boxmanager/*/*.cbox "$data"/coords/topaz_empiar10025_coords/particles.{txt,star} \
    "$data"/coords/cryodrgn/relion31.star "$data"/micrographs/ucsf-1142/*.star
put ctf "$data"/coords/topaz_empiar10025_coords/ctf_params.star "$data"/coords/cryodrgn/relion31.star \
    "$data"/coords/cryodrgn/relion5.star
put topaz_sav "${XDG_DATA_HOME:-$HOME/.local/share}"/cryolens/models/topaz/affine_L1_v0.2.2.sav
ls "$corpus" | while read -r t; do echo "$t: $(ls "$corpus/$t" | wc -l) seeds"; done
