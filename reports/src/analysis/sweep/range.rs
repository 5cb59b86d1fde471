//! The advice across a sweep: at each point, the strategy [`crate::advice`] recommends
//! over that point's runs (a comparison of its own); then whether one strategy is
//! recommended at every point (the advice *holds*) or where the recommendation changes
//! (it *flips*): between two neighbouring values of one key, the others held.

use serde::{Deserialize, Serialize};

use super::model::{Manifest, SweepRun};
use crate::analysis::advice::{advise, Advice, AdviceError, AdviceOptions, RunData};

/// The schema of the advice across a sweep, as `sweep-advice.json` holds it.
pub const RANGE_ADVICE_SCHEMA: &str = "update-harness/sweep-advice/1";

/// The recommendation at one point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PointAdvice {
    /// The point's label (its directory).
    pub point: String,
    /// `None` when every strategy is disqualified there, or nothing valid was measured.
    pub recommendation: Option<String>,
    /// False when the recommendation was picked by the tie-break among strategies the
    /// data do not separate.
    pub significant: bool,
    /// Valid runs at the point, in the cases weighed.
    pub valid_runs: usize,
}

/// A change of the recommendation between neighbouring values of one key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Flip {
    /// The key whose value changes.
    pub key: String,
    /// Its value before and after, in axis order (by value when numeric).
    pub from_value: String,
    pub to_value: String,
    /// The recommendation before and after (`None`: no recommendation).
    pub from: Option<String>,
    pub to: Option<String>,
    /// The other keys, at the values they are held at: `(key, value)`.
    pub others: Vec<(String, String)>,
    /// Whether the recommendations on both sides (where there is one) were decided by the
    /// data, not by the tie-break: a flip between picks the data did not separate may be
    /// noise.
    pub significant: bool,
}

/// The advice across a sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RangeAdvice {
    /// [`RANGE_ADVICE_SCHEMA`].
    pub schema: String,
    /// `--priority` as given.
    pub priority: String,
    /// Each point's recommendation, in grid order.
    pub points: Vec<PointAdvice>,
    /// The strategy recommended at every point, when one is.
    pub holds: Option<String>,
    /// Every change between neighbouring points, key by key.
    pub flips: Vec<Flip>,
    /// Each point's whole advice, in grid order (written beside the point's runs).
    #[serde(skip)]
    pub advice: Vec<Advice>,
}

/// The advice at every point, and whether it holds or flips. A point without runs is
/// advised on as a comparison without runs: no recommendation.
pub fn range(
    manifest: &Manifest,
    runs: &[SweepRun],
    options: &AdviceOptions,
) -> Result<RangeAdvice, AdviceError> {
    let mut points = Vec::new();
    let mut advice = Vec::new();
    for (index, point) in manifest.points.iter().enumerate() {
        let here: Vec<RunData> = runs
            .iter()
            .filter(|r| r.point == index)
            .map(|r| r.data.clone())
            .collect();
        let a = advise(&here, options)?;
        points.push(PointAdvice {
            point: point.label.clone(),
            recommendation: a.recommendation.clone(),
            significant: a.significant,
            valid_runs: a.valid_runs,
        });
        advice.push(a);
    }
    let first = points.first().and_then(|p| p.recommendation.clone());
    let holds = first.filter(|f| points.iter().all(|p| p.recommendation.as_ref() == Some(f)));
    let flips = flips(manifest, &points);
    Ok(RangeAdvice {
        schema: RANGE_ADVICE_SCHEMA.to_owned(),
        priority: options.priorities.text.clone(),
        points,
        holds,
        flips,
        advice,
    })
}

/// For each key, each pair of points that differ only in that key, at neighbouring values
/// in axis order, with different recommendations.
fn flips(manifest: &Manifest, points: &[PointAdvice]) -> Vec<Flip> {
    let mut flips = Vec::new();
    for (k, axis) in manifest.keys.iter().enumerate() {
        let order = axis.order();
        for (p, point) in manifest.points.iter().enumerate() {
            // Each pair once: from a point to the next value of key k.
            let Some(step) = order.iter().position(|&v| v == point.at[k]) else {
                continue;
            };
            let Some(&next) = order.get(step + 1) else {
                continue;
            };
            let mut at = point.at.clone();
            at[k] = next;
            let Some(q) = manifest.point_at(&at) else {
                continue;
            };
            let (from, to) = (&points[p].recommendation, &points[q].recommendation);
            if from == to {
                continue;
            }
            let others = manifest
                .keys
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != k)
                .map(|(j, other)| (other.key.clone(), manifest.value(p, j).text.clone()))
                .collect();
            let decided = |i: usize| points[i].recommendation.is_none() || points[i].significant;
            flips.push(Flip {
                significant: decided(p) && decided(q),
                key: axis.key.clone(),
                from_value: axis.values[point.at[k]].text.clone(),
                to_value: axis.values[next].text.clone(),
                from: from.clone(),
                to: to.clone(),
                others,
            });
        }
    }
    flips
}
