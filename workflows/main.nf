#!/usr/bin/env nextflow
// cisformer end to end, the same steps as workflows/Snakefile (keep the two in step):
// data → scan → train → interactions (sharded) → merge → heads → report.
// Local:  nextflow run workflows/main.nf -profile local
// Slurm:  nextflow run workflows/main.nf -profile slurm
nextflow.enable.dsl = 2

params.cisformer   = 'cisformer'
params.outdir      = 'results'
params.simulate    = true
params.sim_n       = 2000
params.sim_len     = 200
params.seed        = 7
params.fasta       = ''
params.labels      = ''
params.motifs      = ''
params.shards      = 2
params.threads     = 2
params.epochs      = 4
params.train_config = ''
params.train_args  = '--k 4 --d-model 64 --heads 4 --layers 2 --ffn 128 --pooling cls'
params.validate_args = '--top 5 --draws 5 --max-seqs 100 --spacing-n 16 --spacing-max 50 --spacing-step 4'

process DATA {
    publishDir "${params.outdir}/data", mode: 'copy'
    output:
    tuple path('seqs.fa'), path('labels.tsv'), path('motifs.meme')
    script:
    def m = params.motifs ? "--motifs ${params.motifs}" : ''
    if (params.simulate)
        """
        ${params.cisformer} simulate -q --out . --n ${params.sim_n} --len ${params.sim_len} --seed ${params.seed} ${m}
        """
    else
        """
        cp ${params.fasta} seqs.fa
        cp ${params.labels} labels.tsv
        ${params.cisformer} motifs convert -m ${params.motifs} --to meme -o motifs.meme
        """
}

process SCAN {
    cpus params.threads
    publishDir params.outdir, mode: 'copy'
    input:
    tuple path(fa), path(labels), path(motifs)
    output:
    path 'sites.tsv'
    script:
    """
    ${params.cisformer} scan -q -j ${task.cpus} -m ${motifs} -f ${fa} -o sites.tsv
    """
}

process TRAIN {
    cpus params.threads
    publishDir params.outdir, mode: 'copy'
    input:
    tuple path(fa), path(labels), path(motifs)
    output:
    path 'model'
    script:
    def cfg = params.train_config ? "--config ${params.train_config}" : ''
    """
    ${params.cisformer} train -q -j ${task.cpus} --fasta ${fa} --labels ${labels} --out model --epochs ${params.epochs} --seed ${params.seed} ${cfg} ${params.train_args}
    """
}

process INTERACTIONS_SHARD {
    cpus params.threads
    input:
    tuple path(fa), path(labels), path(motifs)
    path model
    path sites
    each i
    output:
    path "interactions.${i}.part"
    script:
    """
    ${params.cisformer} interactions -q -j ${task.cpus} --model ${model} --fasta ${fa} --motifs ${motifs} --sites ${sites} --shard ${i}/${params.shards} --out interactions.${i}.part
    """
}

process MERGE {
    publishDir params.outdir, mode: 'copy'
    input:
    path parts
    output:
    path 'interactions.tsv'
    script:
    """
    ${params.cisformer} merge -q ${parts} --out interactions.tsv
    """
}

process HEADS {
    cpus params.threads
    publishDir params.outdir, mode: 'copy'
    input:
    tuple path(fa), path(labels), path(motifs)
    path model
    output:
    path 'heads.tsv'
    script:
    """
    ${params.cisformer} heads -q -j ${task.cpus} --model ${model} --fasta ${fa} --motifs ${motifs} --out heads.tsv
    """
}

process VALIDATE {
    cpus params.threads
    publishDir params.outdir, mode: 'copy'
    input:
    tuple path(fa), path(labels), path(motifs)
    path model
    path inter
    output:
    tuple path('validation.tsv'), path('spacing.tsv')
    script:
    """
    ${params.cisformer} validate -q -j ${task.cpus} --model ${model} --fasta ${fa} --motifs ${motifs} \
        --interactions ${inter} ${params.validate_args} --spacing-out spacing.tsv -o validation.tsv
    """
}

process REPORT {
    publishDir params.outdir, mode: 'copy'
    input:
    path model
    path heads
    path inter
    tuple path(validation), path(spacing)
    output:
    path 'report.html'
    script:
    """
    ${params.cisformer} report -q --model ${model} --heads ${heads} --interactions ${inter} \
        --validation ${validation} --spacing ${spacing} --out report.html
    """
}

workflow {
    data  = DATA()
    sites = SCAN(data)
    model = TRAIN(data)
    parts = INTERACTIONS_SHARD(data, model, sites, Channel.of(1..params.shards))
    inter = MERGE(parts.collect())
    heads = HEADS(data, model)
    valid = VALIDATE(data, model, inter)
    REPORT(model, heads, inter, valid)
}
