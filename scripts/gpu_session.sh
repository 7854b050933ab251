#!/usr/bin/env bash
# One prepared session for a lent GPU machine: the GPU throughput profile and a shortened paper study.
#
#   bash scripts/gpu_session.sh             # on the GPU machine; everything it keeps goes under $OUT
#   bash scripts/gpu_session.sh --dry-run   # print the commands, run nothing (any machine, no GPU)
#
# Steps, in order, each under `timeout` and all within BUDGET_S seconds (default 480, so that the whole
# session fits one 10-minute command); a step that fails or runs out of time is reported and the next
# one still runs; the exit status is 1 if any step failed:
#
#   install   `pip install --no-deps -e .` when ppbench is not importable (no internet needed)
#   profile   scripts/gpu_profile.py: ViT-B/16 training at 224 with and without encryption, MFU, SSIM, ITN
#   train     the paper profile's `proposed` run: ViT-B/16 (random init: nothing can be downloaded) at
#             224 x 224, block 16, SGD 0.3, batch 512, bf16 + channels-last, STEPS steps (the paper: 10,000)
#             with the paper's 5 % warm-up, on DATASET (default: the bundled sample, 2,000 / 500 images)
#   attacks   an attack-only paper run (`--network none`) on ATTACK_TRAIN training images (half victim,
#             half attacker) and ATTACK_TEST test images: fr, fr_adv, kpa, pooled, kpa_generic, cpa_generic
#             at their exact paper configurations
#   gan       SIA-GAN at its paper configuration (617 M-parameter adaptation network, batch 256) but
#             ATTACK_EPOCHS epochs: the paper size's largest memory demand, alone so that an OOM costs nothing else
#   itn       itn and itn_unet at their paper configurations, ATTACK_EPOCHS epochs
#
# Outputs under $OUT (default ./gpu-session): logs/<step>.log, steps.tsv (step, exit status, seconds),
# gpu-profile/ (gpu_profile.json / .md), runs/<run_id>/ (result.json, run.log, attack PNGs and per-image
# SSIM CSVs; checkpoints and keys stay in RUNS), nvidia-smi.txt and gpu_memory.csv (memory used, every second).
#
# Settings (environment): OUT, RUNS (run folders with checkpoints; default $TMPDIR/ppbench-gpu-session),
# BUDGET_S (480), DATASET (sample), STEPS (100), ATTACK_TRAIN (600), ATTACK_TEST (200), ATTACK_EPOCHS (5),
# PYTHON (python), PROFILE_ARGS (extra gpu_profile.py flags, e.g. --compile).
set -uo pipefail

dry=0
case "${1:-}" in
  --dry-run) dry=1 ;;
  "") ;;
  -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: $0 [--dry-run]" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.." || exit 2

OUT=${OUT:-gpu-session}
RUNS=${RUNS:-${TMPDIR:-/tmp}/ppbench-gpu-session}
BUDGET_S=${BUDGET_S:-480}
DATASET=${DATASET:-sample}
STEPS=${STEPS:-100}
ATTACK_TRAIN=${ATTACK_TRAIN:-600}
ATTACK_TEST=${ATTACK_TEST:-200}
ATTACK_EPOCHS=${ATTACK_EPOCHS:-5}
PYTHON=${PYTHON:-python}
PROFILE_ARGS=${PROFILE_ARGS:-}
WARMUP=$(( STEPS / 20 > 0 ? STEPS / 20 : 1 ))  # the paper's 500 warm-up steps of 10,000

# `ppbench run` has no flag for an attack's epochs: this runs the CLI with the trained attacks' paper
# configurations shortened to EPOCHS epochs (argv: EPOCHS, then the `ppbench` arguments); each record
# entry's config says the epochs it ran.
SHORT_ATTACKS='import sys
from ppbench import cli
from ppbench.attacks import attack_class
for name in ("gan", "itn", "itn_unet"):
    attack_class(name).default_configs["paper"]["epochs"] = int(sys.argv[1])
sys.exit(cli.main(sys.argv[2:]))'

common=(--profile paper --scheme proposed --dataset "$DATASET" --no-download --device cuda --results "$RUNS"
        --no-progress)
attack_run=("${common[@]}" --network none --n-train "$ATTACK_TRAIN" --n-test "$ATTACK_TEST"
            --n-attack-images "$ATTACK_TEST")
failed=()

show() {  # the command, shell-quoted, on one line
  printf '+'; printf ' %q' "$@"; printf '\n'
}

step() {  # step NAME MAX_SECONDS COMMAND...: run COMMAND under timeout, log to OUT/logs/NAME.log
  local name=$1 cap=$2; shift 2
  if (( dry )); then show "$@"; return 0; fi
  local left=$(( BUDGET_S - SECONDS - 15 ))
  if (( left < 30 )); then
    echo "== $name: skipped, the session's budget of $BUDGET_S s is spent" | tee -a "$OUT/steps.log"
    printf '%s\tskipped\t0\n' "$name" >> "$OUT/steps.tsv"; failed+=("$name"); return 0
  fi
  local limit=$(( cap < left ? cap : left )) start=$SECONDS rc
  echo "== $name (at most $limit s): $(show "$@")" | tee -a "$OUT/steps.log"
  # SIGINT first, so Python unwinds (run lock, record); SIGKILL 20 s later if it does not stop
  timeout -s INT -k 20 "$limit" "$@" > "$OUT/logs/$name.log" 2>&1
  rc=$?
  printf '%s\t%s\t%s\n' "$name" "$rc" "$(( SECONDS - start ))" >> "$OUT/steps.tsv"
  echo "== $name: exit $rc after $(( SECONDS - start )) s" | tee -a "$OUT/steps.log"
  tail -n 5 "$OUT/logs/$name.log"
  (( rc == 0 )) || failed+=("$name")
}

if (( ! dry )); then
  mkdir -p "$OUT/logs" "$RUNS" || exit 2
  : > "$OUT/steps.tsv"
  sampler=
  if command -v nvidia-smi > /dev/null; then
    nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
    nvidia-smi --query-gpu=timestamp,memory.used,memory.total,utilization.gpu --format=csv -l 1 \
      > "$OUT/gpu_memory.csv" 2>/dev/null &
    sampler=$!
  else
    echo "no nvidia-smi on this machine" > "$OUT/nvidia-smi.txt"
  fi
fi

if (( dry )) || ! "$PYTHON" -c "import ppbench" 2>/dev/null; then
  step install 120 "$PYTHON" -m pip install --no-deps --no-build-isolation -q -e .
fi
# shellcheck disable=SC2086  # PROFILE_ARGS is a list of flags
step profile 150 "$PYTHON" scripts/gpu_profile.py --out "$OUT/gpu-profile" $PROFILE_ARGS
step train 180 "$PYTHON" -m ppbench run "${common[@]}" --from-scratch --steps "$STEPS" --warmup-steps "$WARMUP"
step attacks 120 "$PYTHON" -m ppbench run "${attack_run[@]}" --attack fr fr_adv kpa pooled kpa_generic cpa_generic
step gan 120 "$PYTHON" -c "$SHORT_ATTACKS" "$ATTACK_EPOCHS" run "${attack_run[@]}" --attack gan
step itn 120 "$PYTHON" -c "$SHORT_ATTACKS" "$ATTACK_EPOCHS" run "${attack_run[@]}" --attack itn itn_unet

if (( dry )); then exit 0; fi
[ -n "$sampler" ] && kill "$sampler" 2>/dev/null
# what comes back: records, logs, pictures and per-image SSIMs (checkpoints and keys stay in RUNS)
for run_dir in "$RUNS"/*/; do
  [ -f "$run_dir/result.json" ] || [ -f "$run_dir/run.log" ] || continue
  dest="$OUT/runs/$(basename "$run_dir")"
  mkdir -p "$dest"
  cp "$run_dir"/result.json "$run_dir"/run.log "$dest"/ 2>/dev/null
  if [ -d "$run_dir/attacks" ]; then
    mkdir -p "$dest/attacks"
    find "$run_dir/attacks" -maxdepth 1 \( -name '*.png' -o -name '*_ssim.csv' \) -exec cp {} "$dest/attacks/" \;
  fi
done
if [ -s "$OUT/gpu_memory.csv" ]; then
  awk -F, 'NR > 1 { gsub(/ MiB/, "", $2); if ($2 + 0 > peak) peak = $2 + 0 }
           END { print "peak GPU memory used (nvidia-smi, 1 s samples): " peak + 0 " MiB" }' \
    "$OUT/gpu_memory.csv" | tee -a "$OUT/steps.log"
fi
echo "session: $SECONDS s; steps: $(tr '\n' ' ' < "$OUT/steps.tsv")" | tee -a "$OUT/steps.log"
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]} (see $OUT/logs/)" | tee -a "$OUT/steps.log" >&2
  exit 1
fi
