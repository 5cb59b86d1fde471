//! The significance test `harness advise` decides with: the two-sided Mann-Whitney U test
//! (Wilcoxon rank-sum) of two samples, with the Hodges-Lehmann shift as the size of the
//! difference, and the normal distribution it needs (`erfc`, the quantile) for the
//! approximation and for power estimates.
//!
//! Why this test: runs of a strategy are few (3 to 10), their values are counts and
//! durations that are neither normal nor of equal variance, and often constant (`lost` is 0
//! in every run). A rank test assumes none of that.
//!
//! The p-value is exact (the U distribution counted by dynamic programming) when both
//! samples have at most [`EXACT_MAX`] values and no value occurs twice in the pooled data;
//! otherwise it is the normal approximation with the tie correction and the continuity
//! correction, as `scipy.stats.mannwhitneyu(x, y, alternative="two-sided")` computes it
//! with `method="exact"` and `method="asymptotic"` respectively. When every value of both
//! samples is the same, p = 1.
//!
//! ```
//! use reports::stats::{mann_whitney_u, Method};
//! let t = mann_whitney_u(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]).unwrap();
//! assert_eq!((t.u_x, t.method), (0.0, Method::Exact));
//! assert!((t.p_value - 0.1).abs() < 1e-12);
//! ```

use serde::{Deserialize, Serialize};

/// The largest sample for which the p-value is exact (with no ties).
pub const EXACT_MAX: usize = 20;

/// How a p-value was computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// From the exact distribution of U (both samples at most [`EXACT_MAX`], no ties).
    Exact,
    /// The normal approximation with tie and continuity corrections.
    Normal,
}

/// The result of one two-sided Mann-Whitney U test of `x` against `y`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MannWhitney {
    pub n_x: usize,
    pub n_y: usize,
    /// U of `x`: the pairs `(x_i, y_j)` with `x_i > y_j`, ties counting one half.
    pub u_x: f64,
    /// U of `y`: `n_x * n_y - u_x`.
    pub u_y: f64,
    /// The two-sided p-value, in `[0, 1]`.
    pub p_value: f64,
    pub method: Method,
    /// The Hodges-Lehmann estimate of the shift of `x` against `y`: the median of every
    /// difference `x_i - y_j`, in the samples' unit. Negative when `x` tends to be smaller.
    pub shift: f64,
    /// The median of `x` minus the median of `y`, in the samples' unit.
    pub median_difference: f64,
}

impl MannWhitney {
    /// -1 when `x` tends to be smaller than `y` (`u_x` below its mean `n_x * n_y / 2`), 1
    /// when larger, 0 when neither.
    pub fn direction(&self) -> i8 {
        let mean = (self.n_x * self.n_y) as f64 / 2.0;
        if self.u_x < mean {
            -1
        } else if self.u_x > mean {
            1
        } else {
            0
        }
    }
}

/// Why a test could not be made.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum StatsError {
    #[error("a sample is empty")]
    Empty,
    #[error("a sample holds a value that is not a finite number ({0})")]
    NotFinite(f64),
}

/// The two-sided Mann-Whitney U test of `x` against `y` (see the module's documentation).
pub fn mann_whitney_u(x: &[f64], y: &[f64]) -> Result<MannWhitney, StatsError> {
    if x.is_empty() || y.is_empty() {
        return Err(StatsError::Empty);
    }
    if let Some(bad) = x.iter().chain(y).find(|v| !v.is_finite()) {
        return Err(StatsError::NotFinite(*bad));
    }
    let (n_x, n_y) = (x.len(), y.len());
    // Pool, sort, and give each run of equal values its average rank (1-based).
    let mut pooled: Vec<(f64, bool)> = x
        .iter()
        .map(|v| (*v, true))
        .chain(y.iter().map(|v| (*v, false)))
        .collect();
    pooled.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = pooled.len();
    let mut rank_sum_x = 0.0;
    // Sum over each run of t tied values of t^3 - t.
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && pooled[j + 1].0 == pooled[i].0 {
            j += 1;
        }
        let t = (j - i + 1) as f64;
        let rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum_x += rank * pooled[i..=j].iter().filter(|p| p.1).count() as f64;
        tie_term += t * t * t - t;
        i = j + 1;
    }
    let u_x = rank_sum_x - (n_x * (n_x + 1)) as f64 / 2.0;
    let product = (n_x * n_y) as f64;
    let u_y = product - u_x;
    let big_u = u_x.max(u_y);
    let (p_value, method) = if n_x <= EXACT_MAX && n_y <= EXACT_MAX && tie_term == 0.0 {
        // With no ties U is an integer; P(U >= big_u) doubled.
        let counts = u_distribution(n_x, n_y);
        let total: f64 = counts.iter().sum();
        let upper: f64 = counts[big_u.round() as usize..].iter().sum();
        ((2.0 * upper / total).min(1.0), Method::Exact)
    } else {
        let nf = n as f64;
        let variance = product / 12.0 * ((nf + 1.0) - tie_term / (nf * (nf - 1.0)));
        let p = if variance <= 0.0 {
            // Every value the same: nothing to tell the samples apart.
            1.0
        } else {
            let z = (big_u - product / 2.0 - 0.5) / variance.sqrt();
            (2.0 * normal_sf(z)).clamp(0.0, 1.0)
        };
        (p, Method::Normal)
    };
    let mut differences: Vec<f64> = x
        .iter()
        .flat_map(|a| y.iter().map(move |b| a - b))
        .collect();
    let mut xs = x.to_vec();
    let mut ys = y.to_vec();
    Ok(MannWhitney {
        n_x,
        n_y,
        u_x,
        u_y,
        p_value,
        method,
        shift: median(&mut differences),
        median_difference: median(&mut xs) - median(&mut ys),
    })
}

/// The median of a non-empty sample (the mean of the middle two for an even count).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// The number of arrangements of `m` x-values and `n` y-values (all distinct) with each
/// value of U, `0..=m*n`, as floats (at most C(40, 20) ~ 1.4e11, exact in an f64).
///
/// With the largest of the `i + j` values an x, it exceeds all `j` y-values:
/// `f(i, j, u) = f(i - 1, j, u - j) + f(i, j - 1, u)`, `f(0, j, 0) = f(i, 0, 0) = 1`.
fn u_distribution(m: usize, n: usize) -> Vec<f64> {
    // table[i][j] is the distribution for i x-values and j y-values.
    let mut table: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); n + 1]; m + 1];
    for i in 0..=m {
        for j in 0..=n {
            let mut f = vec![0.0; i * j + 1];
            if i == 0 || j == 0 {
                f[0] = 1.0;
            } else {
                for (u, c) in table[i - 1][j].iter().enumerate() {
                    f[u + j] += c;
                }
                for (u, c) in table[i][j - 1].iter().enumerate() {
                    f[u] += c;
                }
            }
            table[i][j] = f;
        }
    }
    std::mem::take(&mut table[m][n])
}

/// The smallest two-sided p-value the exact test can give with `m` and `n` values: both
/// samples entirely apart, `2 / C(m + n, m)` (at most 1).
pub fn smallest_exact_p(m: usize, n: usize) -> f64 {
    let mut ways = 1.0f64;
    for k in 1..=m {
        ways = ways * (n + k) as f64 / k as f64;
    }
    (2.0 / ways).min(1.0)
}

/// The complementary error function, `erfc(x) = 1 - erf(x)`, to a relative error of about
/// 1e-12: the series `erf(x) = 2/sqrt(pi) exp(-x^2) sum (2x^2)^k x / (1*3*...*(2k+1))`
/// below 2.5, the continued fraction `erfc(x) = exp(-x^2)/sqrt(pi) / (x + (1/2)/(x +
/// 1/(x + (3/2)/(x + ...))))` from 2.5, and `erfc(-x) = 2 - erfc(x)`.
pub fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    const FRAC_1_SQRT_PI: f64 = 0.564_189_583_547_756_3;
    if x < 2.5 {
        let (mut term, mut sum) = (x, x);
        let mut k = 0.0;
        loop {
            k += 1.0;
            term *= 2.0 * x * x / (2.0 * k + 1.0);
            sum += term;
            if term <= 1e-17 * sum {
                break;
            }
        }
        1.0 - 2.0 * FRAC_1_SQRT_PI * (-x * x).exp() * sum
    } else {
        let mut f = x;
        for k in (1..=120).rev() {
            f = x + (k as f64 / 2.0) / f;
        }
        (-x * x).exp() * FRAC_1_SQRT_PI / f
    }
}

/// The standard normal CDF, `P(Z <= z)`.
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// The standard normal upper tail, `P(Z > z)`, accurate far into the tail.
pub fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// The standard normal quantile: the `z` with `P(Z <= z) = p`, for `0 < p < 1` (NaN
/// otherwise), by bisection of [`normal_cdf`] (or of [`normal_sf`] above the median, for
/// precision in the upper tail).
pub fn normal_quantile(p: f64) -> f64 {
    if !(p > 0.0 && p < 1.0) {
        return f64::NAN;
    }
    let (mut lo, mut hi) = (-40.0f64, 40.0f64);
    for _ in 0..200 {
        let mid = (lo + hi) / 2.0;
        let below = if p < 0.5 {
            normal_cdf(mid) < p
        } else {
            normal_sf(mid) > 1.0 - p
        };
        if below {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo + hi) / 2.0
}

/// The runs of each of two samples a two-sided test at `alpha` would need to detect a
/// difference of means `difference` with 80% power, if the difference were real, by the
/// normal approximation `n = 2 (z_{1-alpha/2} + z_{0.8})^2 s^2 / d^2`, rounded up; `None`
/// when `pooled_sd` is 0 (the formula gives no size) or `difference` is 0 (nothing to
/// detect). Saturates at `u64::MAX`.
pub fn runs_for_power(alpha: f64, pooled_sd: f64, difference: f64) -> Option<u64> {
    if pooled_sd <= 0.0 || difference == 0.0 || !pooled_sd.is_finite() {
        return None;
    }
    let z = normal_quantile(1.0 - alpha / 2.0) + normal_quantile(0.8);
    let n = 2.0 * z * z * pooled_sd * pooled_sd / (difference * difference);
    Some(n.ceil() as u64)
}

/// The pooled standard deviation of two samples with sample SDs `sd_x`, `sd_y` (divisor
/// `n - 1`): `sqrt(((n_x - 1) sd_x^2 + (n_y - 1) sd_y^2) / (n_x + n_y - 2))`, 0 when there
/// are fewer than 3 values in all.
pub fn pooled_sd(n_x: usize, sd_x: f64, n_y: usize, sd_y: f64) -> f64 {
    if n_x + n_y < 3 {
        return 0.0;
    }
    let (a, b) = (n_x.saturating_sub(1) as f64, n_y.saturating_sub(1) as f64);
    ((a * sd_x * sd_x + b * sd_y * sd_y) / (a + b)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(1e-300)
    }

    // Every expected value below comes from SciPy 1.17.1:
    //   from scipy.stats import mannwhitneyu
    //   r = mannwhitneyu(x, y, alternative="two-sided", method=METHOD)
    //   r.statistic (U of x), r.pvalue

    #[test]
    fn exact_p_values_match_scipy() {
        for (x, y, u, p) in [
            // mannwhitneyu([1,2,3], [4,5,6], alternative="two-sided", method="exact")
            (vec![1.0, 2.0, 3.0], vec![4.0, 5.0, 6.0], 0.0, 0.1),
            // mannwhitneyu([1.1,2.3,0.5,4.2,3.3], [5.5,6.1,2.9,7.7,8.0], ..., method="exact")
            (
                vec![1.1, 2.3, 0.5, 4.2, 3.3],
                vec![5.5, 6.1, 2.9, 7.7, 8.0],
                2.0,
                0.031746031746031744,
            ),
            // mannwhitneyu([12.0,15.5,9.1,20.2,11.7,14.3,18.8],
            //   [16.1,22.4,19.9,25.0,13.2,21.7,24.3,17.6,23.5], ..., method="exact")
            (
                vec![12.0, 15.5, 9.1, 20.2, 11.7, 14.3, 18.8],
                vec![16.1, 22.4, 19.9, 25.0, 13.2, 21.7, 24.3, 17.6, 23.5],
                9.0,
                0.016433566433566436,
            ),
            // mannwhitneyu([30,31,29,35], [1,2,3,4,5,40], ..., method="exact")
            (
                vec![30.0, 31.0, 29.0, 35.0],
                vec![1.0, 2.0, 3.0, 4.0, 5.0, 40.0],
                20.0,
                0.11428571428571428,
            ),
            // a = [i*1.5 for i in range(20)]; b = [i*1.5 + 7.25 for i in range(20)]
            // mannwhitneyu(a, b, alternative="two-sided", method="exact")
            (
                (0..20).map(|i| i as f64 * 1.5).collect(),
                (0..20).map(|i| i as f64 * 1.5 + 7.25).collect(),
                120.0,
                0.030411256038764864,
            ),
        ] {
            let t = mann_whitney_u(&x, &y).unwrap();
            assert_eq!(t.method, Method::Exact, "{x:?} {y:?}");
            assert_eq!(t.u_x, u, "{x:?} {y:?}");
            assert!(
                close(t.p_value, p, 1e-9),
                "{x:?} {y:?}: {} vs {p}",
                t.p_value
            );
            // The test is symmetric: swapping the samples swaps U and keeps p.
            let back = mann_whitney_u(&y, &x).unwrap();
            assert_eq!((back.u_x, back.u_y), (t.u_y, t.u_x));
            assert!(close(back.p_value, p, 1e-9));
            assert_eq!(back.direction(), -t.direction());
        }
    }

    #[test]
    fn ties_use_the_corrected_normal_approximation_like_scipy() {
        for (x, y, u, p) in [
            // mannwhitneyu([0,0,1,2], [1,2,2,3,3], alternative="two-sided",
            //   method="asymptotic")
            (
                vec![0.0, 0.0, 1.0, 2.0],
                vec![1.0, 2.0, 2.0, 3.0, 3.0],
                2.5,
                0.07723605293697135,
            ),
            // mannwhitneyu([0,0,0,0,0], [2,2,3,2,2], alternative="two-sided",
            //   method="asymptotic"): lost items, never lost against often lost
            (
                vec![0.0; 5],
                vec![2.0, 2.0, 3.0, 2.0, 2.0],
                0.0,
                0.005583616806378765,
            ),
        ] {
            let t = mann_whitney_u(&x, &y).unwrap();
            assert_eq!((t.method, t.u_x), (Method::Normal, u), "{x:?}");
            assert!(close(t.p_value, p, 1e-9), "{x:?}: {} vs {p}", t.p_value);
        }
    }

    #[test]
    fn a_large_sample_uses_the_normal_approximation_like_scipy() {
        // rng = numpy.random.default_rng(7)
        // x = numpy.round(rng.normal(100, 15, 30)); y = numpy.round(rng.normal(110, 15, 25))
        // mannwhitneyu(x, y, alternative="two-sided", method="asymptotic")
        let x = [
            100.0, 104.0, 96.0, 87.0, 93.0, 85.0, 101.0, 120.0, 93.0, 91.0, 107.0, 105.0, 102.0,
            86.0, 100.0, 110.0, 80.0, 93.0, 71.0, 81.0, 72.0, 96.0, 81.0, 104.0, 102.0, 97.0, 62.0,
            92.0, 99.0, 102.0,
        ];
        let y = [
            87.0, 103.0, 95.0, 98.0, 126.0, 98.0, 110.0, 123.0, 101.0, 108.0, 112.0, 111.0, 92.0,
            111.0, 130.0, 87.0, 123.0, 112.0, 100.0, 140.0, 121.0, 92.0, 111.0, 119.0, 107.0,
        ];
        let t = mann_whitney_u(&x, &y).unwrap();
        assert_eq!((t.method, t.u_x), (Method::Normal, 162.5));
        assert!(
            close(t.p_value, 0.00033631833682348246, 1e-9),
            "{}",
            t.p_value
        );
        assert_eq!(t.direction(), -1);
    }

    #[test]
    fn identical_samples_give_p_one_and_no_shift() {
        let t = mann_whitney_u(&[0.0; 5], &[0.0; 5]).unwrap();
        assert_eq!((t.p_value, t.shift, t.median_difference), (1.0, 0.0, 0.0));
        assert_eq!(t.direction(), 0);
        let t = mann_whitney_u(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]).unwrap();
        assert_eq!(t.p_value, 1.0);
        assert_eq!(mann_whitney_u(&[], &[1.0]), Err(StatsError::Empty));
        assert!(matches!(
            mann_whitney_u(&[f64::NAN], &[1.0]),
            Err(StatsError::NotFinite(_))
        ));
    }

    #[test]
    fn the_shift_is_the_hodges_lehmann_median_of_differences() {
        // Differences of [1, 2, 9] - [0, 4]: 1, -3, 2, -2, 9, 5: median (1 + 2) / 2 = 1.5.
        let t = mann_whitney_u(&[1.0, 2.0, 9.0], &[0.0, 4.0]).unwrap();
        assert_eq!(t.shift, 1.5);
        assert_eq!(t.median_difference, 2.0 - 2.0);
    }

    #[test]
    fn the_exact_distribution_sums_to_the_arrangements() {
        // C(40, 20) = 137846528820 arrangements of 20 and 20 values.
        let f = u_distribution(20, 20);
        assert_eq!(f.len(), 401);
        assert_eq!(f.iter().sum::<f64>(), 137_846_528_820.0);
        assert_eq!(f, f.iter().rev().copied().collect::<Vec<_>>(), "symmetric");
        assert_eq!(u_distribution(2, 2), vec![1.0, 1.0, 2.0, 1.0, 1.0]);
        assert!(close(smallest_exact_p(3, 3), 0.1, 1e-12));
        assert!(close(smallest_exact_p(4, 4), 2.0 / 70.0, 1e-12));
        assert_eq!(smallest_exact_p(1, 1), 1.0);
    }

    #[test]
    fn erfc_matches_scipy() {
        // scipy.special.erfc(x)
        for (x, want) in [
            (0.0, 1.0),
            (0.1, 0.8875370839817152),
            (0.5, 0.4795001221869535),
            (1.0, 0.15729920705028516),
            (1.5, 0.03389485352468927),
            (2.0, 0.004677734981047266),
            (2.5, 0.00040695201744495886),
            (3.0, 2.2090496998585445e-05),
            (4.0, 1.541725790028002e-08),
            (5.5, 7.357847917974398e-15),
            (8.0, 1.1224297172982928e-29),
            (12.0, 1.3562611692059047e-64),
            (26.0, 5.663192408856145e-296),
            (-0.7, 1.6778011938374182),
            (-2.3, 1.9988568234026434),
        ] {
            assert!(
                close(erfc(x), want, 1e-10),
                "erfc({x}) = {} vs {want}",
                erfc(x)
            );
        }
        assert!(erfc(f64::NAN).is_nan());
    }

    #[test]
    fn normal_quantiles_match_scipy() {
        // scipy.stats.norm.ppf(p)
        for (p, want) in [
            (0.975, 1.959963984540054),
            (0.8, 0.8416212335729143),
            (0.995, 2.5758293035489004),
            (0.025, -1.9599639845400545),
            (1e-6, -4.753424308822899),
        ] {
            assert!((normal_quantile(p) - want).abs() < 1e-9, "{p}");
        }
        assert!(normal_quantile(0.5).abs() < 1e-12);
        assert!(normal_quantile(0.0).is_nan() && normal_quantile(1.0).is_nan());
    }

    #[test]
    fn power_needs_more_runs_for_smaller_differences() {
        // 2 (1.959964 + 0.841621)^2 = 15.6978; with s = 1, d = 1: 16 runs each.
        assert_eq!(runs_for_power(0.05, 1.0, 1.0), Some(16));
        assert_eq!(runs_for_power(0.05, 1.0, 0.5), Some(63));
        assert_eq!(runs_for_power(0.05, 1.0, -2.0), Some(4));
        assert_eq!(runs_for_power(0.05, 0.0, 1.0), None);
        assert_eq!(runs_for_power(0.05, 1.0, 0.0), None);
        assert_eq!(pooled_sd(3, 1.0, 3, 3.0), 5.0f64.sqrt());
        assert_eq!(pooled_sd(1, 0.0, 1, 0.0), 0.0);
    }
}
