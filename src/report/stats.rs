//! The few summary statistics the report prints next to its plots.

/// Pearson correlation; `None` for fewer than two points or a constant input.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len().min(y.len());
    if n < 2 {
        return None;
    }
    let mx = x[..n].iter().sum::<f64>() / n as f64;
    let my = y[..n].iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let (dx, dy) = (x[i] - mx, y[i] - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx == 0.0 || syy == 0.0 {
        return None;
    }
    Some(sxy / (sxx * syy).sqrt())
}

/// Ranks with ties sharing their average rank (1-based).
pub fn ranks(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut out = vec![0.0; x.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && x[idx[j + 1]] == x[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            out[k] = avg;
        }
        i = j + 1;
    }
    out
}

/// Spearman rank correlation (Pearson on average ranks).
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    pearson(&ranks(x), &ranks(y))
}

/// Coefficient of determination of predictions `pred` for observations `obs`.
pub fn r2(pred: &[f64], obs: &[f64]) -> Option<f64> {
    let n = obs.len().min(pred.len());
    if n < 2 {
        return None;
    }
    let m = obs[..n].iter().sum::<f64>() / n as f64;
    let ss_tot: f64 = obs[..n].iter().map(|o| (o - m).powi(2)).sum();
    let ss_res: f64 = (0..n).map(|i| (obs[i] - pred[i]).powi(2)).sum();
    (ss_tot > 0.0).then(|| 1.0 - ss_res / ss_tot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlations() {
        let x = [1.0, 2.0, 3.0, 4.0];
        let y = [2.0, 4.0, 6.0, 8.5];
        assert!((pearson(&x, &y).unwrap() - 0.9986).abs() < 1e-3);
        assert_eq!(spearman(&x, &y), Some(1.0));
        assert_eq!(ranks(&[3.0, 1.0, 3.0]), vec![2.5, 1.0, 2.5]);
        assert_eq!(pearson(&x, &[1.0; 4]), None);
        assert_eq!(r2(&x, &x), Some(1.0));
    }
}
