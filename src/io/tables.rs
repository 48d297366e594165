//! The analysis tables' columns, in one place: the writers take their header from here, the
//! readers ([`crate::io::tsv::Table`] users: the report, `prune`, `demo`, `validate`) name
//! columns through [`Schema::col`], and `docs/formats.md`'s column dictionary is generated
//! from the same lists (`tests/formats_doc.rs`), so the three cannot drift apart.
use std::fmt::Write as _;

/// What a column holds (`NA` may stand for any missing number).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A whole number (counts, ranks, 0-based layer and head indices).
    Integer,
    /// A real number.
    Number,
    /// A p- or q-value in [0, 1]; values below 1e-300 are written as `1.000e-300`.
    Probability,
    /// 0 or 1.
    Flag,
    /// A name or a word from a fixed set.
    Text,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Integer => "integer",
            Kind::Number => "number",
            Kind::Probability => "p/q",
            Kind::Flag => "0/1",
            Kind::Text => "text",
        }
    }
}

/// One column: its header name, what it holds and what it means.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    pub doc: &'static str,
}

/// One output table.
#[derive(Clone, Copy, Debug)]
pub struct Schema {
    /// The file's usual name, e.g. `heads.tsv`.
    pub file: &'static str,
    /// The columns in file order.
    pub columns: &'static [Column],
}

impl Schema {
    /// The header line, without the newline.
    pub fn header(&self) -> String {
        let names: Vec<&str> = self.columns.iter().map(|c| c.name).collect();
        names.join("\t")
    }

    /// Whether the table has a column `name`.
    pub fn has(&self, name: &str) -> bool {
        self.columns.iter().any(|c| c.name == name)
    }

    /// `name`, checked against the schema: a reader that asks for a column the writer does
    /// not write is a bug, caught the first time the reading code runs in a test.
    pub fn col(&self, name: &'static str) -> &'static str {
        assert!(self.has(name), "{} has no column {name}", self.file);
        name
    }

    /// The header line with [`OUTPUTS`] replaced by one column per output name.
    pub fn header_with_outputs(&self, outputs: &[String]) -> String {
        let names: Vec<&str> = self
            .columns
            .iter()
            .flat_map(|c| match c.name {
                OUTPUTS => outputs.iter().map(String::as_str).collect(),
                n => vec![n],
            })
            .collect();
        names.join("\t")
    }

    /// The column dictionary as a Markdown table (columns with the same kind and meaning
    /// share a row).
    pub fn markdown(&self) -> String {
        let mut out = String::from("| column | kind | meaning |\n|---|---|---|\n");
        let mut i = 0;
        while i < self.columns.len() {
            let c = self.columns[i];
            let mut names = vec![format!("`{}`", c.name)];
            let mut j = i + 1;
            while j < self.columns.len()
                && self.columns[j].doc == c.doc
                && self.columns[j].kind == c.kind
            {
                names.push(format!("`{}`", self.columns[j].name));
                j += 1;
            }
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                names.join(", "),
                c.kind.word(),
                c.doc
            );
            i = j;
        }
        out
    }
}

const fn col(name: &'static str, kind: Kind, doc: &'static str) -> Column {
    Column { name, kind, doc }
}

use Kind::{Flag, Integer, Number, Probability, Text};

const LAYER: &str = "0-based layer";
const HEAD: &str = "0-based head within the layer";

/// `heads`: one row per (layer, head).
pub const HEADS: Schema = Schema {
    file: "heads.tsv",
    columns: &[
        col("layer", Integer, LAYER),
        col("head", Integer, HEAD),
        col(
            "entropy",
            Number,
            "mean over query rows of the attention entropy / ln(tokens): 1 is uniform",
        ),
        col(
            "mean_distance_bp",
            Number,
            "mean \\|query − key\\| in bp over content tokens, weighted by attention",
        ),
        col(
            "local_fraction",
            Number,
            "fraction of content-to-content attention within ±k bp",
        ),
        col(
            "boundary_fraction",
            Number,
            "mean attention mass on `[CLS]`/`[SEP]`",
        ),
        col(
            "top_motif",
            Text,
            "the motif with the strongest focus (smallest p)",
        ),
        col(
            "top_motif_enrichment",
            Number,
            "attention its sites receive over what their token coverage predicts",
        ),
        col(
            "top_motif_p",
            Probability,
            "one-sided t-test over sequences: the sites' enrichment minus the null spans' is more than `--focus-margin` (1 share of uniform attention by default)",
        ),
        col(
            "redundancy",
            Number,
            "largest mean cosine similarity of this head's maps with another head's",
        ),
        col("most_similar_head", Text, "that head, `L<layer>H<head>`"),
        col(
            "importance_dmetric",
            Number,
            "drop of Pearson r (against `--labels`; without labels, against the unmasked predictions) when the head is masked, on the first `--importance-n` sequences",
        ),
        col(
            "importance_dpred",
            Number,
            "mean \\|Δprediction\\| on the label scale when it is masked",
        ),
        col(
            "prune_candidate",
            Flag,
            "1 when low-entropy and redundant, or unimportant",
        ),
        col("n_seqs", Integer, "sequences analysed"),
        col(
            "top_motif_null_enrichment",
            Number,
            "the same ratio for random non-site spans of the same widths",
        ),
        col(
            "top_motif_q",
            Probability,
            "Benjamini–Hochberg over heads × motifs",
        ),
        col(
            "motif_focus",
            Flag,
            "1 when the top motif's `top_motif_q` ≤ 0.05 (its excess over the null is beyond the margin)",
        ),
    ],
};

/// `heads --focus`: every (head, motif).
pub const FOCUS: Schema = Schema {
    file: "focus.tsv",
    columns: &[
        col("layer", Integer, LAYER),
        col("head", Integer, HEAD),
        col("motif", Text, "the motif"),
        col("n_seqs", Integer, "sequences with a site of the motif"),
        col("n_sites", Integer, "its sites in them"),
        col(
            "enrichment",
            Number,
            "attention the sites receive over what their token coverage predicts",
        ),
        col(
            "null_enrichment",
            Number,
            "the same ratio for random non-site spans of the same widths",
        ),
        col(
            "p_value",
            Probability,
            "one-sided t-test over sequences: the sites' excess over the null spans is more than `--focus-margin`",
        ),
        col(
            "q_value",
            Probability,
            "Benjamini–Hochberg over heads × motifs",
        ),
    ],
};

const RANK: &str = "row order, best first (`--rank-by`)";
const MOTIF_A: &str = "the pair's first motif (or cluster with `--collapse-similar`)";
const MOTIF_B: &str = "the pair's second motif";
const MEDIAN_DISTANCE: &str = "median gap between the two sites, in bp";
const ORIENTATION: &str =
    "the orientation most enriched over chance: `tandem`, `convergent` or `divergent`";
const SCORE: &str = "what was scored: `attention` or `attn_grad` (attention × gradient)";

const GAP_BAND: &str = "the gap band (bp between the two sites: `0-15`, `16-63` or `64+`) whose causal test is reported: each band is tested on its own site pairs, the one with the smallest p is shown, and `causal_p` is that p times the bands tested";
const N_TESTED: &str = "sequences in the pair's causal test (in `gap_band`)";
const EPISTASIS: &str = "plain double-mutant epistasis f(AB) − f(A) − f(B) + f(∅): mean over sequences, its 95% t-interval, and p against \\|effect\\| ≤ `min_effect`";
const N_MOVED: &str = "sequences where one site's bases could be moved elsewhere";
const SPECIFIC: &str = "arrangement-specific epistasis (the pair in place against one site moved): mean over sequences, 95% t-interval, p against \\|effect\\| ≤ `min_effect`";

/// The causal test's columns, at the end of both interaction tables.
macro_rules! causal_columns {
    () => {
        [
            col("gap_band", Text, GAP_BAND),
            col("n_tested", Integer, N_TESTED),
            col("epistasis", Number, EPISTASIS),
            col("epistasis_lo", Number, EPISTASIS),
            col("epistasis_hi", Number, EPISTASIS),
            col("epistasis_p", Probability, EPISTASIS),
            col("n_moved", Integer, N_MOVED),
            col("specific", Number, SPECIFIC),
            col("specific_lo", Number, SPECIFIC),
            col("specific_hi", Number, SPECIFIC),
            col("specific_p", Probability, SPECIFIC),
            col(
                "min_effect",
                Number,
                "the margin: `--min-effect-sd` × SD of the predictions over the sequences tested",
            ),
            col(
                "causal_p",
                Probability,
                "the causal test's p (`specific_p`; `epistasis_p` with `--causal epistasis`; with `--causal cooperative` the one-sided p of epistasis > `min_effect`), times the gap bands tested",
            ),
        ]
    };
}

const INTERACTION_COLUMNS: [Column; 40] = {
    let head = [
        col("rank", Integer, RANK),
        col("motif_a", Text, MOTIF_A),
        col("motif_b", Text, MOTIF_B),
        col("layer", Integer, LAYER),
        col("head", Integer, HEAD),
        col("n_pairs", Integer, "site pairs seen"),
        col("n_seqs", Integer, "sequences holding them"),
        col(
            "co_attention",
            Number,
            "mean score of the site pairs: symmetrised attention between the two sites' tokens (`score` attention) or attention × gradient (`score` attn_grad)",
        ),
        col(
            "background",
            Number,
            "the same mean over distance-matched null span pairs",
        ),
        col(
            "effect",
            Number,
            "log2(co_attention / background); `NA` where undefined (e.g. negative attention × gradient)",
        ),
        col(
            "p_value",
            Probability,
            "the row's call: `max(head_p, causal_p)`",
        ),
        col(
            "q_value",
            Probability,
            "Benjamini–Hochberg of `p_value` over the rows of the same score kind",
        ),
        col("median_distance_bp", Number, MEDIAN_DISTANCE),
        col("orientation", Text, ORIENTATION),
        col("score", Text, SCORE),
        col(
            "auc",
            Number,
            "chance that a site pair beats a null pair (descriptive)",
        ),
        col("n_tandem", Integer, "site pairs per orientation"),
        col("n_convergent", Integer, "site pairs per orientation"),
        col("n_divergent", Integer, "site pairs per orientation"),
        col("auc_lower", Number, "one-sided 95% lower bound of `auc`"),
        col(
            "contrast",
            Number,
            "mean per-sequence interaction contrast: how much more the two sites attend to each other than to the other's null span",
        ),
        col(
            "site_auc",
            Number,
            "site-matched test: chance that this pair's contrast beats another motif pair's under the same head",
        ),
        col("site_p", Probability, "that test's p"),
        col(
            "joint_p",
            Probability,
            "the same numbers as `p_value`, `q_value` (older names)",
        ),
        col(
            "joint_q",
            Probability,
            "the same numbers as `p_value`, `q_value` (older names)",
        ),
        col(
            "head_p",
            Probability,
            "t-test over sequences of the site pairs' excess over their distance-matched nulls",
        ),
        col(
            "distance_p",
            Probability,
            "one-sided Mann–Whitney p, every pair a replicate (descriptive only)",
        ),
    ];
    concat_columns(head, causal_columns!())
};

/// `interactions`: one row per (motif pair, layer, head, score kind). The causal columns are
/// the pair's and repeat in each of its heads' rows.
pub const INTERACTIONS: Schema = Schema {
    file: "interactions.tsv",
    columns: &INTERACTION_COLUMNS,
};

const PAIR_COLUMNS: [Column; 28] = {
    let head = [
        col("rank", Integer, RANK),
        col("motif_a", Text, MOTIF_A),
        col("motif_b", Text, MOTIF_B),
        col(
            "n_pairs",
            Integer,
            "site pairs of the pair's best row (its first row in interactions.tsv)",
        ),
        col("n_seqs", Integer, "sequences of that row"),
        col("best_layer", Integer, "the layer of that row"),
        col("best_head", Integer, "the head of that row"),
        col("best_effect", Number, "that row's `effect`"),
        col("best_p", Probability, "that row's `p_value`"),
        col(
            "combined_p",
            Probability,
            "ACAT (Cauchy) combination of every head's `head_p`",
        ),
        col(
            "q_value",
            Probability,
            "Benjamini–Hochberg of `p_value` over pairs",
        ),
        col("median_distance_bp", Number, MEDIAN_DISTANCE),
        col("orientation", Text, ORIENTATION),
        col("score", Text, SCORE),
        col("p_value", Probability, "`max(combined_p, causal_p)`"),
    ];
    concat_columns(head, causal_columns!())
};

/// `interactions --per-pair`: one row per motif pair and score kind, the table to read first.
pub const PAIRS: Schema = Schema {
    file: "pairs.tsv",
    columns: &PAIR_COLUMNS,
};

/// Copies two arrays into one (`const` array concatenation).
const fn concat_columns<const A: usize, const B: usize, const C: usize>(
    a: [Column; A],
    b: [Column; B],
) -> [Column; C] {
    assert!(A + B == C);
    let mut out = [col("", Text, ""); C];
    let mut i = 0;
    while i < A {
        out[i] = a[i];
        i += 1;
    }
    while i < C {
        out[i] = b[i - A];
        i += 1;
    }
    out
}

const EPISTASIS_BOOT: &str =
    "motif-ablation epistasis f(AB) − f(A) − f(B) + f(∅) and its 95% percentile bootstrap interval";
const SPECIFIC_V: &str = "arrangement-specific epistasis: mean over sequences, 95% t-interval and p, as in interactions.tsv";
const EFFECT_V: &str = "the verdict's causal test (`effect_test`): effect over sequences with its 95% interval (`specific`, or the plain epistasis of the isolated pair)";

/// `validate`: one row per motif pair checked.
pub const VALIDATION: Schema = Schema {
    file: "validation.tsv",
    columns: &[
        col("motif_a", Text, "the pair's first motif"),
        col("motif_b", Text, "the pair's second motif"),
        col(
            "coattention_rank",
            Integer,
            "the pair's best row in the interaction table: rank, `effect` and `q_value` (`NA` when the table lacks it)",
        ),
        col(
            "coattention_effect",
            Number,
            "the pair's best row in the interaction table: rank, `effect` and `q_value` (`NA` when the table lacks it)",
        ),
        col(
            "coattention_q",
            Probability,
            "the pair's best row in the interaction table: rank, `effect` and `q_value` (`NA` when the table lacks it)",
        ),
        col(
            "n_seqs",
            Integer,
            "sequences holding non-overlapping sites of both (0: `untested`)",
        ),
        col("epistasis", Number, EPISTASIS_BOOT),
        col("epistasis_ci_low", Number, EPISTASIS_BOOT),
        col("epistasis_ci_high", Number, EPISTASIS_BOOT),
        col("effect_a", Number, "f(A) − f(∅)"),
        col("effect_b", Number, "f(B) − f(∅)"),
        col(
            "best_spacing_bp",
            Integer,
            "the spacing scan's maximum cooperativity: its spacing, orientation and value",
        ),
        col(
            "best_orientation",
            Text,
            "the spacing scan's maximum cooperativity: its spacing, orientation and value",
        ),
        col(
            "spacing_effect",
            Number,
            "the spacing scan's maximum cooperativity: its spacing, orientation and value",
        ),
        col("heads", Text, "heads masked for the head ablation"),
        col(
            "epistasis_masked",
            Number,
            "epistasis with those heads masked",
        ),
        col(
            "head_ablation_effect",
            Number,
            "(epistasis − epistasis_masked) / epistasis",
        ),
        col(
            "verdict",
            Text,
            "`confirmed`, `attention-only`, `effect-only`, `neither` or `untested`. Attention evidence: the pair's best row has q ≤ alpha and `co_attention` above `background` (either side for `attn_grad` rows, whose link may lower the output; the log-ratio `effect` is undefined there and not used); effect evidence: `effect_q` ≤ alpha",
        ),
        col("gap_band", Text, GAP_BAND),
        col("n_moved", Integer, N_MOVED),
        col("specific", Number, SPECIFIC_V),
        col("specific_lo", Number, SPECIFIC_V),
        col("specific_hi", Number, SPECIFIC_V),
        col("specific_p", Probability, SPECIFIC_V),
        col(
            "specific_q",
            Probability,
            "Benjamini–Hochberg of `specific_p` over the pairs checked",
        ),
        col(
            "effect_test",
            Text,
            "the causal test behind the verdict's effect evidence (`--causal`: `specific`, `epistasis` or `cooperative`)",
        ),
        col("effect", Number, EFFECT_V),
        col("effect_lo", Number, EFFECT_V),
        col("effect_hi", Number, EFFECT_V),
        col(
            "effect_p",
            Probability,
            "that test's p-value against the margin (one-sided for `cooperative`)",
        ),
        col(
            "effect_q",
            Probability,
            "Benjamini–Hochberg of `effect_p` over the pairs checked",
        ),
    ],
};

/// `validate --spacing-out`, long format.
pub const SPACING: Schema = Schema {
    file: "spacing.tsv",
    columns: &[
        col("motif_a", Text, "the pair's first motif"),
        col("motif_b", Text, "the pair's second motif"),
        col(
            "orientation",
            Text,
            "strands of the two sites: `++`, `--`, `+-` or `-+`",
        ),
        col(
            "distance_bp",
            Integer,
            "gap between the sites, 0 to `--spacing-max` (by default the larger of 50 and the pair's largest gap in the input, so pairs may differ in range)",
        ),
        col("cooperativity", Number, "f(AB_d) − f(A) − f(B_d) + f(∅)"),
        col("mean_ab", Number, "the mean prediction with both sites"),
    ],
};

/// `patch`: one row per head patched.
pub const PATCH: Schema = Schema {
    file: "patch.tsv",
    columns: &[
        col("layer", Integer, LAYER),
        col("head", Integer, HEAD),
        col(
            "restored",
            Number,
            "share of the clean − corrupted difference restored by patching the head (`NA` when the means are equal)",
        ),
        col(
            "mean_clean",
            Number,
            "mean prediction on the clean sequences",
        ),
        col(
            "mean_corrupt",
            Number,
            "mean prediction on the corrupted sequences",
        ),
        col(
            "mean_patched",
            Number,
            "mean prediction on the corrupted sequences with the head patched",
        ),
        col("n", Integer, "sequence pairs"),
    ],
};

/// `prune`: one row per head considered, after `#` lines with the totals.
pub const PRUNE: Schema = Schema {
    file: "prune.tsv",
    columns: &[
        col("layer", Integer, LAYER),
        col("head", Integer, HEAD),
        col("step", Integer, "order in which the head was considered"),
        col("score", Number, "the ranking score (`--by`)"),
        col(
            "metric",
            Number,
            "mean Pearson r with the head masked on top of those already taken; `NA` when not re-measured (without `--max-drop`)",
        ),
        col("removed", Flag, "1 when the head was removed"),
        col("reason", Text, "why it was kept, or `.`"),
    ],
};

/// `forgetting`: one row per head.
pub const FORGETTING: Schema = Schema {
    file: "forgetting.tsv",
    columns: &[
        col("layer", Integer, LAYER),
        col("head", Integer, HEAD),
        col(
            "forgetting_kl",
            Number,
            "mean KL(attention row before ‖ after) in nats over every query token of every sequence",
        ),
    ],
};

/// `simulate`: the grammar that made the data, one row per element and output.
pub const TRUTH: Schema = Schema {
    file: "truth.tsv",
    columns: &[
        col(
            "kind",
            Text,
            "`single`, `cooperative`, `long_range` or `decoy` (planted together, no interaction)",
        ),
        col("motif_a", Text, "the (first) motif's ID"),
        col("motif_b", Text, "the second motif's ID; `.` for singles"),
        col("name_a", Text, "the (first) motif's name"),
        col("name_b", Text, "the second motif's name; `.` for singles"),
        col("output", Text, "the output (label column) the effect is on"),
        col(
            "effect",
            Number,
            "activity added: by the motif (singles) or by the pair's interaction",
        ),
        col("rate", Number, "fraction of sequences planted"),
        col(
            "min_gap",
            Integer,
            "smallest gap between the pair's sites, in bp; `.` for singles",
        ),
        col("max_gap", Integer, "largest gap; `.` for singles"),
        col(
            "orientation",
            Text,
            "`tandem`, `convergent`, `divergent` or `any`; `.` for singles",
        ),
    ],
};

/// The per-set metric columns shared by [`METRICS`] and [`BASELINE_METRICS`] (after their
/// leading columns), as `train::Metrics::tsv_fields` writes them.
macro_rules! metric_columns {
    ($($lead:expr),*) => {
        &[
            $($lead,)*
            col("set", Text, "`training`, `validation` or `test` (`all` from `evaluate` without a `set` column)"),
            col("output", Text, "the output (label column)"),
            col("n", Integer, "sequences in the set"),
            col("pearson", Number, "correlation of predictions with labels"),
            col("spearman", Number, "correlation of predictions with labels"),
            col("r2", Number, "coefficient of determination"),
            col("mse", Number, "mean squared error (label scale)"),
            col("auroc", Number, "for 0/1 outputs; `NA` otherwise"),
            col("auprc", Number, "for 0/1 outputs; `NA` otherwise"),
        ]
    };
}

/// `train`, `finetune` and `evaluate`: the model's metrics per set and output, then the ridge
/// baseline's (`train` and `evaluate` only).
pub const METRICS: Schema = Schema {
    file: "metrics.tsv",
    columns: metric_columns!(col(
        "model",
        Text,
        "`transformer` (predictions averaged as `predict` averages them) or `ridge`"
    )),
};

/// `baseline`: the ridge model's metrics per set and output.
pub const BASELINE_METRICS: Schema = Schema {
    file: "baseline metrics.tsv",
    columns: metric_columns!(),
};

const VAL_METRIC: &str =
    "validation metric: one forward pass, before calibration, mean over outputs";
const VAL_BINARY_METRIC: &str = "validation metric (0/1 outputs; `NA` otherwise)";

/// `train`: one row per epoch (validation numbers of one forward pass, before calibration;
/// the mean over outputs).
pub const TRAIN_LOG: Schema = Schema {
    file: "train_log.tsv",
    columns: &[
        col("epoch", Integer, "1-based epoch"),
        col("step", Integer, "optimiser steps done"),
        col(
            "train_loss",
            Number,
            "mean training loss of the epoch (normalised targets)",
        ),
        col("val_loss", Number, "validation loss (normalised targets)"),
        col("val_pearson", Number, VAL_METRIC),
        col("val_spearman", Number, VAL_METRIC),
        col("val_r2", Number, VAL_METRIC),
        col("val_auroc", Number, VAL_BINARY_METRIC),
        col("val_auprc", Number, VAL_BINARY_METRIC),
        col("lr", Number, "learning rate of the epoch's last step"),
        col("seconds", Number, "the epoch's wall-clock time"),
    ],
};

/// Stands for the model's outputs in a schema: one column each, named as in the labels.
pub const OUTPUTS: &str = "<output>";

const SET: &str = "`training`, `validation` or `test`; `.` for a row in no set";

/// `train`, `finetune` and `baseline` (`predictions.tsv` of the model folder), and `predict`
/// (without `set`): one row per sequence, in input order.
pub const PREDICTIONS: Schema = Schema {
    file: "predictions.tsv",
    columns: &[
        col(
            "id",
            Text,
            "the sequence's id (FASTA record name, or the BED region's)",
        ),
        col(
            OUTPUTS,
            Number,
            "one column per output, named as in the labels: the prediction on the labels' \
             scale (averaged as `predict` averages; ridge predictions for `baseline`)",
        ),
        col("set", Text, SET),
    ],
};

/// `train` and `finetune`: which set every sequence was in.
pub const SPLIT: Schema = Schema {
    file: "split.tsv",
    columns: &[col("id", Text, "the sequence's id"), col("set", Text, SET)],
};

/// Every schema, in the order of `docs/formats.md`.
pub const ALL: [&Schema; 15] = [
    &TRUTH,
    &TRAIN_LOG,
    &METRICS,
    &BASELINE_METRICS,
    &PREDICTIONS,
    &SPLIT,
    &HEADS,
    &FOCUS,
    &INTERACTIONS,
    &PAIRS,
    &VALIDATION,
    &SPACING,
    &PATCH,
    &PRUNE,
    &FORGETTING,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_expand_to_one_column_each() {
        let names = ["k562".to_string(), "hepg2".to_string()];
        assert_eq!(
            PREDICTIONS.header_with_outputs(&names),
            "id\tk562\thepg2\tset"
        );
        assert_eq!(SPLIT.header_with_outputs(&names), SPLIT.header());
    }

    #[test]
    fn names_are_unique_and_markdown_groups_shared_meanings() {
        for s in ALL {
            let mut names: Vec<&str> = s.columns.iter().map(|c| c.name).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), s.columns.len(), "{}", s.file);
        }
        let md = INTERACTIONS.markdown();
        assert!(md.contains("| `n_tandem`, `n_convergent`, `n_divergent` | integer |"));
        assert_eq!(INTERACTIONS.col("causal_p"), "causal_p");
        assert!(PAIRS.header().ends_with("\tmin_effect\tcausal_p"));
    }

    #[test]
    #[should_panic(expected = "heads.tsv has no column verdict")]
    fn asking_for_a_column_the_writer_does_not_write_fails() {
        HEADS.col("verdict");
    }
}
