#!/usr/bin/env bash
# The full-precision teacher of the Fashion-MNIST weights (issue 20). Resumable: run it again.
cd "$(dirname "$0")/../.."
exec nice -n 19 dwr-larq train experiments/fashion_mnist/teacher.json --dataset fashion_mnist --recipe bireal \
    --epochs 30 --batch-size 128 --learning-rate 0.002 --seed 0 --out experiments/fashion_mnist/runs/teacher
