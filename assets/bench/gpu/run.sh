#!/usr/bin/env bash
# GPU benchmark of Cryolens (burn wgpu on Vulkan) against the published Topaz-Denoise
# (PyTorch CUDA) on the lent device machine. What it measures and how to read the result:
# README.md beside this file. Prepare first, here: bash assets/bench/gpu/prepare.sh
#
# Device call (one command, from the repository root), with carry [".gpu", ".whl", ".gl"]
# and timeout_s 540:
#     bash assets/bench/gpu/run.sh
# Writes $OUT/gpu-bench.log (everything, as it happens), $OUT/gpu-bench.json (the results)
# and $OUT/steps.tsv (one line per step). Each step runs under its own `timeout`, capped so
# the whole script ends within GPU_BENCH_BUDGET_S (465 s) of its start; a failed, timed-out
# or skipped step is recorded and the next one runs.
#
# GPU_BENCH_SMOKE=1 runs the same steps on the CPU with tiny inputs (a test of the scripts on
# a machine without a GPU; never unpacks .gl there). GPU_BENCH_PYTHON picks the interpreter
# (default python3, the one with PyTorch on the device machine).
set -u -o pipefail
export HOME=${HOME:-/root}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
cd "$ROOT" || exit 2
HERE=$ROOT/assets/bench/gpu
SMOKE=${GPU_BENCH_SMOKE:-0}
PY=${GPU_BENCH_PYTHON:-python3}
W=${GPU_BENCH_WORK:-/tmp/gb}
SITE=${GPU_BENCH_SITE:-/tmp/site}
OUT=${OUT:-$W-out}
BUDGET=${GPU_BENCH_BUDGET_S:-465}
START=$(date +%s)
DEADLINE=$((START + BUDGET))

case $W in /tmp/*) rm -rf "$W" ;; *) echo "GPU_BENCH_WORK must be under /tmp" >&2; exit 2 ;; esac
mkdir -p "$W"/logs "$W"/res "$W"/info "$W"/in "$W"/src "$W"/out "$W"/bin "$W"/models/topaz "$OUT"
LOG=$OUT/gpu-bench.log
: >"$LOG"
: >"$W/steps.tsv"
echo "$START" >"$W/info/start_epoch.txt"
date -u +%Y-%m-%dT%H:%M:%SZ >"$W/info/started.txt"
export PYTHONUNBUFFERED=1

say() { echo "[$(($(date +%s) - START)) s] $*" | tee -a "$LOG"; }

# step NAME TIMEOUT_S COMMAND...: runs COMMAND under `timeout`, at most TIMEOUT_S and never
# past the deadline (20 s are kept for the result file); its output goes to $W/logs/NAME.log
# and, shortened, to the log; one line per step in $W/steps.tsv.
step() {
    local name=$1 want=$2
    shift 2
    local left=$((DEADLINE - $(date +%s) - 20))
    if [ "$left" -lt 5 ]; then
        say "SKIP $name: no time left"
        printf '%s\tskipped\t\t0\t0\t%s\n' "$name" "$*" >>"$W/steps.tsv"
        return 0
    fi
    local t=$((want < left ? want : left))
    say "RUN  $name (timeout ${t} s): $*"
    local t0 t1 rc status secs n
    t0=$(date +%s.%N)
    timeout -k 5 "$t" "$@" >"$W/logs/$name.log" 2>&1
    rc=$?
    t1=$(date +%s.%N)
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')
    case $rc in 0) status=ok ;; 124 | 137) status=timeout ;; *) status=failed ;; esac
    n=$(wc -l <"$W/logs/$name.log")
    {
        if [ "$n" -le 60 ]; then
            sed 's/^/    | /' "$W/logs/$name.log"
        else
            head -n 20 "$W/logs/$name.log" | sed 's/^/    | /'
            echo "    | [... $((n - 60)) lines ...]"
            tail -n 40 "$W/logs/$name.log" | sed 's/^/    | /'
        fi
    } >>"$LOG"
    say "DONE $name: $status (rc $rc) in $secs s"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$status" "$rc" "$secs" "$t" "$*" >>"$W/steps.tsv"
    return 0
}

# skip NAME REASON: records a step that is not run.
skip() {
    say "SKIP $1: $2"
    printf '%s\tskipped\t\t0\t0\t%s\n' "$1" "$2" >>"$W/steps.tsv"
}

unxz_to() {
    if command -v xz >/dev/null 2>&1; then
        xz -dc "$1" >"$2"
    else
        "$PY" -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"
    fi
}

# ------------------------------------------------------------------------------------------
# Set-up: wheels, loaders, binary, weights, inputs.
say "cryolens GPU benchmark; smoke=$SMOKE; repository $ROOT; work $W; out $OUT"
[ -s .gpu/MANIFEST.txt ] && sed 's/^/    | /' .gpu/MANIFEST.txt >>"$LOG"

if "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$SITE" .whl/*.whl >>"$LOG" 2>&1; then
    export PYTHONPATH=$SITE${PYTHONPATH:+:$PYTHONPATH}
    say "wheels installed into $SITE: $(ls .whl | tr '\n' ' ')"
else
    say "SETUP: pip install of .whl failed (Topaz steps will fail)"
fi

{
    # As the device README says, in every run: the loaders (libvulkan, glvnd's libGLdispatch
    # that NVIDIA's ICD needs, EGL) unpacked into /. Never on the machine a smoke test runs on.
    if [ "$SMOKE" != 0 ]; then
        echo "smoke test: .gl not unpacked"
    else
        echo "before: $(ldconfig -p | grep -c 'libvulkan\.so\.1') libvulkan.so.1 known to ldconfig"
        for f in .gl/*.deb; do dpkg -x "$f" / && echo "unpacked $f"; done
        ldconfig
    fi
    ldconfig -p | grep -E 'libvulkan|libEGL\.so|libGLX_nvidia|libEGL_nvidia' || true
    ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/nvidia/share/vulkan/icd.d 2>&1 || true
} >"$W/info/loaders.txt" 2>&1
sed 's/^/    | /' "$W/info/loaders.txt" >>"$LOG"

unxz_to .gpu/cryolens.xz "$W/bin/cryolens" && chmod +x "$W/bin/cryolens" || say "SETUP: no binary"
CRY=$W/bin/cryolens
for f in .gpu/models/*.sav.xz; do
    unxz_to "$f" "$W/models/topaz/$(basename "$f" .xz)"
done
export CRYOLENS_MODELS_DIR=$W/models
mkdir -p "$SITE/topaz/pretrained/denoise"
cp "$W"/models/topaz/*.sav "$SITE/topaz/pretrained/denoise/" 2>/dev/null || say "SETUP: weights not copied"
for f in .gpu/inputs/*.mrc.xz; do
    unxz_to "$f" "$W/src/$(basename "$f" .xz)"
done
SMOKE_FLAG=()
[ "$SMOKE" != 0 ] && SMOKE_FLAG=(--smoke) && touch "$W/info/smoke"
"$PY" "$HERE/bench_tools.py" inputs --src "$W/src" --tomo "$W/src/particleannotation_3d.mrc" \
    --sample "$ROOT/assets/sample.mrc" --work "$W" "${SMOKE_FLAG[@]}" >>"$LOG" 2>&1 || say "SETUP: inputs failed"
FRAME=$W/in/frame.mrc
TOMO=$W/in/tomo.mrc
SAMPLE=$W/in/sample.mrc

if [ "$SMOKE" != 0 ]; then
    DEV=cpu TDEV=cpu TOPAZ_D=-1 REPEATS=1 THREADS=2
    TRAIN_CROP=32 TRAIN_N=2 WARM_STEPS=1 TIMED_STEPS=2 PEER_STEPS=2
    PATCH3D=(--patch-size 0) BENCH_DEV=cpu BENCH_SIZES=crop
else
    DEV=gpu TDEV=cuda TOPAZ_D=0 REPEATS=3 THREADS=0
    TRAIN_CROP=256 TRAIN_N=4 WARM_STEPS=3 TIMED_STEPS=20 PEER_STEPS=20
    PATCH3D=() BENCH_DEV=gpu BENCH_SIZES=crop,full
fi

# ------------------------------------------------------------------------------------------
# The machine.
{ nvidia-smi && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem,power.limit --format=csv; } \
    >"$W/info/nvidia-smi.txt" 2>&1 || echo "nvidia-smi: not available" >>"$W/info/nvidia-smi.txt"
if command -v vulkaninfo >/dev/null 2>&1; then
    timeout 20 vulkaninfo --summary >"$W/info/vulkaninfo.txt" 2>&1
else
    echo "vulkaninfo: not installed (the adapters cryolens sees are in devices.txt)" >"$W/info/vulkaninfo.txt"
fi
timeout 60 "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available()); print("gpu", torch.cuda.get_device_name(0) if torch.cuda.is_available() else None, "cudnn", torch.backends.cudnn.version()); print("cpu threads", torch.get_num_threads())' \
    >"$W/info/torch.txt" 2>&1
timeout 60 "$CRY" devices >"$W/info/devices.txt" 2>&1
GPU_OK=1
if [ "$SMOKE" = 0 ] && ! grep -q 'Vulkan, hardware' "$W/info/devices.txt"; then
    icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
    egl=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
    if [ -e "$icd" ]; then
        export VK_DRIVER_FILES=$icd
        [ -e "$egl" ] && export __EGL_VENDOR_LIBRARY_FILENAMES=$egl
        echo "no hardware Vulkan adapter at first: VK_DRIVER_FILES=$icd set" >>"$W/info/loaders.txt"
        timeout 60 "$CRY" devices >"$W/info/devices.txt" 2>&1
    fi
    grep -q 'Vulkan, hardware' "$W/info/devices.txt" || GPU_OK=0
fi
if [ "$SMOKE" = 0 ] && [ "$GPU_OK" = 1 ]; then
    export WGPU_BACKEND=vulkan # the NVIDIA adapter through Vulkan, not GL
fi
for f in nvidia-smi torch vulkaninfo devices; do
    echo "--- $f" >>"$LOG"
    sed 's/^/    | /' "$W/info/$f.txt" >>"$LOG"
done
[ "$GPU_OK" = 1 ] || say "NO HARDWARE wgpu ADAPTER: the Cryolens GPU steps are skipped (Topaz CUDA steps still run)"
# CubeCL keeps autotune results and compiled kernels in `target/environment` of the outermost
# Cargo.toml above the working directory, else in ~/.cache/cubecl. The steps run from $W (no
# Cargo.toml above it), as an installed binary does: the cache is ~/.cache/cubecl.
cd "$W" || exit 2
cubecl() { { echo "--- $1"; du -sb "$HOME/.cache/cubecl" "$ROOT/target/environment" 2>&1; } >>"$W/info/cubecl.txt"; }
: >"$W/info/cubecl.txt"
cubecl "before the first Cryolens run"
say "set-up done"

# cry NAME TIMEOUT ARGS...: a Cryolens step that needs the GPU (skipped without a hardware adapter).
cry() {
    local name=$1 t=$2
    shift 2
    if [ "$GPU_OK" = 1 ]; then step "$name" "$t" "$CRY" "$@"; else skip "$name" "no hardware wgpu adapter"; fi
}

# ------------------------------------------------------------------------------------------
# a) Cryolens, unet on the full-size frame, 3 runs (the first pays shader compilation and
#    CubeCL's autotuning, whose results are cached in ~/.cache/cubecl for the later runs).
cry probe 60 denoise "$SAMPLE" --model affine --device "$DEV" -o "$W/out/probe" --redo
for i in 1 2 3; do
    cry "cry2d.unet.$i" $([ $i = 1 ] && echo 200 || echo 90) denoise "$FRAME" --model unet --device "$DEV" -o "$W/out/cry2d_unet" --redo
done
cubecl "after the unet runs"

# b) Topaz on CUDA, the same frame, unet/unet-small/fcnn, whole image and the CLI's tiling,
#    PyTorch's default precision (TF32 convolutions) and IEEE FP32; 1 warm-up + 3 timed.
#    Also writes Topaz's unet outputs for the parity checks.
step topaz2d 180 "$PY" "$HERE/topaz_cuda_peer.py" 2d --input "$FRAME" --models unet,unet-small,fcnn \
    --modes whole,tiled --precisions default,ieee --repeats "$REPEATS" --threads "$THREADS" \
    --weights "$W/models/topaz" --device "$TDEV" \
    --save "unet:whole:ieee=$W/out/topaz_frame_unet.ieee.mrc" \
    --save "unet:whole:default=$W/out/topaz_frame_unet.default.mrc" \
    --parity-input "$SAMPLE" --parity-prefix "$W/out/topaz_sample_unet" --json "$W/res/topaz2d.json"

# e) Parity, 2D unet: Cryolens (GPU, and its CPU kernels as a control) against Topaz on CUDA.
cry cryparity.sample_gpu 60 denoise "$SAMPLE" --model unet --device "$DEV" --patch-size 0 -o "$W/out/cry_sample_gpu" --redo
step cryparity.sample_cpu 90 "$CRY" denoise "$SAMPLE" --model unet --device cpu --patch-size 0 -o "$W/out/cry_sample_cpu" --redo
step parity2d 60 "$PY" "$HERE/bench_tools.py" compare --json "$W/res/parity2d.json" \
    --pair unet_sample_gpu_vs_topaz_ieee "$W/out/cry_sample_gpu/sample.mrc" "$W/out/topaz_sample_unet.ieee.mrc" \
    --pair unet_sample_gpu_vs_topaz_default "$W/out/cry_sample_gpu/sample.mrc" "$W/out/topaz_sample_unet.default.mrc" \
    --pair unet_sample_cpu_vs_topaz_ieee "$W/out/cry_sample_cpu/sample.mrc" "$W/out/topaz_sample_unet.ieee.mrc" \
    --pair unet_sample_gpu_vs_cryolens_cpu "$W/out/cry_sample_gpu/sample.mrc" "$W/out/cry_sample_cpu/sample.mrc" \
    --pair unet_frame_gpu_tiled_vs_topaz_whole_ieee "$W/out/cry2d_unet/frame.mrc" "$W/out/topaz_frame_unet.ieee.mrc" \
    --pair unet_frame_gpu_tiled_vs_topaz_whole_default "$W/out/cry2d_unet/frame.mrc" "$W/out/topaz_frame_unet.default.mrc"

# c) 3D: the tomogram with unet-3d-10a. Cryolens: its default (global normalisation) and
#    Topaz's per-patch normalisation; Topaz: denoise3d's default path (96^3, padding 48).
for i in 1 2; do
    cry "cry3d.global.$i" $([ $i = 1 ] && echo 150 || echo 60) denoise "$TOMO" --model unet-3d-10a --device "$DEV" "${PATCH3D[@]}" -o "$W/out/cry3d_global" --redo
done
for i in 1 2; do
    cry "cry3d.topaznorm.$i" 90 denoise "$TOMO" --model unet-3d-10a --device "$DEV" --topaz-normalisation "${PATCH3D[@]}" -o "$W/out/cry3d_tn" --redo
done
step topaz3d 150 "$PY" "$HERE/topaz_cuda_peer.py" 3d --input "$TOMO" --model unet-3d-10a \
    $([ "$SMOKE" != 0 ] && echo --patch-size 0) --precisions default,ieee --repeats "$REPEATS" \
    --threads "$THREADS" --weights "$W/models/topaz" --device "$TDEV" \
    --save-prefix "$W/out/topaz_tomo" --json "$W/res/topaz3d.json"
step parity3d 60 "$PY" "$HERE/bench_tools.py" compare --json "$W/res/parity3d.json" \
    --pair unet3d_topaznorm_gpu_vs_topaz_ieee "$W/out/cry3d_tn/tomo.mrc" "$W/out/topaz_tomo.ieee.mrc" \
    --pair unet3d_topaznorm_gpu_vs_topaz_default "$W/out/cry3d_tn/tomo.mrc" "$W/out/topaz_tomo.default.mrc" \
    --pair unet3d_global_gpu_vs_topaz_ieee "$W/out/cry3d_global/tomo.mrc" "$W/out/topaz_tomo.ieee.mrc"

# d) Training, unet-small, 4 pairs of 256^2 crops per step, both directions, L2, Adagrad 1e-3.
#    Cryolens: `cryolens train --device gpu` (burn autodiff on wgpu; `cryolens bench --what
#    train` has no GPU trainer), a warm-up run (autotuning) then a timed run; its
#    "N steps, X crops/s" line is the mean over the steps. Topaz: its model class in plain
#    PyTorch on CUDA (topaz_train_peer.py --cuda).
even=("$W"/train/even/s*.mrc)
odd=("$W"/train/odd/s*.mrc)
TRAIN=(train --even "${even[@]}" --odd "${odd[@]}" --arch unet-small --crop "$TRAIN_CROP" --batch "$TRAIN_N"
    --loss l2 --optimizer adagrad --lr 0.001 --epochs 1 --holdout 0.2 --validation-crops 1 --seed 0 --force --device "$DEV")
cry train.cryolens.warm 180 "${TRAIN[@]}" --steps-per-epoch "$WARM_STEPS" --output "$W/out/train_warm.safetensors"
cry train.cryolens.timed 120 "${TRAIN[@]}" --steps-per-epoch "$TIMED_STEPS" --output "$W/out/train_timed.safetensors"
CUDA_FLAG=()
[ "$TDEV" = cuda ] && CUDA_FLAG=(--cuda)
step train.topaz 90 "$PY" "$HERE/../topaz_train_peer.py" unet-small "$W/train/a.f32" "$W/train/b.f32" "$TRAIN_N" \
    "$TRAIN_CROP" "$PEER_STEPS" "$THREADS" "${CUDA_FLAG[@]}" --warmup 3 --json "$W/res/train_topaz.json"
step train.topaz_ieee 90 "$PY" "$HERE/../topaz_train_peer.py" unet-small "$W/train/a.f32" "$W/train/b.f32" "$TRAIN_N" \
    "$TRAIN_CROP" "$PEER_STEPS" "$THREADS" "${CUDA_FLAG[@]}" --warmup 3 --precision ieee --json "$W/res/train_topaz_ieee.json"

# a) continued: unet-small and fcnn, 3 runs each.
for m in unet-small fcnn; do
    for i in 1 2 3; do
        cry "cry2d.$m.$i" $([ $i = 1 ] && echo 150 || echo 60) denoise "$FRAME" --model "$m" --device "$DEV" -o "$W/out/cry2d_$m" --redo
    done
done

# Topaz's own CLI on the frame, end to end (`topaz denoise`: patch 1024, padding 500, GPU 0),
# for the process-wall comparison with `cryolens denoise`.
# topaz-em 0.3.20's CLI fails on uint16 (mode 6) input, so it reads a float32 copy of the frame.
step topazcli.unet.1 120 "$PY" -m topaz.main denoise -o "$W/out/topazcli" -d "$TOPAZ_D" --arch unet "$W/in/frame_f32.mrc"

# In-process timings (`cryolens bench`: no process start, shader compilation or file I/O;
# best of 3 after a warm-up), last because the steps above matter more.
cry bench.inprocess 240 bench --what denoise --input "$FRAME" --devices "$BENCH_DEV" \
    --models unet,unet-small,fcnn --sizes "$BENCH_SIZES" --topaz false --repeats "$REPEATS"

# ------------------------------------------------------------------------------------------
cubecl "at the end"
date +%s >"$W/info/end_epoch.txt"
date -u +%Y-%m-%dT%H:%M:%SZ >"$W/info/finished.txt"
timeout 30 "$PY" "$HERE/bench_tools.py" collect --work "$W" --out "$OUT/gpu-bench.json" \
    --manifest "$ROOT/.gpu/MANIFEST.txt" >>"$LOG" 2>&1 || say "collect failed"
cp "$W/steps.tsv" "$OUT/steps.tsv"
say "finished: $(grep -c $'\tok\t' "$W/steps.tsv") steps ok, $(grep -vc $'\tok\t' "$W/steps.tsv") not"
