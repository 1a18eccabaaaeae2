#!/usr/bin/env bash
# Fills fuzz/corpus/<target>/ (fuzz/models/corpus/<target>/ for the model files) with seed inputs: the hand-made ones in fuzz/seeds/<target>/,
# small real files from ../shared/data (the first 16 KiB of each), committed regression
# inputs, and Topaz's affine weights when installed. Run from the repository root.
set -euo pipefail
data=../shared/data
corpus_of() { # target
    case $1 in
        model_json | safetensors | topaz_sav | wheel) echo fuzz/models/corpus/$1 ;;
        *) echo fuzz/corpus/$1 ;;
    esac
}
put() { # target file...
    local c
    c=$(corpus_of "$1"); shift
    for f in "$@"; do
        [ -f "$f" ] || continue
        head -c 16384 "$f" > "$c/$(basename "$(dirname "$f")")_$(basename "$f")"
    done
}
for t in mrc tiff star coords ctf session wheel model_json safetensors topaz_sav; do
    c=$(corpus_of $t)
    mkdir -p "$c"
    if [ -d "fuzz/seeds/$t" ]; then cp fuzz/seeds/$t/* "$c/"; fi
    if [ -d "tests/data/fuzz-regressions/$t" ]; then cp tests/data/fuzz-regressions/$t/* "$c/"; fi
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
for c in fuzz/corpus/* fuzz/models/corpus/*; do echo "$c: $(ls "$c" | wc -l) inputs"; done
