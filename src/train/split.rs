//! Train/validation/test splits: seeded random, by chromosome, or from a `set` column.
//!
//! Indices in every part are ascending (input order), so outputs that follow a
//! split stay in input order.
use std::collections::HashSet;

use rand::{SeedableRng, seq::SliceRandom};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Which part of a split a sequence belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Set {
    /// Used to fit parameters.
    Train,
    /// Used to choose hyperparameters and to stop early.
    Val,
    /// Held out until the end.
    Test,
}

impl Set {
    /// Reads the names used in `set` columns (mavenn's `training`/`validation`/`test`,
    /// and the short forms `train`/`val`/`valid`), case-insensitively.
    ///
    /// ```
    /// use cisformer::train::split::Set;
    /// assert_eq!(Set::parse("Validation"), Some(Set::Val));
    /// assert_eq!(Set::parse("dev"), None);
    /// ```
    pub fn parse(s: &str) -> Option<Set> {
        match s.to_ascii_lowercase().as_str() {
            "training" | "train" => Some(Set::Train),
            "validation" | "val" | "valid" => Some(Set::Val),
            "test" | "testing" => Some(Set::Test),
            _ => None,
        }
    }

    /// The long name, as written in `set` columns.
    pub fn as_str(self) -> &'static str {
        match self {
            Set::Train => "training",
            Set::Val => "validation",
            Set::Test => "test",
        }
    }
}

/// Row indices of each part.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    /// Training rows, ascending.
    pub train: Vec<usize>,
    /// Validation rows, ascending.
    pub val: Vec<usize>,
    /// Test rows, ascending.
    pub test: Vec<usize>,
}

impl Split {
    /// The split a `set` column describes.
    pub fn from_sets(sets: &[Set]) -> Split {
        let mut s = Split::default();
        for (i, &set) in sets.iter().enumerate() {
            s.part_mut(set).push(i);
        }
        s
    }

    /// Holds out whole chromosomes: rows on `val_chroms` go to validation, on
    /// `test_chroms` to test, the rest to training. A chromosome in both lists, or
    /// one that no row is on, is an error (a typo would otherwise leak test data).
    ///
    /// ```
    /// use cisformer::train::split::Split;
    /// let chroms = ["chr1", "chr2", "chr1", "chr3"].map(String::from);
    /// let s = Split::by_chromosome(&chroms, &["chr2".into()], &["chr3".into()]).unwrap();
    /// assert_eq!((s.train, s.val, s.test), (vec![0, 2], vec![1], vec![3]));
    /// ```
    pub fn by_chromosome(
        chroms: &[String],
        val_chroms: &[String],
        test_chroms: &[String],
    ) -> Result<Split> {
        let val: HashSet<&str> = val_chroms.iter().map(String::as_str).collect();
        let test: HashSet<&str> = test_chroms.iter().map(String::as_str).collect();
        if let Some(c) = val.intersection(&test).next() {
            return Err(Error::Invalid(format!(
                "chromosome '{c}' is both a validation and a test chromosome"
            )));
        }
        let present: HashSet<&str> = chroms.iter().map(String::as_str).collect();
        if let Some(c) = val_chroms
            .iter()
            .chain(test_chroms)
            .find(|c| !present.contains(c.as_str()))
        {
            return Err(Error::Invalid(format!(
                "held-out chromosome '{c}' has no regions in the input"
            )));
        }
        let mut s = Split::default();
        for (i, c) in chroms.iter().enumerate() {
            let set = if val.contains(c.as_str()) {
                Set::Val
            } else if test.contains(c.as_str()) {
                Set::Test
            } else {
                Set::Train
            };
            s.part_mut(set).push(i);
        }
        Ok(s)
    }

    /// The rows of one part.
    pub fn part(&self, set: Set) -> &[usize] {
        match set {
            Set::Train => &self.train,
            Set::Val => &self.val,
            Set::Test => &self.test,
        }
    }

    fn part_mut(&mut self, set: Set) -> &mut Vec<usize> {
        match set {
            Set::Train => &mut self.train,
            Set::Val => &mut self.val,
            Set::Test => &mut self.test,
        }
    }

    /// The part each of `n` rows is in (`None` for rows in no part).
    pub fn assignment(&self, n: usize) -> Vec<Option<Set>> {
        let mut out = vec![None; n];
        for set in [Set::Train, Set::Val, Set::Test] {
            for &i in self.part(set) {
                if i < n {
                    out[i] = Some(set);
                }
            }
        }
        out
    }

    /// Errors unless training and validation both have rows (what fitting needs).
    pub fn check_usable(&self) -> Result<()> {
        if self.train.is_empty() {
            return Err(Error::Invalid("the training split is empty".into()));
        }
        if self.val.is_empty() {
            return Err(Error::Invalid(
                "the validation split is empty (needed to choose hyperparameters and stop early)"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// A seeded random split of `n` rows with `fractions = [train, val, test]`
/// (non-negative, summing to 1). Part sizes are `round(n * val)` and
/// `round(n * test)`, training gets the rest; the same seed gives the same split.
///
/// ```
/// use cisformer::train::split::random_split;
/// let s = random_split(10, [0.8, 0.1, 0.1], 7).unwrap();
/// assert_eq!((s.train.len(), s.val.len(), s.test.len()), (8, 1, 1));
/// assert_eq!(s, random_split(10, [0.8, 0.1, 0.1], 7).unwrap());
/// ```
pub fn random_split(n: usize, fractions: [f64; 3], seed: u64) -> Result<Split> {
    if fractions.iter().any(|f| !f.is_finite() || *f < 0.0)
        || (fractions.iter().sum::<f64>() - 1.0).abs() > 1e-6
    {
        return Err(Error::Invalid(format!(
            "split fractions must be non-negative and sum to 1, got {}/{}/{}",
            fractions[0], fractions[1], fractions[2]
        )));
    }
    let n_val = (n as f64 * fractions[1]).round() as usize;
    let n_test = ((n as f64 * fractions[2]).round() as usize).min(n - n_val.min(n));
    let n_val = n_val.min(n);
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    order.shuffle(&mut rng);
    let mut s = Split {
        val: order[..n_val].to_vec(),
        test: order[n_val..n_val + n_test].to_vec(),
        train: order[n_val + n_test..].to_vec(),
    };
    s.train.sort_unstable();
    s.val.sort_unstable();
    s.test.sort_unstable();
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_split_partitions_and_depends_on_seed() {
        let s = random_split(1000, [0.7, 0.2, 0.1], 3).unwrap();
        assert_eq!((s.train.len(), s.val.len(), s.test.len()), (700, 200, 100));
        let mut all: Vec<usize> = [&s.train[..], &s.val, &s.test].concat();
        all.sort_unstable();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
        assert_ne!(s, random_split(1000, [0.7, 0.2, 0.1], 4).unwrap());
        assert!(random_split(10, [0.5, 0.5, 0.5], 1).is_err());
        assert!(random_split(10, [1.2, -0.1, -0.1], 1).is_err());
        let tiny = random_split(1, [0.0, 0.6, 0.6], 1);
        assert!(tiny.is_err());
        let one = random_split(1, [0.0, 0.5, 0.5], 1).unwrap();
        assert_eq!(one.val.len() + one.test.len() + one.train.len(), 1);
    }

    #[test]
    fn chromosome_split_errors() {
        let chroms = ["a", "b"].map(String::from);
        assert!(Split::by_chromosome(&chroms, &["a".into()], &["a".into()]).is_err());
        let e = Split::by_chromosome(&chroms, &["z".into()], &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("'z' has no regions"), "{e}");
    }

    #[test]
    fn from_sets_and_assignment() {
        let s = Split::from_sets(&[Set::Test, Set::Train, Set::Val, Set::Train]);
        assert_eq!(
            (s.train.clone(), s.val.clone(), s.test.clone()),
            (vec![1, 3], vec![2], vec![0])
        );
        assert_eq!(s.assignment(4)[0], Some(Set::Test));
        assert!(s.check_usable().is_ok());
        assert!(Split::default().check_usable().is_err());
    }
}
