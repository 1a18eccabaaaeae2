#!/usr/bin/env bash
# Prepares, on the development machine, what the GPU benchmark (run.sh) carries to the lent
# device machine: .gpu/ (the release binary, Topaz's weights, the inputs), .whl/ (topaz-em and
# mrcfile wheels) and .gl/ (the Vulkan/EGL loader debs). Compiles nothing: it packs the
# binary already built at target/release/cryolens. See README.md beside this file.
#
# Usage (from anywhere):  nice -n 19 bash assets/bench/gpu/prepare.sh
# Environment:
#   CRYOLENS_BIN        the binary to carry        (default: target/release/cryolens)
#   CRYOLENS_SHARED     the shared data folder     (default: ../shared beside the checkout)
#   CRYOLENS_TOPAZ_DIR  Topaz's .sav weights       (default: ~/.local/share/cryolens/models/topaz)
#   GPU_BENCH_MICROGRAPH=quarter|full  which micrograph travels (default quarter: the full
#                       3710x3838 fei-extended does not fit the 64 MiB limit beside the rest)
#   GPU_BENCH_DL        download cache for the 48 MB topaz-em wheel (default /tmp/cryolens-gpu-dl)
# Exit status: 0 when everything is in place and the total that travels fits 64 MiB, 1 when
# it does not fit (everything is still prepared and the sizes are printed), 2 on an error.
set -euo pipefail
trap 'echo "prepare.sh: failed at line $LINENO" >&2; exit 2' ERR

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
cd "$ROOT"
BIN=${CRYOLENS_BIN:-$ROOT/target/release/cryolens}
SHARED=${CRYOLENS_SHARED:-$(cd "$ROOT/.." && pwd)/shared}
TOPAZ_DIR=${CRYOLENS_TOPAZ_DIR:-$HOME/.local/share/cryolens/models/topaz}
MIC_MODE=${GPU_BENCH_MICROGRAPH:-quarter}
DL=${GPU_BENCH_DL:-/tmp/cryolens-gpu-dl}
LIMIT=$((64 * 1024 * 1024))
FEI=$SHARED/data/micrographs/fei-extended/fei-extended.mrc
TOMO=$SHARED/golden/particleannotation_3d.mrc
PY=${PYTHON:-python3}

need() { [ -e "$1" ] || { echo "prepare.sh: missing $1" >&2; exit 2; }; }
need "$BIN"; need "$FEI"; need "$TOMO"; need "$TOPAZ_DIR"
command -v xz >/dev/null || { echo "prepare.sh: needs xz" >&2; exit 2; }
"$PY" -c 'import numpy, mrcfile' 2>/dev/null || { echo "prepare.sh: $PY needs numpy and mrcfile" >&2; exit 2; }

# 1. Keep the carried folders out of git.
mkdir -p .git/info
touch .git/info/exclude
for p in /.gpu/ /.whl/ /.gl/; do
    grep -qxF "$p" .git/info/exclude || echo "$p" >>.git/info/exclude
done

mkdir -p .gpu/models .gpu/inputs .whl .gl "$DL"

# 2. The binary: stripped, then xz-compressed (stripped it is ~100 MB, over the limit alone;
#    run.sh unpacks it to /tmp). Provenance goes to .gpu/MANIFEST.txt.
tmpbin=$(mktemp /tmp/cryolens-stripped.XXXXXX)
strip -o "$tmpbin" "$BIN"
stripped_bytes=$(stat -c %s "$tmpbin")
if [ ! -s .gpu/cryolens.xz ] || [ "$BIN" -nt .gpu/cryolens.xz ]; then
    xz -T1 --x86 --lzma2=preset=9e -c "$tmpbin" >.gpu/cryolens.xz.part
    mv .gpu/cryolens.xz.part .gpu/cryolens.xz
fi
stripped_sha=$(sha256sum "$tmpbin" | cut -d' ' -f1)
rm -f "$tmpbin"
rm -f .gpu/cryolens # an uncompressed copy must not travel

# 3. Topaz's weights (the same files the topaz-em wheel ships; cryolens reads them from
#    $CRYOLENS_MODELS_DIR/topaz, Topaz from topaz/pretrained/denoise): xz-compressed.
WEIGHTS="unet_L2_v0.2.2.sav unet_small_L1_v0.2.2.sav fcnn_L1_v0.2.2.sav affine_L1_v0.2.2.sav unet-3d-10a-v0.2.4.sav"
for w in $WEIGHTS; do
    need "$TOPAZ_DIR/$w"
    if [ ! -s ".gpu/models/$w.xz" ] || [ "$TOPAZ_DIR/$w" -nt ".gpu/models/$w.xz" ]; then
        xz -T1 -9 -c "$TOPAZ_DIR/$w" >".gpu/models/$w.xz"
    fi
done

# 4. Inputs. The 1024^2 sample (rows/cols 1024:2048 of fei-extended) is assets/sample.mrc,
#    already in the git tree. The micrograph: by default the real centre quarter of
#    fei-extended (rows 959:2878, cols 927:2782 = 1919 x 1855, uint16 as stored), which run.sh
#    mirrors into a 3838 x 3710 frame of the full size; with GPU_BENCH_MICROGRAPH=full the whole
#    file (21 MB compressed) travels instead. The tomogram: the particleannotation volume as
#    float32 MRC (202 x 115 x 112), the input of the README's 3D figures.
rm -f .gpu/inputs/fei-quarter.mrc.xz .gpu/inputs/fei-extended.mrc.xz
if [ "$MIC_MODE" = full ]; then
    xz -T1 -9 -c "$FEI" >.gpu/inputs/fei-extended.mrc.xz
else
    q=$(mktemp /tmp/fei-quarter.XXXXXX.mrc)
    "$PY" - "$FEI" "$q" <<'EOF'
import sys, numpy as np, mrcfile
src, dst = sys.argv[1:3]
with mrcfile.open(src, permissive=True) as m:
    data = np.asarray(m.data)
    vs = float(m.voxel_size.x)
assert data.shape == (3838, 3710), data.shape
q = np.ascontiguousarray(data[959:2878, 927:2782])
with mrcfile.new(dst, overwrite=True) as m:
    m.set_data(q)
    m.voxel_size = vs
print(f"fei-quarter: {q.shape} {q.dtype} from rows 959:2878, cols 927:2782; {vs:.5f} A/px")
EOF
    xz -T1 -9 -c "$q" >.gpu/inputs/fei-quarter.mrc.xz
    rm -f "$q"
fi
if [ ! -s .gpu/inputs/particleannotation_3d.mrc.xz ]; then
    xz -T1 -9 -c "$TOMO" >.gpu/inputs/particleannotation_3d.mrc.xz
fi

# 5. Wheels: topaz-em 0.3.20 (--no-deps) without its pretrained/ folder (48 MB -> ~0.4 MB; the
#    denoise weights travel once, in .gpu/models, and run.sh puts them back), and mrcfile.
#    topaz-em's Requires-Dist: torch, torchvision, tqdm, h5py, numpy, pandas, psutil,
#    scikit-learn, scipy, pillow, future. All but `future` are in the device image (KINDS.md);
#    topaz 0.3.20 never imports future/past/builtins, so it does not travel. mrcfile needs
#    only numpy (in the image).
PIPDL=(--no-deps --only-binary=:all: --python-version 3.12 --implementation cp
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
[ -s "$DL/topaz_em-0.3.20-py3-none-any.whl" ] ||
    "$PY" -m pip download -q "${PIPDL[@]}" -d "$DL" topaz-em==0.3.20
[ -s "$DL/mrcfile-1.5.4-py2.py3-none-any.whl" ] ||
    "$PY" -m pip download -q "${PIPDL[@]}" -d "$DL" mrcfile==1.5.4
rm -f .whl/*.whl
cp "$DL/mrcfile-1.5.4-py2.py3-none-any.whl" .whl/
"$PY" - "$DL/topaz_em-0.3.20-py3-none-any.whl" .whl/topaz_em-0.3.20-py3-none-any.whl <<'EOF'
# Rewrites the wheel without topaz/pretrained/**.sav, with a RECORD that matches.
import base64, hashlib, sys, zipfile
src, dst = sys.argv[1:3]
rows, record, dropped = [], None, 0
with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
    for info in zin.infolist():
        name = info.filename
        if name.startswith("topaz/pretrained/") and name.endswith(".sav"):
            dropped += 1
            continue
        if name.endswith(".dist-info/RECORD"):
            record = name
            continue
        data = zin.read(name)
        zout.writestr(info, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.append(f"{name},sha256={digest},{len(data)}")
    rows.append(f"{record},,")
    zout.writestr(record, "\n".join(rows) + "\n")
print(f"topaz-em wheel: {dropped} pretrained .sav files left out")
EOF
for w in .whl/*.whl; do "$PY" -m zipfile -t "$w" >/dev/null; done

# 6. Vulkan/EGL loaders for wgpu (device README, "Headless rendering").
if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
    mkdir -p /tmp/amd64/partial
    o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
    # shellcheck disable=SC2086
    apt-get $o -qq update
    # shellcheck disable=SC2086
    (cd .gl && apt-get $o -qq download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi

# 7. Provenance of what travels.
{
    echo "prepared: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
    echo "binary: $BIN"
    echo "binary_mtime: $(date -u -r "$BIN" +%Y-%m-%dT%H:%M:%SZ)"
    echo "binary_sha256: $(sha256sum "$BIN" | cut -d' ' -f1)"
    echo "stripped_sha256: $stripped_sha"
    echo "stripped_bytes: $stripped_bytes"
    echo "binary_version: $("$BIN" --version 2>/dev/null || echo unknown)"
    echo "git_head: $(git rev-parse HEAD)"
    echo "git_dirty_files_now: $(git status --porcelain --untracked-files=no | wc -l) (the binary may predate them)"
    git status --porcelain --untracked-files=no | sed 's/^/  dirty: /'
    echo "micrograph: $MIC_MODE"
    for w in $WEIGHTS; do echo "weights_sha256 $w $(sha256sum "$TOPAZ_DIR/$w" | cut -d' ' -f1)"; done
} >.gpu/MANIFEST.txt

# 8. Sizes: what travels is the git tree (tracked + untracked-not-ignored) plus the carried
#    folders, at most 64 MiB in all.
sum_files() { xargs -0 -r stat -c %s 2>/dev/null | awk '{s += $1} END {print s + 0}'; }
tracked=$(git ls-files -z | sum_files)
untracked=$(git ls-files -z --others --exclude-standard | sum_files)
carried=$(find .gpu .whl .gl -type f -print0 | sum_files)
total=$((tracked + untracked + carried))
mib() { awk -v b="$1" 'BEGIN {printf "%.2f MiB", b / 1048576}'; }
echo
echo "stripped binary (not carried as such): $stripped_bytes bytes ($(mib "$stripped_bytes"))"
find .gpu .whl .gl -type f -printf '%s\t%p\n' | sort -k2 | while IFS=$'\t' read -r s p; do
    printf '  %10d  %s\n' "$s" "$p"
done
echo "git tracked files:          $tracked bytes ($(mib "$tracked"))  [git ls-files | du: $(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1) in the last du batch]"
echo "untracked, not ignored:     $untracked bytes ($(mib "$untracked"))"
echo "carried (.gpu .whl .gl):    $carried bytes ($(mib "$carried"))"
echo "total that travels:         $total bytes ($(mib "$total")) of $LIMIT ($(mib $LIMIT))"
if [ "$total" -gt "$LIMIT" ]; then
    big=$(git ls-files -z | xargs -0 stat -c '%s %n' | awk '{split($2, a, "/"); s[a[1]] += $1} END {for (d in s) print s[d], d}' | sort -rn | head -3 | awk '{printf "%s %.1f MiB; ", $2, $1 / 1048576}')
    echo "DOES NOT FIT: $(mib $((total - LIMIT))) over. Largest tracked folders: $big"
    echo "The carried part alone needs $(mib "$carried"); the git tree leaves $(mib $((LIMIT - tracked - untracked))) for it."
    echo "With this carried part the tree (tracked + untracked-not-ignored) must stay under $(mib $((LIMIT - carried)))."
    exit 1
fi
echo "fits, with $(mib $((LIMIT - total))) to spare"
