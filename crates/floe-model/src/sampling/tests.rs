//! Sampling tests. The distribution tests draw many tokens with a fixed seed (so they are
//! deterministic) and compare the frequencies to the exact expected distribution with a
//! chi-square test at p = 0.001: a correct sampler passes for almost every seed, a sampler that
//! keeps the wrong tokens or weighs them wrongly fails by orders of magnitude.

use super::*;

const DRAWS: usize = 20_000;

fn params(temperature: f32, top_k: usize, top_p: f32, min_p: f32) -> SamplingParams {
    SamplingParams {
        temperature,
        top_k,
        top_p,
        min_p,
        repeat_penalty: 1.0,
        repeat_last_n: 64,
        seed: 1234,
    }
}

/// Logits whose softmax is exactly `probs`.
fn logits_of(probs: &[f64]) -> Vec<f32> {
    probs.iter().map(|p| p.ln() as f32).collect()
}

fn counts(sampler: &mut Sampler, logits: &[f32]) -> Vec<usize> {
    let mut c = vec![0; logits.len()];
    for _ in 0..DRAWS {
        c[sampler.sample(logits, &[]).unwrap() as usize] += 1;
    }
    c
}

/// Asserts that no token outside the support of `expected` was drawn and that the chi-square
/// statistic over the support is below the p = 0.001 critical value.
fn assert_distribution(counts: &[usize], expected: &[f64]) {
    let support: Vec<usize> = (0..expected.len()).filter(|&i| expected[i] > 0.0).collect();
    for (i, &c) in counts.iter().enumerate() {
        if expected[i] == 0.0 {
            assert_eq!(c, 0, "token {i} should never be drawn, was drawn {c} times");
        }
    }
    let chi2: f64 = support
        .iter()
        .map(|&i| {
            let e = expected[i] * DRAWS as f64;
            (counts[i] as f64 - e).powi(2) / e
        })
        .sum();
    // Critical values of chi-square at p = 0.001 for 1..=9 degrees of freedom.
    const CRITICAL: [f64; 9] = [
        10.83, 13.82, 16.27, 18.47, 20.52, 22.46, 24.32, 26.12, 27.88,
    ];
    let df = support.len() - 1;
    assert!(df >= 1 && df <= CRITICAL.len());
    assert!(
        chi2 < CRITICAL[df - 1],
        "chi-square {chi2:.2} ≥ {} (df {df}); counts {counts:?}, expected {expected:?}",
        CRITICAL[df - 1]
    );
}

fn normalized(p: &[f64]) -> Vec<f64> {
    let s: f64 = p.iter().sum();
    p.iter().map(|x| x / s).collect()
}

#[test]
fn greedy_takes_the_argmax_lowest_id_on_ties() {
    let mut s = Sampler::new(SamplingParams::greedy()).unwrap();
    assert_eq!(s.sample(&[0.1, 3.0, -1.0, 2.0], &[]).unwrap(), 1);
    assert_eq!(s.sample(&[1.0, 5.0, 5.0], &[]).unwrap(), 1);
    assert_eq!(
        s.sample(&[f32::NAN, 0.5, f32::NEG_INFINITY], &[]).unwrap(),
        1
    );
}

#[test]
fn same_seed_same_tokens_other_seed_other_tokens() {
    let logits: Vec<f32> = (0..50).map(|i| ((i * 37 % 11) as f32) * 0.3).collect();
    let run = |seed| {
        let mut s = Sampler::new(SamplingParams {
            seed,
            top_k: 0,
            top_p: 1.0,
            temperature: 1.0,
            ..SamplingParams::default()
        })
        .unwrap();
        (0..64)
            .map(|_| s.sample(&logits, &[]).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
}

#[test]
fn plain_temperature_one_matches_softmax() {
    let p = [0.4, 0.25, 0.15, 0.1, 0.06, 0.04];
    let mut s = Sampler::new(params(1.0, 0, 1.0, 0.0)).unwrap();
    assert_distribution(&counts(&mut s, &logits_of(&p)), &p);
}

#[test]
fn temperature_flattens_the_distribution() {
    let p = [0.5, 0.3, 0.15, 0.05];
    // softmax(ln p / 2) ∝ sqrt(p).
    let expected = normalized(&p.map(f64::sqrt));
    let mut s = Sampler::new(params(2.0, 0, 1.0, 0.0)).unwrap();
    assert_distribution(&counts(&mut s, &logits_of(&p)), &expected);
}

#[test]
fn top_k_keeps_the_k_most_likely_renormalized() {
    let p = [0.05, 0.3, 0.1, 0.25, 0.2, 0.1];
    let expected = normalized(&[0.0, 0.3, 0.0, 0.25, 0.2, 0.0]);
    let mut s = Sampler::new(params(1.0, 3, 1.0, 0.0)).unwrap();
    assert_distribution(&counts(&mut s, &logits_of(&p)), &expected);
}

#[test]
fn top_p_keeps_the_smallest_prefix_reaching_p() {
    // Cumulative 0.5, 0.8, 0.9, …: reaching 0.85 needs the third token.
    let p = [0.1, 0.5, 0.05, 0.3, 0.05];
    let expected = normalized(&[0.1, 0.5, 0.0, 0.3, 0.0]);
    let mut s = Sampler::new(params(1.0, 0, 0.85, 0.0)).unwrap();
    assert_distribution(&counts(&mut s, &logits_of(&p)), &expected);
}

#[test]
fn min_p_drops_tokens_below_a_fraction_of_the_best() {
    let p = [0.5, 0.3, 0.12, 0.08];
    // threshold 0.25 · 0.5 = 0.125 keeps the first two.
    let expected = normalized(&[0.5, 0.3, 0.0, 0.0]);
    let mut s = Sampler::new(params(1.0, 0, 1.0, 0.25)).unwrap();
    assert_distribution(&counts(&mut s, &logits_of(&p)), &expected);
}

#[test]
fn filters_compose_top_k_then_top_p() {
    let p = [0.35, 0.3, 0.2, 0.1, 0.05];
    // top-k 4 renormalizes to 0.35/0.95, …; cumulative 0.368, 0.684, 0.895 → top-p 0.8 keeps 3.
    let expected = normalized(&[0.35, 0.3, 0.2, 0.0, 0.0]);
    let mut s = Sampler::new(params(1.0, 4, 0.8, 0.0)).unwrap();
    assert_distribution(&counts(&mut s, &logits_of(&p)), &expected);
}

#[test]
fn repeat_penalty_divides_positive_and_multiplies_negative_logits() {
    let mut s = Sampler::new(SamplingParams {
        repeat_penalty: 2.0,
        ..SamplingParams::greedy()
    })
    .unwrap();
    // Token 0 (logit 3 → 1.5) loses to token 1 (2.0) once it is in the history.
    assert_eq!(s.sample(&[3.0, 2.0, -1.0], &[]).unwrap(), 0);
    assert_eq!(s.sample(&[3.0, 2.0, -1.0], &[0]).unwrap(), 1);
    // Negative logits get more negative: -0.5 → -1.0 loses to -0.8.
    assert_eq!(s.sample(&[-0.5, -0.8], &[0]).unwrap(), 1);
    // Only the last `repeat_last_n` tokens count.
    let mut s = Sampler::new(SamplingParams {
        repeat_penalty: 2.0,
        repeat_last_n: 1,
        ..SamplingParams::greedy()
    })
    .unwrap();
    assert_eq!(s.sample(&[3.0, 2.0, -1.0], &[0, 2]).unwrap(), 0);
}

#[test]
fn bad_parameters_are_rejected_by_name() {
    let bad = [
        (
            SamplingParams {
                temperature: -1.0,
                ..SamplingParams::default()
            },
            "temperature",
        ),
        (
            SamplingParams {
                top_p: 0.0,
                ..SamplingParams::default()
            },
            "top-p",
        ),
        (
            SamplingParams {
                min_p: 1.0,
                ..SamplingParams::default()
            },
            "min-p",
        ),
        (
            SamplingParams {
                repeat_penalty: 0.0,
                ..SamplingParams::default()
            },
            "repeat-penalty",
        ),
    ];
    for (p, name) in bad {
        match Sampler::new(p) {
            Err(ModelError::Argument { name: n, .. }) => assert_eq!(n, name),
            other => panic!("expected an error for {name}, got {:?}", other.map(|_| ())),
        }
    }
    let mut s = Sampler::new(SamplingParams::default()).unwrap();
    assert!(s.sample(&[f32::NAN, f32::NEG_INFINITY], &[]).is_err());
}
