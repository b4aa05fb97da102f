#!/bin/bash
# usage: malloc_ab.sh MODEL BEAM ROUNDS ; env variants alternated
M=$1; B=$2; R=$3
for r in $(seq $R); do
 for v in none mmap4 arena2 mmap1; do
  case $v in
   none) E="";;
   mmap4) E="MALLOC_MMAP_THRESHOLD_=4194304";;
   mmap1) E="MALLOC_MMAP_THRESHOLD_=1048576";;
   arena2) E="MALLOC_ARENA_MAX=2";;
  esac
  /usr/bin/time -f "$v beam$B %e s %M KB" env $E nlp-lstm translate --model $M --beam-size $B < /work/exp/s36/test.en.x3 > /work/exp/s36/malloc_${v}_$B.txt 2>>/work/exp/s36/malloc_err.txt
 done
done
for v in mmap4 arena2 mmap1; do cmp -s /work/exp/s36/malloc_none_$B.txt /work/exp/s36/malloc_${v}_$B.txt && echo "$v same"; done
