//! Small robust statistics shared by the evidence modules: median, median absolute
//! deviation, quantiles and Pearson correlation over plain `f64` slices.
//!
//! Every function ignores nothing and assumes nothing about order; callers drop missing
//! values before calling. Empty input yields `None` rather than a NaN.

/// Consistency constant turning a median absolute deviation into a standard deviation
/// under normality.
pub(crate) const MAD_TO_SIGMA: f64 = 1.4826;

/// Consistency constant turning a mean absolute deviation into a standard deviation under
/// normality (√(π/2)).
pub(crate) const MEAN_ABS_TO_SIGMA: f64 = 1.2533;

/// Median of `values`, `None` when empty.
pub(crate) fn median(values: &[f64]) -> Option<f64> {
    quantile(values, 0.5)
}

/// Linear-interpolation quantile (`q` in 0..=1), `None` when empty.
pub(crate) fn quantile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let position = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let low = position.floor() as usize;
    let high = position.ceil() as usize;
    let fraction = position - low as f64;
    Some(sorted[low] + (sorted[high] - sorted[low]) * fraction)
}

/// Median absolute deviation from the median, `None` when empty.
pub(crate) fn mad(values: &[f64]) -> Option<f64> {
    let centre = median(values)?;
    let deviations: Vec<f64> = values.iter().map(|v| (v - centre).abs()).collect();
    median(&deviations)
}

/// Pearson correlation of two equally long series; `None` when shorter than two points
/// or when either series is constant.
pub(crate) fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() || x.len() < 2 {
        return None;
    }
    let n = x.len() as f64;
    let mean_x = x.iter().sum::<f64>() / n;
    let mean_y = y.iter().sum::<f64>() / n;
    let mut covariance = 0.0;
    let mut var_x = 0.0;
    let mut var_y = 0.0;
    for (a, b) in x.iter().zip(y) {
        covariance += (a - mean_x) * (b - mean_y);
        var_x += (a - mean_x).powi(2);
        var_y += (b - mean_y).powi(2);
    }
    if var_x <= 0.0 || var_y <= 0.0 {
        return None;
    }
    Some(covariance / (var_x.sqrt() * var_y.sqrt()))
}

/// Maps a non-negative departure score (a robust z) to an anomaly degree in `[0, 1)`:
/// `z² / (z² + half²)`, so `z = half` gives 0.5. Negative and NaN scores give 0.
pub(crate) fn anomaly_degree(z: f64, half: f64) -> f64 {
    if z.is_nan() || z <= 0.0 {
        return 0.0;
    }
    let z2 = z * z;
    z2 / (z2 + half * half)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_even_count_interpolates_the_middle_pair() {
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn mad_ignores_a_single_outlier() {
        // median 3, deviations 2 1 0 1 97 -> median 1.
        assert_eq!(mad(&[1.0, 2.0, 3.0, 4.0, 100.0]), Some(1.0));
    }

    #[test]
    fn pearson_is_none_for_constant_series_and_one_for_a_line() {
        assert_eq!(pearson(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
        let r = pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]).unwrap_or(0.0);
        assert!((r - 1.0).abs() < 1e-12);
    }

    #[test]
    fn anomaly_degree_is_one_half_at_the_half_point() {
        assert!((anomaly_degree(3.0, 3.0) - 0.5).abs() < 1e-12);
        assert_eq!(anomaly_degree(-2.0, 3.0), 0.0);
        assert_eq!(anomaly_degree(f64::NAN, 3.0), 0.0);
    }
}
