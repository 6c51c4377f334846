#!/usr/bin/env bash
# Darcy FNO (data only) and PINO (data + FE residual at 2x) trained side by side on one GPU,
# then instance-wise fine-tuning and evaluation speed. Needs the datasets:
#   pino data darcy --out runs/darcy_train --n 1000 --resolutions 32 64 --seed 0
#   pino data darcy --out runs/darcy_test --n 200 --resolutions 32 64 128 --seed 1
# Usage: bash bench/gpu_darcy.sh OUTDIR [EPOCHS]
set -uo pipefail
OUT=${1:?output folder}; EPOCHS=${2:-200}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/device.txt"
common="--train runs/darcy_train --test runs/darcy_test --data-res 32 --epochs $EPOCHS --batch 20 --lr 1e-3 --device cuda --max-seconds 330"
python3 -m pino.cli train operator $common --out /tmp/fno > "$OUT/fno_log.txt" 2>&1 &
python3 -m pino.cli train operator $common --physics-res 64 --out /tmp/pino > "$OUT/pino_log.txt" 2>&1
wait
tail -n 3 "$OUT/fno_log.txt" "$OUT/pino_log.txt"
python3 bench/darcy_finetune.py --model /tmp/pino --test runs/darcy_test --members 3 --res 64 \
    --steps 500 --lr 3e-4 --json "$OUT/finetune.json" 2>&1 | tee "$OUT/finetune.txt"
python3 - "$OUT" <<'PY' 2>&1 | tee "$OUT/speed.txt"
import sys, time, numpy as np, torch
from pino import load_dataset
from pino._operator import load_model
m = load_model("/tmp/pino", device="cuda")
a = load_dataset("runs/darcy_train")["a64"][:1000]
for n, step in ((32, 2), (64, 1)):
    x = a[:, ::step, ::step]
    m.predict(x[:50]); torch.cuda.synchronize()
    t0 = time.perf_counter(); m.predict(x, batch=250); torch.cuda.synchronize()
    print(f"evaluate 1000 members at {n}x{n} on the GPU: {time.perf_counter() - t0:.3f} s")
PY
cp /tmp/pino/model.safetensors "$OUT/pino_model.safetensors"; cp /tmp/pino/meta.json "$OUT/pino_meta.json"
cp /tmp/fno/meta.json "$OUT/fno_meta.json"
