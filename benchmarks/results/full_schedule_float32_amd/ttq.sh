#!/bin/bash
cd /work/main
echo "peer start $(date +%T)"
../shared/peers/bench.sh -d /tmp/peers/m30k -n 300 -p py --tok sp --sp-vocab 8000 -o /tmp/peers/runs/m30k-n300-s42py > /work/exp/s42/peer_py.log 2>&1
echo "peer done $(date +%T) rc=$?"
for r in full12k_f32_whole_s1234 full12k_f32_samp_s1234; do
python benchmarks/time_to_quality.py --run /work/exp/s42/runs/$r --source ../shared/data/multi30k/test_2016_flickr.en.gz --reference ../shared/data/multi30k/test_2016_flickr.de.gz --peer-summary /tmp/peers/runs/m30k-n300-s42py/summary.json --peer-steps 6000 --target-bleu 34.44 --output benchmarks/results/full_schedule_float32_amd/ttq_$r 2>&1 | grep -v "^I0000\|^W0000\|WARNING: All\|^E0000\|rebuild\|To enable"
echo "ttq $r done $(date +%T)"
done
