//! The concordance table: for each top pair of an interaction table (ranked by attention ×
//! gradient or by co-attention), does the model actually use it?
//!
//! Verdict rule (documented in the table's trailing comment too):
//! - attention evidence: the pair's best interaction row has a q-value `<= alpha` and a
//!   positive `effect` (the score above its distance-matched null); the q-value is
//!   `joint_q` (both the distance- and the site-matched null) in tables that have it,
//!   else `q_value`;
//! - effect evidence: the arrangement-specific epistasis (see [`super::causal`]: what A
//!   adds next to B where B is, over the same B bases moved elsewhere in the sequence)
//!   differs from 0 at a Benjamini–Hochberg q `<= alpha` over the pairs checked, with
//!   the sequence as the unit, and is at least `min_epistasis` in size (default 0). The
//!   plain epistasis and its bootstrap interval are reported beside it, but a model's
//!   output is never exactly additive (saturation makes any two important motifs
//!   sub-additive), so on data with no interaction at all its interval excludes 0 for
//!   most co-occurring pairs: it is not the rule;
//! - `confirmed` = both, `attention-only`, `effect-only`, `neither`; `untested` when no
//!   sequence holds non-overlapping sites of both motifs.
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use super::ablation::{Ablation, AblationConfig, AblationSet};
use super::spacing::{SpacingConfig, SpacingCurve, consensus, scan_max_gap, spacing_scan};
use super::{Readout, fmt_num, fmt_pq, model_predictor};
use crate::io::{tables::INTERACTIONS, tsv::Table};
use crate::model::{HeadId, Model};
use crate::motif::Motif;
use crate::motif::Site;
use crate::{Error, Result};

/// A motif pair taken from an interaction table.
#[derive(Clone, Debug, PartialEq)]
pub struct PairCandidate {
    pub name_a: String,
    pub name_b: String,
    /// Indices into the motif list.
    pub motif_a: usize,
    pub motif_b: usize,
    /// 1-based rank among the table's distinct pairs (its best row's position); `None`
    /// for a pair asked for that the table lacks.
    pub rank: Option<usize>,
    /// Effect (log2 score / null) and q-value of the best row (`joint_q` when the
    /// table has it, else `q_value`).
    pub effect: f64,
    pub q_value: f64,
    /// The best row's `co_attention − background`: the link's direction, defined where the
    /// log-ratio `effect` is not (a negative attention × gradient background). Tables
    /// without those columns give `effect`.
    pub link: f64,
    /// The row's score links sites whichever the sign (attention × gradient): a link
    /// below its null counts too.
    pub two_sided: bool,
    /// Heads of the pair's rows, best first.
    pub heads: Vec<HeadId>,
}

/// Index of the motif called `key`: a table name from `names`, else a motif ID, else
/// a motif name.
pub fn find_motif(motifs: &[Motif], names: &[String], key: &str) -> Option<usize> {
    names
        .iter()
        .position(|n| n == key)
        .or_else(|| motifs.iter().position(|m| m.id == key))
        .or_else(|| motifs.iter().position(|m| m.name == key))
}

/// Reads the `top` best distinct motif pairs of an interaction table (rows best first, as
/// `cisformer interactions` writes them), then each pair of `extra` (motif indices) not
/// already among them: with its rank in the table, or without one (`rank` `None`, no
/// heads) when the table lacks it. Motif names are looked up in `names` (table names),
/// then as motif IDs and names; an unknown motif in a selected pair is an error naming
/// the line.
pub fn read_candidates(
    path: &Path,
    motifs: &[Motif],
    names: &[String],
    top: usize,
    extra: &[(usize, usize)],
) -> Result<Vec<PairCandidate>> {
    let t = Table::read(path)?;
    let col = |name| INTERACTIONS.col(name);
    let cols = [
        col("motif_a"),
        col("motif_b"),
        col("layer"),
        col("head"),
        col("effect"),
        col("q_value"),
    ];
    if !t.has(&cols) {
        return Err(Error::parse(
            path,
            1,
            format!(
                "not an interaction table: expected columns {} (as `cisformer interactions` writes), found {}",
                cols.join(", "),
                t.header().join(", ")
            ),
        ));
    }
    let q_col = if t.has(&[col("joint_q")]) {
        col("joint_q")
    } else {
        col("q_value")
    };
    // Distinct pairs in table order: (first row, heads).
    let mut pairs: Vec<(usize, Vec<HeadId>)> = Vec::new();
    let mut index: HashMap<(&str, &str), usize> = HashMap::new();
    for r in 0..t.len() {
        let (a, b) = (t.str(r, col("motif_a")), t.str(r, col("motif_b")));
        let head = HeadId {
            layer: t.uint_req(r, col("layer"))?,
            head: t.uint_req(r, col("head"))?,
        };
        let key = if a <= b { (a, b) } else { (b, a) };
        match index.get(&key) {
            Some(&i) => {
                if !pairs[i].1.contains(&head) {
                    pairs[i].1.push(head);
                }
            }
            None => {
                index.insert(key, pairs.len());
                pairs.push((r, vec![head]));
            }
        }
    }
    let lookup = |name: &str, r: usize| -> Result<usize> {
        find_motif(motifs, names, name).ok_or_else(|| {
            Error::parse(
                path,
                t.line(r),
                format!("motif '{name}' is not in the motif file"),
            )
        })
    };
    let candidate = |rank: usize| -> Result<PairCandidate> {
        let (r, heads) = &pairs[rank];
        let (a, b) = (t.str(*r, col("motif_a")), t.str(*r, col("motif_b")));
        Ok(PairCandidate {
            name_a: a.to_string(),
            name_b: b.to_string(),
            motif_a: lookup(a, *r)?,
            motif_b: lookup(b, *r)?,
            rank: Some(rank + 1),
            effect: t.num(*r, col("effect"))?.unwrap_or(f64::NAN),
            q_value: t.num(*r, q_col)?.unwrap_or(f64::NAN),
            link: if t.has(&[col("co_attention"), col("background")]) {
                let v = |c| t.num(*r, col(c)).map(|x| x.unwrap_or(f64::NAN));
                v("co_attention")? - v("background")?
            } else {
                t.num(*r, col("effect"))?.unwrap_or(f64::NAN)
            },
            two_sided: t.has(&[col("score")]) && t.str(*r, col("score")) == "attn_grad",
            heads: heads.clone(),
        })
    };
    let mut out = (0..pairs.len().min(top))
        .map(candidate)
        .collect::<Result<Vec<_>>>()?;
    for &(a, b) in extra {
        let same = |c: &PairCandidate| {
            (c.motif_a, c.motif_b) == (a, b) || (c.motif_a, c.motif_b) == (b, a)
        };
        if out.iter().any(same) {
            continue;
        }
        let name = |i: usize| {
            names
                .get(i)
                .cloned()
                .or_else(|| motifs.get(i).map(|m| m.id.clone()))
                .unwrap_or_else(|| i.to_string())
        };
        let found = pairs.iter().position(|(r, _)| {
            let idx = |c: &str| find_motif(motifs, names, t.str(*r, c));
            let (x, y) = (idx("motif_a"), idx("motif_b"));
            (x, y) == (Some(a), Some(b)) || (x, y) == (Some(b), Some(a))
        });
        out.push(match found {
            Some(rank) => candidate(rank)?,
            None => PairCandidate {
                name_a: name(a),
                name_b: name(b),
                motif_a: a,
                motif_b: b,
                rank: None,
                effect: f64::NAN,
                q_value: f64::NAN,
                link: f64::NAN,
                two_sided: false,
                heads: Vec::new(),
            },
        });
    }
    Ok(out)
}

/// What the experiments say about a pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Confirmed,
    AttentionOnly,
    EffectOnly,
    Neither,
    Untested,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Confirmed => "confirmed",
            Verdict::AttentionOnly => "attention-only",
            Verdict::EffectOnly => "effect-only",
            Verdict::Neither => "neither",
            Verdict::Untested => "untested",
        }
    }

    /// The module's rule from the two pieces of evidence: the table's q-value and the
    /// arrangement-specific epistasis with its q-value.
    pub fn of(
        cand: &PairCandidate,
        specific: &crate::stats::MeanTest,
        specific_q: f64,
        alpha: f64,
        min_epistasis: f64,
    ) -> Verdict {
        if specific.n == 0 {
            return Verdict::Untested;
        }
        let linked = if cand.two_sided {
            cand.link.is_finite() && cand.link != 0.0
        } else {
            cand.link > 0.0
        };
        let attention = cand.q_value <= alpha && linked;
        let effect = specific_q <= alpha && specific.mean.abs() >= min_epistasis;
        match (attention, effect) {
            (true, true) => Verdict::Confirmed,
            (true, false) => Verdict::AttentionOnly,
            (false, true) => Verdict::EffectOnly,
            (false, false) => Verdict::Neither,
        }
    }
}

/// Options of [`validate_pair`].
#[derive(Clone, Debug, PartialEq)]
pub struct ValidateConfig {
    pub ablation: AblationConfig,
    /// `None` skips the spacing scan.
    pub spacing: Option<SpacingConfig>,
    /// How many of the pair's best heads to mask together.
    pub heads_per_pair: usize,
    /// q-value threshold for attention evidence.
    pub alpha: f64,
    /// Smallest |arrangement-specific epistasis| that counts as effect evidence.
    pub min_epistasis: f64,
    /// The interval null's margin of the effect test, in standard deviations of the
    /// model's predictions over the pair's sequences (as `interactions --min-effect-sd`).
    pub min_effect_sd: f64,
    /// Which causal effect is the effect evidence (as `interactions --causal`).
    pub causal: super::causal::CausalKind,
    /// Sequences per forward pass.
    pub batch: usize,
}

impl Default for ValidateConfig {
    fn default() -> Self {
        ValidateConfig {
            ablation: AblationConfig::default(),
            spacing: Some(SpacingConfig::default()),
            heads_per_pair: 1,
            alpha: 0.05,
            min_epistasis: 0.0,
            min_effect_sd: super::causal::DEFAULT_MIN_EFFECT_SD,
            causal: super::causal::CausalKind::default(),
            batch: 64,
        }
    }
}

/// One row of the concordance table.
#[derive(Clone, Debug, PartialEq)]
pub struct ConcordanceRow {
    pub candidate: PairCandidate,
    pub ablation: Ablation,
    /// Best (orientation, gap, cooperativity) of the spacing scan.
    pub best_spacing: Option<(&'static str, usize, f64)>,
    /// Heads masked for the head-ablation check.
    pub masked: Vec<HeadId>,
    /// Epistasis with those heads masked.
    pub epistasis_masked: f64,
    /// The gap band of the causal tests (see [`super::causal::GAP_BANDS`]).
    pub band: Option<usize>,
    /// The arrangement-specific epistasis over sequences (t-test against the margin).
    pub specific: crate::stats::MeanTest,
    /// Benjamini–Hochberg of `specific.p` over the pairs checked together (see [`decide`]).
    pub specific_q: f64,
    /// The effect evidence: the causal effect `ValidateConfig::causal` names, its p-value
    /// against the margin.
    pub effect: crate::stats::MeanTest,
    /// Benjamini–Hochberg of `effect.p` over the pairs checked together.
    pub effect_q: f64,
    /// `(epistasis − epistasis_masked) / epistasis`: the share the heads carry.
    pub head_ablation_fraction: f64,
    pub verdict: Verdict,
}

/// Runs ablation, head ablation and the spacing scan for one pair.
pub fn validate_pair(
    model: &Model,
    readout: Readout,
    seqs: &[&[u8]],
    sites: &[Vec<Site>],
    motifs: &[Motif],
    cand: &PairCandidate,
    cfg: &ValidateConfig,
) -> Result<(ConcordanceRow, SpacingCurve)> {
    let (a, b) = (cand.motif_a, cand.motif_b);
    if a >= motifs.len() || b >= motifs.len() {
        return Err(Error::Invalid(format!(
            "pair {} + {}: motif index out of range",
            cand.name_a, cand.name_b
        )));
    }
    let predict = model_predictor(model, readout);
    let set = AblationSet::build(seqs, sites, a, b, &cfg.ablation);
    let ablation = set.score(&predict, cfg.batch)?;
    let masked: Vec<HeadId> = cand
        .heads
        .iter()
        .copied()
        .take(cfg.heads_per_pair)
        .collect();
    let mut epistasis_masked = f64::NAN;
    if set.n_seqs() > 0 && !masked.is_empty() {
        let mut m = model.try_clone()?;
        for h in &masked {
            m.set_head_mask(h.layer, h.head, 0.0)?;
        }
        epistasis_masked = set
            .score(&model_predictor(&m, readout), cfg.batch)?
            .epistasis;
    }
    let e = ablation.epistasis;
    let head_ablation_fraction = if e.is_finite() && e != 0.0 {
        (e - epistasis_masked) / e
    } else {
        f64::NAN
    };
    let curve = match &cfg.spacing {
        Some(sc) => {
            let sc = SpacingConfig {
                max_gap: scan_max_gap(sc, sites, a, b),
                ..sc.clone()
            };
            spacing_scan(
                &consensus(&motifs[a]),
                &consensus(&motifs[b]),
                &sc,
                cfg.batch,
                &predict,
            )?
        }
        None => SpacingCurve { points: Vec::new() },
    };
    let (band, specific, effect) = causal_test(&predict, seqs, sites, a, b, cfg)?;
    let verdict = Verdict::of(cand, &effect, effect.p, cfg.alpha, cfg.min_epistasis);
    Ok((
        ConcordanceRow {
            candidate: cand.clone(),
            best_spacing: curve
                .best()
                .map(|p| (p.orientation, p.gap, p.cooperativity)),
            ablation,
            masked,
            epistasis_masked,
            head_ablation_fraction,
            band,
            specific,
            specific_q: specific.p,
            effect,
            effect_q: effect.p,
            verdict,
        },
        curve,
    ))
}

/// The arrangement-specific epistasis of motifs `a` and `b` in up to `max_seqs` sequences
/// that hold both (per gap band, the closest non-overlapping sites in it; other motifs' sites left alone),
/// and the effect `cfg.causal` tests.
fn causal_test<F>(
    predict: &F,
    seqs: &[&[u8]],
    sites: &[Vec<Site>],
    a: usize,
    b: usize,
    cfg: &ValidateConfig,
) -> Result<(
    Option<usize>,
    crate::stats::MeanTest,
    crate::stats::MeanTest,
)>
where
    F: Fn(&[Vec<u8>]) -> Result<Vec<f64>> + Sync,
{
    let mut chosen: Vec<(usize, &[u8], Vec<Site>)> = Vec::new();
    for (i, (seq, s)) in seqs.iter().zip(sites).enumerate() {
        if chosen.len() >= cfg.ablation.max_seqs {
            break;
        }
        let own: Vec<Site> = s
            .iter()
            .copied()
            .filter(|x| x.motif == a || x.motif == b)
            .collect();
        let both = own.iter().any(|x| x.motif == a) && own.iter().any(|x| x.motif == b);
        let homotypic = a == b && own.len() >= 2;
        if both || homotypic {
            chosen.push((i, seq, own));
        }
    }
    let items: Vec<(usize, &[u8], &[Site])> = chosen
        .iter()
        .map(|(i, s, x)| (*i, *s, x.as_slice()))
        .collect();
    let values = super::causal::score_batch(
        cfg.ablation.seed,
        &items,
        &|m| m,
        u64::MAX,
        predict,
        cfg.batch,
    )?;
    let mut sums = super::causal::PairSums::default();
    let key = (a.min(b), a.max(b));
    for s in &values {
        for v in s.pairs.iter().filter(|v| v.key == key) {
            sums.add(s.native, v);
        }
    }
    let t = sums.test(cfg.min_effect_sd, cfg.causal);
    let effect = crate::stats::MeanTest {
        p: t.p,
        ..cfg.causal.effect(&t.epistasis, &t.specific, t.margin)
    };
    Ok((t.band, t.specific, effect))
}

/// Sets each row's `specific_q` and `effect_q` (Benjamini–Hochberg over `rows`) and its
/// verdict.
pub fn decide(rows: &mut [ConcordanceRow], cfg: &ValidateConfig) {
    let p: Vec<f64> = rows.iter().map(|r| r.specific.p).collect();
    for (r, q) in rows.iter_mut().zip(crate::stats::bh(&p)) {
        r.specific_q = q;
    }
    let p: Vec<f64> = rows.iter().map(|r| r.effect.p).collect();
    for (r, q) in rows.iter_mut().zip(crate::stats::bh(&p)) {
        r.effect_q = q;
        r.verdict = Verdict::of(&r.candidate, &r.effect, q, cfg.alpha, cfg.min_epistasis);
    }
}

/// Fewest pairs a correlation is reported over: a rank correlation of 2–4 points is ±1
/// or noise.
pub const MIN_PAIRS_FOR_CORRELATION: usize = 5;

/// Spearman correlation of the table's effect and epistasis over the rows where both
/// are finite (`None` under [`MIN_PAIRS_FOR_CORRELATION`] of them), and their number.
pub fn spearman(rows: &[ConcordanceRow]) -> (Option<f64>, usize) {
    let (x, y): (Vec<f64>, Vec<f64>) = rows
        .iter()
        .map(|r| (r.candidate.effect, r.ablation.epistasis))
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .unzip();
    let rho = crate::stats::spearman(&x, &y);
    let enough = x.len() >= MIN_PAIRS_FOR_CORRELATION && rho.is_finite();
    (enough.then_some(rho), x.len())
}

/// Writes the concordance table, then `#` comment lines with the Spearman correlation
/// and the verdict rule.
pub fn write_concordance_tsv<W: Write>(
    w: &mut W,
    rows: &[ConcordanceRow],
    cfg: &ValidateConfig,
) -> std::io::Result<()> {
    writeln!(w, "{}", crate::io::tables::VALIDATION.header())?;
    for r in rows {
        let c = &r.candidate;
        let a = &r.ablation;
        let (bo, bg, be) = match r.best_spacing {
            Some((o, g, v)) => (o.to_string(), g.to_string(), fmt_num(v)),
            None => ("NA".into(), "NA".into(), "NA".into()),
        };
        let heads: Vec<String> = r
            .masked
            .iter()
            .map(|h| format!("L{}H{}", h.layer, h.head))
            .collect();
        writeln!(
            w,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            c.name_a,
            c.name_b,
            c.rank.map_or("NA".into(), |r| r.to_string()),
            fmt_num(c.effect),
            fmt_pq(c.q_value),
            a.n_seqs,
            fmt_num(a.epistasis),
            fmt_num(a.ci_low),
            fmt_num(a.ci_high),
            fmt_num(a.effect_a),
            fmt_num(a.effect_b),
            bg,
            bo,
            be,
            if heads.is_empty() {
                "NA".into()
            } else {
                heads.join(",")
            },
            fmt_num(r.epistasis_masked),
            fmt_num(r.head_ablation_fraction),
            r.verdict.as_str(),
            r.band.map_or("NA".into(), super::causal::band_name),
            r.specific.n,
            fmt_num(r.specific.mean),
            fmt_num(r.specific.lo),
            fmt_num(r.specific.hi),
            fmt_pq(r.specific.p),
            fmt_pq(r.specific_q),
            cfg.causal.as_str(),
            fmt_num(r.effect.mean),
            fmt_num(r.effect.lo),
            fmt_num(r.effect.hi),
            fmt_pq(r.effect.p),
            fmt_pq(r.effect_q),
        )?;
    }
    let (rho, n) = spearman(rows);
    writeln!(
        w,
        "# spearman(coattention_effect, epistasis) = {} over {n} pairs",
        rho.map_or("NA".into(), fmt_num)
    )?;
    writeln!(
        w,
        "# verdict: attention = best row q_value <= {} and co_attention > background (!= for attn_grad); \
         effect = {} test (t-test over sequences against the margin) BH q <= {} and |effect| >= {}",
        cfg.alpha,
        cfg.causal.describe(),
        cfg.alpha,
        cfg.min_epistasis
    )
}

/// Writes the spacing curves in long format:
/// `motif_a motif_b orientation distance_bp cooperativity mean_ab`.
pub fn write_spacing_tsv<W: Write>(
    w: &mut W,
    curves: &[(&PairCandidate, &SpacingCurve)],
) -> std::io::Result<()> {
    writeln!(w, "{}", crate::io::tables::SPACING.header())?;
    for (c, curve) in curves {
        for p in &curve.points {
            writeln!(
                w,
                "{}\t{}\t{}\t{}\t{}\t{}",
                c.name_a,
                c.name_b,
                p.orientation,
                p.gap,
                fmt_num(p.cooperativity),
                fmt_num(p.mean_ab)
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn motifs() -> Vec<Motif> {
        ["M1", "M2", "M3"]
            .iter()
            .map(|id| Motif {
                id: id.to_string(),
                name: format!("n{id}"),
                probs: vec![[0.25; 4]; 4],
                nsites: 1.0,
                url: None,
            })
            .collect()
    }

    fn write(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    const TABLE: &str = "rank\tmotif_a\tmotif_b\tlayer\thead\teffect\tq_value\n\
        1\tnM1\tnM2\t1\t0\t1.5\t0.001\n\
        2\tnM2\tnM3\t0\t1\t0.5\t0.2\n\
        3\tnM2\tnM1\t0\t0\t1.0\t0.01\n\
        4\tM3\tM3\t0\t0\t0.1\t0.5\n";

    #[test]
    fn reads_distinct_pairs_best_first() {
        let f = write(TABLE);
        let names: Vec<String> = motifs().iter().map(|m| m.name.clone()).collect();
        let c = read_candidates(f.path(), &motifs(), &names, 10, &[]).unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!((c[0].motif_a, c[0].motif_b, c[0].rank), (0, 1, Some(1)));
        assert_eq!(
            c[0].heads,
            vec![HeadId { layer: 1, head: 0 }, HeadId { layer: 0, head: 0 }]
        );
        assert_eq!((c[2].motif_a, c[2].motif_b, c[2].rank), (2, 2, Some(3)));
        let top1 = read_candidates(f.path(), &motifs(), &names, 1, &[]).unwrap();
        assert_eq!(top1.len(), 1);
        assert_eq!(top1[0].heads.len(), 2);
        // pairs asked for: one further down the table, one absent, one already selected
        let more =
            read_candidates(f.path(), &motifs(), &names, 1, &[(2, 1), (0, 2), (1, 0)]).unwrap();
        assert_eq!(more.len(), 3);
        assert_eq!((more[1].rank, more[1].heads.len()), (Some(2), 1));
        assert_eq!((more[2].rank, more[2].name_a.as_str()), (None, "nM1"));
        assert!(more[2].heads.is_empty() && more[2].q_value.is_nan());
        // With the site-matched test's joint_q, that is the attention evidence.
        let joint = TABLE
            .lines()
            .enumerate()
            .map(|(i, l)| format!("{l}\t{}\n", if i == 0 { "joint_q" } else { "0.3" }))
            .collect::<String>();
        let f = write(&joint);
        let c = read_candidates(f.path(), &motifs(), &names, 1, &[]).unwrap();
        assert_eq!(c[0].q_value, 0.3);
    }

    #[test]
    fn bad_tables_name_file_and_line() {
        let names: Vec<String> = motifs().iter().map(|m| m.name.clone()).collect();
        let f = write("motif\tx\n1\t2\n");
        let e = read_candidates(f.path(), &motifs(), &names, 10, &[]).unwrap_err();
        assert!(e.to_string().contains("not an interaction table"), "{e}");
        let f = write(&TABLE.replace("nM3", "Gata9"));
        let e = read_candidates(f.path(), &motifs(), &names, 10, &[]).unwrap_err();
        assert!(
            e.to_string()
                .contains(":3: motif 'Gata9' is not in the motif file"),
            "{e}"
        );
        // an unknown motif below the selected rows is not looked up
        assert!(read_candidates(f.path(), &motifs(), &names, 1, &[]).is_ok());
    }

    #[test]
    fn verdicts_follow_the_rule() {
        let f = write(TABLE);
        let names: Vec<String> = motifs().iter().map(|m| m.name.clone()).collect();
        let c = read_candidates(f.path(), &motifs(), &names, 10, &[]).unwrap();
        let t = |n: u64, mean: f64| crate::stats::MeanTest {
            n,
            mean,
            lo: mean - 0.1,
            hi: mean + 0.1,
            p: 0.01,
        };
        let (yes, no) = (0.01, 0.2);
        assert_eq!(
            Verdict::of(&c[0], &t(5, 0.2), yes, 0.05, 0.0),
            Verdict::Confirmed
        );
        assert_eq!(
            Verdict::of(&c[0], &t(5, 0.2), no, 0.05, 0.0),
            Verdict::AttentionOnly
        );
        assert_eq!(
            Verdict::of(&c[1], &t(5, -0.2), yes, 0.05, 0.0),
            Verdict::EffectOnly
        );
        assert_eq!(
            Verdict::of(&c[1], &t(5, 0.2), no, 0.05, 0.0),
            Verdict::Neither
        );
        assert_eq!(
            Verdict::of(&c[0], &t(0, f64::NAN), 1.0, 0.05, 0.0),
            Verdict::Untested
        );
        // too small an effect does not count
        assert_eq!(
            Verdict::of(&c[0], &t(5, 0.2), yes, 0.05, 0.5),
            Verdict::AttentionOnly
        );
    }

    /// An attention × gradient row with a negative background has no log-ratio effect
    /// (`NA`), but its link is real: the verdict reads co_attention − background.
    #[test]
    fn attention_evidence_needs_no_log_ratio() {
        let table = "rank\tmotif_a\tmotif_b\tlayer\thead\tco_attention\tbackground\teffect\tq_value\tscore\n\
            1\tnM1\tnM2\t0\t1\t3.6e-3\t-2.8e-5\tNA\t1e-10\tattn_grad\n\
            2\tnM2\tnM3\t0\t1\t-4e-4\t2e-5\tNA\t1e-10\tattn_grad\n\
            3\tnM1\tnM3\t0\t1\t1e-4\t2e-4\t-1.0\t1e-10\tattention\n";
        let f = write(table);
        let names: Vec<String> = motifs().iter().map(|m| m.name.clone()).collect();
        let c = read_candidates(f.path(), &motifs(), &names, 10, &[]).unwrap();
        let sig = crate::stats::MeanTest {
            n: 5,
            mean: 0.5,
            lo: 0.4,
            hi: 0.6,
            p: 0.01,
        };
        let v = |i: usize| Verdict::of(&c[i], &sig, 0.01, 0.05, 0.0);
        assert!(c[0].effect.is_nan());
        assert_eq!(v(0), Verdict::Confirmed);
        // attention x gradient links either way; attention only above its null
        assert_eq!(v(1), Verdict::Confirmed);
        assert_eq!(v(2), Verdict::EffectOnly);
    }
}
