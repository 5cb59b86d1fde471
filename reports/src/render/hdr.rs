//! HdrHistogram files: `probes.hlog`, an interval log of probe latency readable by the
//! standard log tools (HistogramLogProcessor, hdrhistogram-rs), and `lateness.hgrm`, a
//! percentile distribution in the format of `outputPercentileDistribution`.

use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use hdrhistogram::serialization::interval_log::IntervalLogWriterBuilder;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::Histogram;

use crate::model::probe::Probe;

/// Probe latency (µs, from the intended time) in one-second intervals, as an interval log.
/// The max column is in ms (value divisor 1000), as HdrHistogram's own tools write it.
pub fn probes_hlog(probes: &[Probe]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let Some(first) = probes.iter().map(|p| p.intended_ns).min() else {
        return Ok(out);
    };
    let base = UNIX_EPOCH + Duration::from_nanos(first.max(0) as u64);
    let mut serializer = V2DeflateSerializer::new();
    {
        let mut log = IntervalLogWriterBuilder::new()
            .add_comment("probe latency through the front door, in microseconds, from each probe's intended time")
            .add_comment("failed probes are included with their latency until failure")
            .with_start_time(base)
            .with_base_time(base)
            .with_max_value_divisor(1000.0)
            .begin_log_with(&mut out, &mut serializer)
            .map_err(|e| e.to_string())?;
        let mut by_second: std::collections::BTreeMap<i64, Histogram<u64>> = Default::default();
        for p in probes {
            let second = (p.intended_ns - first) / 1_000_000_000;
            let h = by_second
                .entry(second)
                .or_insert_with(|| Histogram::new(3).expect("valid precision"));
            let _ = h.record((p.latency_ns().max(0) / 1_000) as u64);
        }
        for (second, h) in by_second {
            log.write_histogram(
                &h,
                Duration::from_secs(second as u64),
                Duration::from_secs(1),
                None,
            )
            .map_err(|e| format!("{e:?}"))?;
        }
    }
    Ok(out)
}

/// The lateness distribution (values in ms) as a `.hgrm` percentile table.
pub fn percentile_distribution(values_ms: &[f64]) -> String {
    // Recorded in µs, printed in ms: 3 significant digits either way.
    let mut h = Histogram::<u64>::new(3).expect("valid precision");
    for &v in values_ms {
        let _ = h.record((v * 1000.0).max(0.0) as u64);
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    if h.is_empty() {
        return out;
    }
    for v in h.iter_quantiles(1) {
        let q = v.quantile_iterated_to();
        let inverse = if q < 1.0 {
            format!("{:>14.2}", 1.0 / (1.0 - q))
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "{:>12.3} {:>14.12} {:>10} {}",
            v.value_iterated_to() as f64 / 1000.0,
            q,
            // Total count up to and including this value.
            h.count_between(0, v.value_iterated_to()),
            inverse
        );
    }
    let _ = writeln!(
        out,
        "#[Mean    = {:>12.3}, StdDeviation   = {:>12.3}]",
        h.mean() / 1000.0,
        h.stdev() / 1000.0
    );
    let _ = writeln!(
        out,
        "#[Max     = {:>12.3}, Total count    = {:>12}]",
        h.max() as f64 / 1000.0,
        h.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        h.buckets(),
        h.distinct_values()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

    #[test]
    fn the_interval_log_reads_back_with_the_standard_parser() {
        let probes: Vec<Probe> = (0..300)
            .map(|i| Probe::new(i * 10_000_000, i * 10_000_000 + 2_000_000 + i * 1000, true))
            .collect();
        let log = probes_hlog(&probes).unwrap();
        let text = String::from_utf8(log.clone()).unwrap();
        assert!(text.contains("#[BaseTime:"), "{text}");
        let mut intervals = 0;
        let mut deserializer = hdrhistogram::serialization::Deserializer::new();
        for entry in IntervalLogIterator::new(&log) {
            if let Ok(LogEntry::Interval(ilh)) = entry {
                intervals += 1;
                let bytes = base64::Engine::decode(
                    &base64::engine::general_purpose::STANDARD,
                    ilh.encoded_histogram(),
                )
                .unwrap();
                let h: Histogram<u64> = deserializer.deserialize(&mut bytes.as_slice()).unwrap();
                assert_eq!(h.len(), 100, "100 probes a second");
                assert!(h.min() >= 2_000);
            }
        }
        assert_eq!(intervals, 3);
    }

    #[test]
    fn the_percentile_table_ends_at_the_max() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        let text = percentile_distribution(&values);
        // Values print as their bucket's highest equivalent: within 0.1% of the true one.
        assert!(text.contains("#[Max     =      100.031"), "{text}");
        assert!(text.contains("Total count    =          100"), "{text}");
        let last_row = text
            .lines()
            .rfind(|l| !l.starts_with('#') && !l.trim().is_empty())
            .unwrap();
        assert!(last_row.contains("1.000000000000"), "{last_row}");
    }
}
