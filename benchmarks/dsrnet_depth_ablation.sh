#!/bin/bash
# Table 10 analogue on a tiny CPU budget: DSRNet+ (L_rec + L_dep), adjacent-frame references,
# depth predicted | gt | none; same budget for each; evaluated on the synthsewer-sr test split.
export SEWER_BENCH_CACHE=${SEWER_BENCH_CACHE:-/tmp/ablcache}
B="--set sr.train.iterations=100 --set sr.train.batch_size=2 --set sr.train.patch_size=32 --set sr.train.val_every=50 --set sr.train.lr=2e-4 --out results/runs"
for d in predicted gt none; do
  echo "== depth_source=$d"
  bench train-sr --backend dsrnet-plus $B --set "sr.hparams.dsrnet-plus={depth_source: $d}" --json 2>&1 | grep -E "best_val|error"
  bench eval-sr --backend bicubic --backend dsrnet-plus $B --set "sr.hparams.dsrnet-plus={depth_source: $d}" --json 2>&1 | python3 -c "import json,sys; d=json.load(sys.stdin); print({k:round(v['psnr_y'],3) for k,v in d['backends'].items()}, {k:round(v['ssim_y'],4) for k,v in d['backends'].items()})"
done
