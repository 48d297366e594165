#!/usr/bin/env nextflow
// cisformer end to end, the same steps as workflows/Snakefile (keep the two in step) and the
// same recipe as `cisformer demo`:
// data (simulate, or your own FASTA + labels) → scan → train → interactions (sharded) → merge
// → heads → validate → report.
// Local:  nextflow run workflows/main.nf -profile local
// Slurm:  nextflow run workflows/main.nf -profile slurm --queue normal
// Own data: --simulate false --fasta seqs.fa --labels labels.tsv --motifs motifs.meme
// Every file a process reads arrives as a `path` input (checked by workflows/check_nf.py).
nextflow.enable.dsl = 2

params.cisformer   = 'cisformer'
params.outdir      = 'results'
params.simulate    = true
params.sim_n       = 3000
params.sim_len     = 200
params.seed        = 7
params.fasta       = ''
params.labels      = ''
params.motifs      = ''
params.shards      = 2
params.threads     = 2
params.epochs      = 5
params.train_config = ''
params.train_args  = ''
params.heads_args  = '--importance-n 256'
params.validate_args = '--top 3 --draws 3 --max-seqs 60 --bootstrap 500 --spacing-n 8 --spacing-max 40 --spacing-step 4'
params.queue       = 'normal'   // Slurm partition (slurm profile in nextflow.config)

// `--simulate false` may arrive as a string: accept true/false, yes/no, on/off, 1/0.
def asBool(v) {
    if (v instanceof Boolean) return v
    def s = v.toString().trim().toLowerCase()
    if (s in ['true', 'yes', 'on', '1']) return true
    if (s in ['false', 'no', 'off', '0']) return false
    error "params.simulate: '${v}' is not true/false"
}

// An optional input file: the file, or [] (no file) when the parameter is empty.
def optionalFile(p) {
    p ? file(p, checkIfExists: true) : []
}

process SIMULATE {
    publishDir "${params.outdir}/data", mode: 'copy'
    input:
    path motifs, stageAs: 'in/*'   // [] = the embedded simulator motifs
    output:
    tuple path('seqs.fa'), path('labels.tsv'), path('motifs.meme')
    script:
    def m = motifs ? "--motifs ${motifs}" : ''
    """
    ${params.cisformer} simulate -q --out . --n ${params.sim_n} --len ${params.sim_len} --seed ${params.seed} ${m}
    """
}

process OWN_DATA {
    publishDir "${params.outdir}/data", mode: 'copy'
    input:
    path fasta, stageAs: 'in/*'
    path labels, stageAs: 'in/*'
    path motifs, stageAs: 'in/*'
    output:
    tuple path('seqs.fa'), path('labels.tsv'), path('motifs.meme')
    script:
    """
    cp ${fasta} seqs.fa
    cp ${labels} labels.tsv
    ${params.cisformer} motifs convert -q -m ${motifs} --to meme -o motifs.meme
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

// Plain `cisformer train` as in the demo: the binary's default model unless
// --train_args or --train_config says otherwise.
process TRAIN {
    cpus params.threads
    publishDir params.outdir, mode: 'copy'
    input:
    tuple path(fa), path(labels), path(motifs)
    path train_config, stageAs: 'in/*'   // [] = none
    output:
    path 'model'
    script:
    def cfg = train_config ? "--config ${train_config}" : ''
    """
    ${params.cisformer} train -q -j ${task.cpus} --fasta ${fa} --labels ${labels} --out model --seed ${params.seed} --epochs ${params.epochs} ${cfg} ${params.train_args}
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
    tuple path('interactions.tsv'), path('pairs.tsv')
    script:
    """
    ${params.cisformer} merge -q ${parts} --per-pair pairs.tsv --out interactions.tsv
    """
}

process HEADS {
    cpus params.threads
    publishDir params.outdir, mode: 'copy'
    input:
    tuple path(fa), path(labels), path(motifs)
    path model
    output:
    tuple path('heads.tsv'), path('focus.tsv')
    script:
    """
    ${params.cisformer} heads -q -j ${task.cpus} --model ${model} --fasta ${fa} --motifs ${motifs} --labels ${labels} ${params.heads_args} --focus focus.tsv --out heads.tsv
    """
}

process VALIDATE {
    cpus params.threads
    publishDir params.outdir, mode: 'copy'
    input:
    tuple path(fa), path(labels), path(motifs)
    path model
    tuple path(inter), path(pairs)
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
    tuple path(fa), path(labels), path(motifs)
    path model
    tuple path(heads), path(focus)
    tuple path(inter), path(pairs)
    tuple path(validation), path(spacing)
    output:
    path 'report.html'
    script:
    """
    ${params.cisformer} report -q --model ${model} --heads ${heads} --interactions ${inter} \
        --validation ${validation} --spacing ${spacing} \
        --predictions ${model}/predictions.tsv --labels ${labels} --out report.html
    """
}

workflow {
    def data
    if (asBool(params.simulate)) {
        data = SIMULATE(optionalFile(params.motifs))
    } else {
        if (!params.fasta || !params.labels || !params.motifs)
            error "--simulate false needs --fasta, --labels and --motifs"
        data = OWN_DATA(file(params.fasta, checkIfExists: true),
                        file(params.labels, checkIfExists: true),
                        file(params.motifs, checkIfExists: true))
    }
    sites = SCAN(data)
    model = TRAIN(data, optionalFile(params.train_config))
    parts = INTERACTIONS_SHARD(data, model, sites, Channel.of(1..params.shards))
    inter = MERGE(parts.collect())
    heads = HEADS(data, model)
    valid = VALIDATE(data, model, inter)
    REPORT(data, model, heads, inter, valid)
}
