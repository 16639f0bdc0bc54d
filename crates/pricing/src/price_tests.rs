//! Cost arithmetic, checked against hand-computed values. Rates are in pico-USD per token
//! ($1 per million tokens = 1 000 000 pico/token); 1 000 pico = 1 nano-USD.

use sluice_types::Usage;

use super::*;
use crate::Catalogue;

fn usage(json: &str) -> Tokens {
    let usage: Usage = serde_json::from_str(json).unwrap();
    Tokens::from(&usage)
}

fn builtin(vendor: &str, model: &str) -> Price {
    *Catalogue::builtin().lookup(vendor, model).unwrap()
}

#[test]
fn openai_cached_and_reasoning_tokens() {
    let t = usage(
        r#"{"prompt_tokens": 10000, "completion_tokens": 2000, "total_tokens": 12000,
            "prompt_tokens_details": {"cached_tokens": 4000, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 1500}}"#,
    );
    assert_eq!(
        t,
        Tokens {
            prompt: 10_000,
            completion: 2_000,
            cached: 4_000,
            reasoning: 1_500,
            ..Tokens::default()
        }
    );
    // gpt-5: input $1.25, cache read $0.125, output $10 per million.
    //   6 000 uncached × 1 250 000 = 7 500 000 000
    //   4 000 cached   ×   125 000 =   500 000 000
    //     500 answer   × 10 000 000 = 5 000 000 000
    //   1 500 reasoning × 10 000 000 = 15 000 000 000
    //   total 28 000 000 000 pico = $0.028
    let cost = builtin("openai", "gpt-5-2025-08-07").cost(&t);
    assert_eq!(cost, Usd(28_000_000));
    assert_eq!(cost.to_string(), "0.028");
}

#[test]
fn anthropic_cache_read_and_write_folded_into_the_prompt() {
    // Anthropic reported input 1 000, cache_read 20 000, cache_creation 5 000, output 800;
    // Sluice folds them into prompt_tokens = 26 000.
    let t = usage(
        r#"{"prompt_tokens": 26000, "completion_tokens": 800, "total_tokens": 26800,
            "prompt_tokens_details": {"cached_tokens": 20000, "cache_creation_tokens": 5000}}"#,
    );
    // claude-sonnet-4-5: input $3, cache read $0.30, cache write $3.75, output $15.
    //    1 000 × 3 000 000 =  3 000 000 000
    //   20 000 ×   300 000 =  6 000 000 000
    //    5 000 × 3 750 000 = 18 750 000 000
    //      800 × 15 000 000 = 12 000 000 000
    //   total 39 750 000 000 pico = $0.03975
    let cost = builtin("anthropic", "claude-sonnet-4-5-20250929").cost(&t);
    assert_eq!(cost, Usd(39_750_000));
}

#[test]
fn gemini_thoughts_and_cached_content() {
    // Gemini: promptTokenCount 12 000 (cachedContentTokenCount 8 000), candidates 600 +
    // thoughts 2 400, normalised to completion 3 000 with 2 400 reasoning.
    let t = usage(
        r#"{"prompt_tokens": 12000, "completion_tokens": 3000, "total_tokens": 15000,
            "prompt_tokens_details": {"cached_tokens": 8000},
            "completion_tokens_details": {"reasoning_tokens": 2400}}"#,
    );
    // gemini-2.5-flash: input $0.30, cache read $0.03, output (thinking included) $2.50.
    //   4 000 × 300 000 = 1 200 000 000
    //   8 000 ×  30 000 =   240 000 000
    //     600 × 2 500 000 = 1 500 000 000
    //   2 400 × 2 500 000 = 6 000 000 000
    //   total 8 940 000 000 pico = $0.00894
    let cost = builtin("gemini", "models/gemini-2.5-flash").cost(&t);
    assert_eq!(cost, Usd(8_940_000));
}

#[test]
fn deepseek_cache_hit() {
    let t = usage(
        r#"{"prompt_tokens": 50000, "completion_tokens": 1000, "total_tokens": 51000,
            "prompt_tokens_details": {"cached_tokens": 45000}}"#,
    );
    // deepseek-chat: cache miss $0.14, cache hit $0.0028, output $0.28.
    //    5 000 × 140 000 = 700 000 000
    //   45 000 ×   2 800 = 126 000 000
    //    1 000 × 280 000 = 280 000 000
    //   total 1 106 000 000 pico = $0.001106
    let cost = builtin("deepseek", "deepseek-chat").cost(&t);
    assert_eq!(cost, Usd(1_106_000));
    assert_eq!(cost.to_string(), "0.001106");
}

#[test]
fn bedrock_claude_regional_and_global_profiles() {
    let t = Tokens {
        prompt: 2_000,
        cached: 1_000,
        cache_write: 500,
        completion: 300,
        ..Tokens::default()
    };
    // us. profile of Sonnet 4.5 (10% over list): input $3.30, read $0.33, write $4.125, output $16.50.
    //     500 × 3 300 000 = 1 650 000 000
    //   1 000 ×   330 000 =   330 000 000
    //     500 × 4 125 000 = 2 062 500 000
    //     300 × 16 500 000 = 4 950 000 000
    //   total 8 992 500 000 pico = $0.0089925
    let us = builtin("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0");
    assert_eq!(us.cost(&t), Usd(8_992_500));
    // global. profile: Anthropic's list price ($3, $0.30, $3.75, $15).
    //   1 500 000 000 + 300 000 000 + 1 875 000 000 + 4 500 000 000 = 8 175 000 000 pico
    let global = builtin(
        "bedrock",
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
    );
    assert_eq!(global.cost(&t), Usd(8_175_000));
}

#[test]
fn embeddings_bill_the_prompt_only() {
    let t = usage(r#"{"prompt_tokens": 1234567, "total_tokens": 1234567}"#);
    // text-embedding-3-small: $0.02 per million = 20 000 pico.
    //   1 234 567 × 20 000 = 24 691 340 000 pico = $0.02469134
    assert_eq!(
        builtin("openai", "text-embedding-3-small").cost(&t),
        Usd(24_691_340)
    );
}

#[test]
fn images_and_audio_seconds_are_billed_per_unit() {
    let t = Tokens {
        prompt: 1_000,
        images: 3,
        audio_seconds: 10,
        ..Tokens::default()
    };
    // gemini-embedding-2: $0.20 per million tokens, $0.00012 per image, $0.00016 per second.
    //   1 000 × 200 000 = 200 000 000 pico
    //   3 × 120 000 nano = 360 000 000 pico
    //   10 × 160 000 nano = 1 600 000 000 pico
    //   total 2 160 000 000 pico = $0.00216
    assert_eq!(
        builtin("gemini", "gemini-embedding-2").cost(&t),
        Usd(2_160_000)
    );
}

#[test]
fn rounding_is_half_up_once_at_the_end() {
    let one_prompt = Tokens {
        prompt: 1,
        ..Tokens::default()
    };
    let price = |pico| Price {
        input: Rate(pico),
        ..Price::default()
    };
    assert_eq!(price(1_500).cost(&one_prompt), Usd(2)); // 1.5 nano → 2
    assert_eq!(price(1_499).cost(&one_prompt), Usd(1));
    assert_eq!(price(500).cost(&one_prompt), Usd(1)); // 0.5 nano → 1
    assert_eq!(price(499).cost(&one_prompt), Usd(0));
    // Three parts of 400 pico: 1 200 pico → 1 nano (rounding each part would give 0).
    let p = Price {
        input: Rate(400),
        output: Rate(400),
        reasoning: Some(Rate(400)),
        ..Price::default()
    };
    let t = Tokens {
        prompt: 1,
        completion: 2,
        reasoning: 1,
        ..Tokens::default()
    };
    assert_eq!(p.cost(&t), Usd(1));
}

#[test]
fn huge_counts_do_not_overflow() {
    // 10^12 tokens of claude-opus-4-1 input ($15 per million):
    //   10^12 × 15 000 000 = 1.5 × 10^19 pico = 1.5 × 10^16 nano = $15 000 000
    let t = Tokens {
        prompt: 1_000_000_000_000,
        ..Tokens::default()
    };
    assert_eq!(
        builtin("anthropic", "claude-opus-4-1").cost(&t),
        Usd(15_000_000_000_000_000)
    );

    let max = Rate(u64::MAX);
    let price = Price {
        input: max,
        output: max,
        cache_read: Some(max),
        cache_write: Some(max),
        reasoning: Some(max),
        per_image: Some(Usd(i64::MAX)),
        per_audio_second: Some(Usd(i64::MAX)),
    };
    let t = Tokens {
        prompt: u64::MAX,
        completion: u64::MAX,
        cached: u64::MAX / 3,
        cache_write: u64::MAX / 3,
        reasoning: u64::MAX / 2,
        images: u64::MAX,
        audio_seconds: u64::MAX,
    };
    assert_eq!(price.cost(&t), Usd(i64::MAX));
    assert_eq!(price.max_cost(u64::MAX, u64::MAX), Usd(i64::MAX));
    assert_eq!(price.blended(), u64::MAX);
}

#[test]
fn inconsistent_counts_saturate_to_the_totals() {
    let p = Price {
        input: Rate(1_000_000),
        output: Rate(2_000_000),
        cache_read: Some(Rate(100_000)),
        cache_write: Some(Rate(1_250_000)),
        reasoning: None,
        ..Price::default()
    };
    // cached > prompt: all 100 prompt tokens are cache reads: 100 × 100 000 = 10 000 000 pico.
    let t = Tokens {
        prompt: 100,
        cached: 150,
        ..Tokens::default()
    };
    assert_eq!(p.cost(&t), Usd(10_000));
    // cache_write > what is left: 60 reads + 40 writes: 6 000 000 + 50 000 000 pico.
    let t = Tokens {
        prompt: 100,
        cached: 60,
        cache_write: 90,
        ..Tokens::default()
    };
    assert_eq!(p.cost(&t), Usd(56_000));
    // reasoning > completion: 10 reasoning tokens at the output rate: 20 000 000 pico.
    let t = Tokens {
        completion: 10,
        reasoning: 50,
        ..Tokens::default()
    };
    assert_eq!(p.cost(&t), Usd(20_000));
    // A negative per-image price (only possible by hand) counts as zero.
    let negative = Price {
        per_image: Some(Usd(-5)),
        ..Price::default()
    };
    assert_eq!(
        negative.cost(&Tokens {
            images: 3,
            ..Tokens::default()
        }),
        Usd(0)
    );
}

#[test]
fn missing_cache_and_reasoning_rates_fall_back() {
    // No cache or reasoning rates: cache tokens bill as input, reasoning as output.
    let p = Price {
        input: Rate(1_000_000),
        output: Rate(4_000_000),
        ..Price::default()
    };
    let t = Tokens {
        prompt: 100,
        cached: 30,
        cache_write: 20,
        completion: 10,
        reasoning: 5,
        ..Tokens::default()
    };
    // 100 × 1 000 000 + 10 × 4 000 000 = 140 000 000 pico
    assert_eq!(p.cost(&t), Usd(140_000));
}

#[test]
fn max_cost_reserves_the_dearer_of_output_and_reasoning() {
    let p = Price {
        input: Rate(1_250_000),
        output: Rate(10_000_000),
        reasoning: Some(Rate(12_000_000)),
        ..Price::default()
    };
    // 1 000 × 1 250 000 + 500 × 12 000 000 = 7 250 000 000 pico
    assert_eq!(p.max_cost(1_000, 500), Usd(7_250_000));
    // gpt-5 (no reasoning rate): 1 250 000 000 + 500 × 10 000 000 = 6 250 000 000 pico
    assert_eq!(
        builtin("openai", "gpt-5").max_cost(1_000, 500),
        Usd(6_250_000)
    );
}

#[test]
fn blended_sorts_targets_cheapest_first() {
    let mini = builtin("openai", "gpt-4o-mini");
    assert_eq!(mini.blended(), 150_000 + 600_000);
    assert!(mini.blended() < builtin("openai", "gpt-4o").blended());
}

#[test]
fn usage_without_details_has_no_cache_or_reasoning() {
    let t = usage(r#"{"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}"#);
    assert_eq!(
        t,
        Tokens {
            prompt: 7,
            completion: 3,
            ..Tokens::default()
        }
    );
}
