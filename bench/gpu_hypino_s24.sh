# The GPU call of the twenty-fourth session (docs/benchmarks.md, "The hypernetwork on a GPU,
# third run"): three variants of the shipped model trained side by side on 30,000 samples.
# Prepared here first (labels of seeds 25 and 26 read from their sample caches, seed 27 solved):
#   python bench/gpu_hypino.py --from-cache runs/samples25 gpu/labels25.npz --seed 25 --samples 12000 --family "$F25"
#   python bench/gpu_hypino.py --from-cache runs/samples26 gpu/labels26.npz --seed 26 --samples 6000 --family "$F26"
#   python -c "from pino._hypino import write_fem_labels; write_fem_labels('runs/s24/labels27.npz', 27, 12000, workers=2, family=$F27)"
#   python bench/gpu_hypino.py --compact runs/s24/labels27.npz gpu/labels27.npz --seed 27 --samples 12000 --family "$F27"
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 -d .whl scikit-fem==12.0.2 meshio==5.3.5
# then on the device machine, carrying gpu/ and .whl/: bash bench/gpu_hypino_s24.sh
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; nproc; python3 -c "import torch, numpy; print(torch.__version__, numpy.__version__)"
F25='{"max_holes": 6, "notch": 0.4, "zero_source": 0.5, "heat": 0.2, "decay": 0.5, "plain": 0.4, "reaction": 0.5}'
F26='{"max_holes": 4, "bumps": 0.5, "notch": 0.3, "zero_source": 0.3, "heat": 0.2, "decay": 0.5, "plain": 0.3, "reaction": 0.5}'
F27='{"max_holes": 6, "notch": 0.3, "zero_source": 0.4, "heat": 0.25, "decay": 0.5, "bumps": 0.4, "plain": 0.3, "reaction": 0.5}'
timeout 580 python3 bench/gpu_hypino.py --out $OUT --labels gpu/labels27.npz --seed 27 --samples 12000 --family "$F27" \
  --extra "[{\"seed\": 25, \"samples\": 12000, \"labels\": \"gpu/labels25.npz\", \"family\": $F25}, {\"seed\": 26, \"samples\": 6000, \"labels\": \"gpu/labels26.npz\", \"family\": $F26}]" \
  --batch 64 --lr 4e-4 --deadline 520 --gen-seconds 170 --workers 14 --chunk 2000 --balance 0.5 --rescale --rescale-spread 2 --threads 4 \
  --variants '[{"name": "L40", "loss_weights": {"u": 40, "dirichlet": 40, "lifted": 40}}, {"name": "L10", "loss_weights": {"u": 40, "dirichlet": 40, "lifted": 10}}, {"name": "P", "loss_weights": {"u": 40, "dirichlet": 40}}]'
echo "rc $?"
rm -f $OUT/*/optim.pt
ls -la $OUT $OUT/*
