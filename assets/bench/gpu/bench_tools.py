"""Helpers of the GPU benchmark (assets/bench/gpu/run.sh): inputs, parity, the result file.

  python3 bench_tools.py inputs --src DIR --tomo TOMO.mrc --sample SAMPLE.mrc --work W [--smoke]
      Builds W/in/frame.mrc (3838 x 3710 uint16: fei-extended itself when DIR holds
      fei-extended.mrc, else the real centre quarter DIR/fei-quarter.mrc mirrored into the
      four quadrants of a full-size frame) and W/in/frame_f32.mrc (the same as float32, for
      Topaz's CLI), W/in/tomo.mrc (the tomogram), the training data
      W/train/{even,odd}/s{0..4}.mrc (5 strips of the real quarter, each split into two
      binomial halves as counts) and W/train/{a,b}.f32 (4 crop pairs of 256^2 for Topaz's
      training step, built like `cryolens bench --what train`: B is A shifted one pixel,
      both normalised by their joint mean and sigma), and W/in/inputs.json describing them.
      --smoke makes everything tiny (a local test of the scripts without a GPU).
  python3 bench_tools.py compare --json OUT.json --pair NAME TEST.mrc REF.mrc [--pair ...]
      Per pair: max |TEST - REF| / sigma(REF), the RMS and mean difference over sigma(REF),
      the 99.9th percentile of |TEST - REF| / sigma(REF), sigma(REF), and the shapes.
  python3 bench_tools.py collect --work W --out gpu-bench.json [--manifest MANIFEST.txt]
      Gathers W/steps.tsv, W/logs/*.log, W/info/*.txt and W/res/*.json into one JSON file
      (fields: README.md beside this file).
"""
import argparse
import json
import os
import re
import sys

import numpy as np


def read_mrc(path):
    import mrcfile

    with mrcfile.open(path, permissive=True) as m:
        return np.asarray(m.data).copy(), float(m.voxel_size.x)


def write_mrc(path, data, voxel=None):
    import mrcfile

    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with mrcfile.new(path, overwrite=True) as m:
        m.set_data(np.ascontiguousarray(data))
        if voxel:
            m.voxel_size = voxel


# --------------------------------------------------------------------------------------
# inputs


QUARTER_ROWS, QUARTER_COLS = (959, 2878), (927, 2782)  # rows/cols of fei-extended, numpy order


def cmd_inputs(a):
    info = {}
    full = os.path.join(a.src, "fei-extended.mrc")
    if os.path.exists(full):
        frame, vs = read_mrc(full)
        quarter = frame[QUARTER_ROWS[0]:QUARTER_ROWS[1], QUARTER_COLS[0]:QUARTER_COLS[1]]
        info["frame"] = "fei-extended.mrc as is (real, 3710 x 3838 px, uint16)"
    else:
        quarter, vs = read_mrc(os.path.join(a.src, "fei-quarter.mrc"))
        if a.smoke:
            quarter = quarter[:160, :150]
        top = np.concatenate([quarter, quarter[:, ::-1]], axis=1)
        frame = np.concatenate([top, top[::-1, :]], axis=0)
        info["frame"] = (
            "real centre quarter of fei-extended (rows %d:%d, cols %d:%d, %d x %d px) mirrored "
            "into the four quadrants of a %d x %d frame (width x height): the full micrograph's "
            "size with a quarter of its content" % (
                QUARTER_ROWS + QUARTER_COLS + (quarter.shape[1], quarter.shape[0],
                                               frame.shape[1], frame.shape[0])))
    if a.smoke:
        frame = frame[:320, :300] if frame.shape[0] > 320 else frame
    write_mrc(os.path.join(a.work, "in", "frame.mrc"), frame, vs)
    # topaz-em 0.3.20's `topaz denoise` fails on integer MRC modes (its normalised float64
    # array meets float32 weights): its CLI step reads a float32 copy.
    write_mrc(os.path.join(a.work, "in", "frame_f32.mrc"), frame.astype(np.float32), vs)
    info["frame_shape_rows_cols"] = list(frame.shape)
    info["frame_dtype"] = str(frame.dtype)

    tomo, tvs = read_mrc(a.tomo)
    if a.smoke:
        tomo = tomo[:32, :32, :32]
    write_mrc(os.path.join(a.work, "in", "tomo.mrc"), tomo.astype(np.float32), tvs or None)
    info["tomogram"] = "particleannotation_3d.mrc (shared/golden; 3d_test_data.tif as float32)"
    info["tomogram_shape_zyx"] = list(tomo.shape)
    if a.sample:
        sample, svs = read_mrc(a.sample)
        if a.smoke:
            sample = sample[:256, :256]
        write_mrc(os.path.join(a.work, "in", "sample.mrc"), sample, svs)
        info["sample"] = "assets/sample.mrc: fei-extended rows 1024:2048, cols 1024:2048 (real, uint16)"
        info["sample_shape_rows_cols"] = list(sample.shape)

    # training pairs: 5 strips of the real quarter, binomial halves of the counts
    rng = np.random.default_rng(0)
    q = quarter.astype(np.int64)
    strips = 5
    h = q.shape[0] // strips
    for i in range(strips):
        s = np.clip(q[i * h:(i + 1) * h], 0, None)
        even = rng.binomial(s, 0.5)
        odd = s - even
        write_mrc(os.path.join(a.work, "train", "even", f"s{i}.mrc"), even.astype(np.float32), vs)
        write_mrc(os.path.join(a.work, "train", "odd", f"s{i}.mrc"), odd.astype(np.float32), vs)
    info["train_pairs"] = f"{strips} strips of {h} x {q.shape[1]} px (rows x cols), binomial halves"

    n, crop = (2, 32) if a.smoke else (4, 256)
    img = quarter.astype(np.float64)
    cy, cx = (img.shape[0] - crop - n) // 2, (img.shape[1] - crop - n - 1) // 2
    A = np.stack([img[cy + i:cy + i + crop, cx + i:cx + i + crop] for i in range(n)])
    B = np.stack([img[cy + i:cy + i + crop, cx + i + 1:cx + i + 1 + crop] for i in range(n)])
    both = np.concatenate([A, B])
    mean, sd = both.mean(), max(both.std(), np.finfo(float).tiny)
    ((A - mean) / sd).astype("<f4").tofile(os.path.join(a.work, "train", "a.f32"))
    ((B - mean) / sd).astype("<f4").tofile(os.path.join(a.work, "train", "b.f32"))
    info["train_crops"] = {"n": n, "crop": crop}
    with open(os.path.join(a.work, "in", "inputs.json"), "w") as f:
        json.dump(info, f, indent=1)
    print(json.dumps(info))


# --------------------------------------------------------------------------------------
# compare


def cmd_compare(a):
    out = {}
    if os.path.exists(a.json):
        with open(a.json) as f:
            out = json.load(f)
    for name, test, ref in a.pair:
        try:
            t = read_mrc(test)[0].astype(np.float64)
            r = read_mrc(ref)[0].astype(np.float64)
            t, r = np.squeeze(t), np.squeeze(r)
            if t.shape != r.shape:
                raise ValueError(f"shapes differ: {t.shape} vs {r.shape}")
            d = np.abs(t - r)
            sigma = float(r.std())
            out[name] = {
                "test": test,
                "reference": ref,
                "shape": list(r.shape),
                "sigma_reference": sigma,
                "max_abs_over_sigma": float(d.max() / sigma),
                "rms_over_sigma": float(np.sqrt((d ** 2).mean()) / sigma),
                "mean_diff_over_sigma": float((t - r).mean() / sigma),
                "p99_9_abs_over_sigma": float(np.percentile(d, 99.9) / sigma),
            }
        except Exception as e:  # noqa: BLE001 - a missing output is recorded, not fatal
            out[name] = {"test": test, "reference": ref, "error": repr(e)[:300]}
        print(name, json.dumps(out[name]), flush=True)
    with open(a.json, "w") as f:
        json.dump(out, f, indent=1)


# --------------------------------------------------------------------------------------
# collect


def read_text(path, limit=20000):
    try:
        with open(path, errors="replace") as f:
            return f.read()[-limit:]
    except OSError:
        return None


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def parse_markdown_table(text):
    """The last Markdown table in text, as a list of dicts keyed by its header."""
    rows, header, tables = [], None, []
    for line in (text or "").splitlines():
        line = line.strip()
        if not (line.startswith("|") and line.endswith("|")):
            if header:
                tables.append(rows)
            rows, header = [], None
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if header is None:
            header = cells
        elif set("".join(cells)) <= set("-: "):
            continue
        else:
            rows.append(dict(zip(header, cells)))
    if header:
        tables.append(rows)
    return tables[-1] if tables else []


def best(values):
    return min(values) if values else None


def cmd_collect(a):
    w = a.work
    steps = []
    if os.path.exists(os.path.join(w, "steps.tsv")):
        with open(os.path.join(w, "steps.tsv")) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) < 6:
                    continue
                name, status, rc, secs, timeout, cmd = parts[:6]
                steps.append({
                    "name": name, "status": status, "rc": int(rc) if rc.lstrip("-").isdigit() else None,
                    "seconds": float(secs) if secs else None, "timeout_s": int(timeout) if timeout.isdigit() else None,
                    "command": cmd,
                })
    by = {s["name"]: s for s in steps}

    def log(name):
        return read_text(os.path.join(w, "logs", name + ".log"))

    def runs(prefix):
        """Steps PREFIX.1, PREFIX.2, ...: their wall times and statuses."""
        rs = [s for s in steps if s["name"].startswith(prefix + ".") and s["name"][len(prefix) + 1:].isdigit()]
        ok = [s["seconds"] for s in rs if s["status"] == "ok"]
        return {
            "runs": [{"run": int(s["name"].rsplit(".", 1)[1]), "status": s["status"], "seconds": s["seconds"]} for s in rs],
            "runs_s": ok,
            "best_s": best(ok),
            "best_after_first_s": best([s["seconds"] for s in rs[1:] if s["status"] == "ok"]),
        }

    device_line = None
    for s in steps:
        m = re.search(r"^device: (.*)$", log(s["name"]) or "", re.M)
        if m and s["name"].startswith(("probe", "cry2d", "cry3d")):
            device_line = m.group(1)
            break
    res = {name: read_json(os.path.join(w, "res", name + ".json")) for name in (
        "topaz2d", "topaz3d", "parity2d", "parity3d", "train_topaz", "train_topaz_ieee")}

    out = {
        "schema": "cryolens-gpu-bench/1",
        "started_utc": read_text(os.path.join(w, "info", "started.txt"), 100),
        "finished_utc": read_text(os.path.join(w, "info", "finished.txt"), 100),
        "total_seconds": None,
        "smoke_test": os.path.exists(os.path.join(w, "info", "smoke")),
        "prepared": read_text(a.manifest) if a.manifest else None,
        "device": {
            "nvidia_smi": read_text(os.path.join(w, "info", "nvidia-smi.txt")),
            "torch": read_text(os.path.join(w, "info", "torch.txt")),
            "vulkaninfo_summary": read_text(os.path.join(w, "info", "vulkaninfo.txt")),
            "cryolens_devices": read_text(os.path.join(w, "info", "devices.txt")),
            "cryolens_device": device_line,
            "loaders": read_text(os.path.join(w, "info", "loaders.txt")),
            "cubecl_cache": read_text(os.path.join(w, "info", "cubecl.txt")),
        },
        "inputs": read_json(os.path.join(w, "in", "inputs.json")),
        "steps": steps,
        "cryolens_2d": {m: runs(f"cry2d.{m}") for m in ("unet", "unet-small", "fcnn")},
        "cryolens_3d": {"global": runs("cry3d.global"), "topaz_normalisation": runs("cry3d.topaznorm")},
        "topaz_2d": res["topaz2d"],
        "topaz_3d": res["topaz3d"],
        "topaz_cli_2d": runs("topazcli.unet"),
        "parity": {"2d": res["parity2d"], "3d": res["parity3d"]},
        "train": {
            "topaz_cuda": res["train_topaz"],
            "topaz_cuda_ieee": res["train_topaz_ieee"],
        },
        "cryolens_bench_inprocess": None,
        "summary": {},
    }
    started = read_text(os.path.join(w, "info", "start_epoch.txt"), 100)
    finished = read_text(os.path.join(w, "info", "end_epoch.txt"), 100)
    if started and finished:
        out["total_seconds"] = float(finished) - float(started)

    for key in ("warm", "timed"):
        name = f"train.cryolens.{key}"
        text = log(name) or ""
        m = re.search(r"(\d+) steps, ([0-9.]+) crops/s", text)
        entry = {"status": by.get(name, {}).get("status"), "wall_s": by.get(name, {}).get("seconds")}
        if m:
            steps_n, rate = int(m.group(1)), float(m.group(2))
            crops = (res["train_topaz"] or {}).get("crops_per_step", 8)
            entry.update({"steps": steps_n, "crops_per_s": rate,
                          "s_per_step": crops / rate if rate > 0 else None, "crops_per_step": crops})
        out["train"][f"cryolens_gpu_{key}"] = entry

    text = log("bench.inprocess")
    if text:
        out["cryolens_bench_inprocess"] = {"status": by.get("bench.inprocess", {}).get("status"),
                                           "rows": parse_markdown_table(text)}

    # summary: Topaz time over Cryolens time (above 1: Cryolens faster)
    s = out["summary"]
    t2 = (res["topaz2d"] or {}).get("cases", {})
    for m in ("unet", "unet-small", "fcnn"):
        c = out["cryolens_2d"][m]
        for case in ("whole:default", "tiled:default", "whole:ieee", "tiled:ieee"):
            tz = (t2.get(f"{m}:{case}") or {}).get("best_s")
            cb = c["best_after_first_s"] or c["best_s"]
            if tz and cb:
                s[f"{m} frame: topaz {case} best / cryolens CLI best (process wall)"] = tz / cb
    for row in (out["cryolens_bench_inprocess"] or {}).get("rows", []):
        sec = next((row[k] for k in row if k.startswith("Cryolens s")), None)
        model, inp = row.get("model"), row.get("input", "")
        if sec and model and inp.startswith("full"):
            for case in ("whole:default", "tiled:default", "whole:ieee"):
                tz = (t2.get(f"{model}:{case}") or {}).get("best_s")
                try:
                    if tz:
                        s[f"{model} frame: topaz {case} best / cryolens in-process best"] = tz / float(sec)
                except ValueError:
                    pass
    t3 = (res["topaz3d"] or {}).get("cases", {})
    for k, v in t3.items():
        if "best_s" in v:
            for mode in ("global", "topaz_normalisation"):
                c = out["cryolens_3d"][mode]
                cb = c["best_after_first_s"] or c["best_s"]
                if cb:
                    s[f"3d: topaz {k} best / cryolens {mode} CLI best"] = v["best_s"] / cb
    tg = out["train"].get("cryolens_gpu_timed", {}).get("s_per_step")
    for key in ("topaz_cuda", "topaz_cuda_ieee"):
        tt = (out["train"][key] or {}).get("seconds_per_step")
        if tg and tt:
            s[f"train: {key} s/step / cryolens gpu s/step"] = tt / tg
    for k, v in ((out["parity"]["2d"] or {}) | (out["parity"]["3d"] or {})).items():
        if isinstance(v, dict) and "max_abs_over_sigma" in v:
            s[f"parity {k}: max |diff| / sigma"] = v["max_abs_over_sigma"]
    s["steps_failed_or_skipped"] = [x["name"] for x in steps if x["status"] != "ok"]

    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)
    print(json.dumps(out["summary"], indent=1))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("inputs")
    i.add_argument("--src", required=True)
    i.add_argument("--tomo", required=True)
    i.add_argument("--sample", default=None, help="assets/sample.mrc, copied to W/in/sample.mrc")
    i.add_argument("--work", required=True)
    i.add_argument("--smoke", action="store_true")
    c = sub.add_parser("compare")
    c.add_argument("--json", required=True)
    c.add_argument("--pair", nargs=3, action="append", default=[], metavar=("NAME", "TEST", "REF"))
    k = sub.add_parser("collect")
    k.add_argument("--work", required=True)
    k.add_argument("--out", required=True)
    k.add_argument("--manifest", default=None)
    a = p.parse_args()
    {"inputs": cmd_inputs, "compare": cmd_compare, "collect": cmd_collect}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
