#!/usr/bin/env bash
# Regenerates the ingestion goldens in tests/data/ with the real tools:
#   bedtools v2.30.0 (getfasta, slop) and samtools 1.16.1 (faidx), Debian 12 packages.
# Run from the repository root:  bash tests/oracle/make_ingest_goldens.sh
# Inputs come from ../shared/data (genome NC_008253.1, intervals.bed); they are copied
# into tests/data/ so the tests need nothing outside the repository.
set -euo pipefail
shared=../shared/data
out=tests/data
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cp "$shared/genomes/NC_008253.1_Ecoli536.fa.gz" "$out/NC_008253.1.fa.gz"   # bgzip
cp "$shared/oracle/intervals.bed" "$out/intervals.bed"

zcat "$out/NC_008253.1.fa.gz" > "$tmp/g.fa"
samtools faidx "$tmp/g.fa"
cp "$tmp/g.fa.fai" "$out/NC_008253.1.fa.fai"
cp "$out/NC_008253.1.fa.gz" "$tmp/g.fa.gz"
samtools faidx "$tmp/g.fa.gz"
cp "$tmp/g.fa.gz.fai" "$out/NC_008253.1.fa.gz.fai"

bed="$out/intervals.bed"
bedtools getfasta -fi "$tmp/g.fa" -bed "$bed"               | gzip -9n > "$out/getfasta.fa.gz"
bedtools getfasta -fi "$tmp/g.fa" -bed "$bed" -s            | gzip -9n > "$out/getfasta_s.fa.gz"
bedtools getfasta -fi "$tmp/g.fa" -bed "$bed" -name -s      | gzip -9n > "$out/getfasta_name_s.fa.gz"
cut -f1,2 "$tmp/g.fa.fai" > "$tmp/g.genome"
bedtools slop -i "$bed" -g "$tmp/g.genome" -b 50 \
  | bedtools getfasta -fi "$tmp/g.fa" -bed - -name -s       | gzip -9n > "$out/getfasta_name_s_flank50.fa.gz"

# The shared oracles must agree with what we just produced.
cmp <(zcat "$out/getfasta_s.fa.gz") "$shared/oracle/getfasta_s.fa"
cmp <(zcat "$out/getfasta_name_s.fa.gz") "$shared/oracle/getfasta_name_s.fa"
echo "goldens written to $out"
