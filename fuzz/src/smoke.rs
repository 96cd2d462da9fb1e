//! A small deterministic mutation fuzzer for stable Rust: it runs a target body over seeds and mutated
//! seeds and reports the first input that panics. It is what the `fuzz_smoke` tests of the main
//! workspace run in CI (they include this file with `#[path]`); `cargo +nightly fuzz run` does the
//! real, coverage-guided fuzzing of the same bodies (see docs/fuzzing.md).
//!
//! Mutations are both structure-aware (a seed that is JSON has one node replaced by a hostile value,
//! removed, duplicated or spliced from another seed) and byte-level (bit flips, insertions of tokens
//! such as `1e999` or `18446744073709551616`, deletions, truncations, splices).
//!
//! Environment: `STOCKSYNC_FUZZ_ITERATIONS` (default: what the test asks for) and `STOCKSYNC_FUZZ_SEED`
//! (default: derived from the target's name, so a CI failure reproduces locally).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use serde_json::Value;

/// A target body: a selector byte (topic, header form, variant) and the body bytes.
pub type Body = fn(u8, &[u8]);

/// Seeds larger than this are left out (the fuzzer's inputs stay small and fast).
pub const MAX_SEED_BYTES: usize = 32 * 1024;

/// splitmix64: small, fast, deterministic.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`0` when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        usize::try_from(self.next_u64() % u64::try_from(n).unwrap_or(u64::MAX)).unwrap_or(0)
    }

    /// A random byte.
    pub fn byte(&mut self) -> u8 {
        self.next_u64().to_le_bytes()[0]
    }

    /// True once in `n` times.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
}

/// Byte strings that break parsers: huge and negative numbers, odd JSON, control characters.
const TOKENS: &[&str] = &[
    "1e999",
    "-1e999",
    "18446744073709551616",
    "9223372036854775808",
    "-9223372036854775809",
    "-1",
    "0",
    "-0",
    "4294967296",
    "null",
    "true",
    "\"\"",
    "[]",
    "{}",
    "\\u0000",
    "\\ud800",
    "\u{0}",
    "\t",
    "\r\n",
    "%",
    "&",
    "=",
    "\u{feff}",
    "é",
    "😀",
    "\"",
    ",",
    ":",
    "[",
    "{",
    "}",
    "]",
];

/// JSON values that break code behind the parser.
fn hostile_value(rng: &mut Rng) -> Value {
    let long = "x".repeat(300);
    let options: Vec<Value> = vec![
        Value::Null,
        Value::Bool(true),
        Value::from(0),
        Value::from(-1),
        Value::from(i64::MIN),
        Value::from(i64::MAX),
        Value::from(u64::MAX),
        Value::from(u64::from(u32::MAX) + 1),
        Value::from(1.5),
        Value::from(-0.0),
        Value::from(1e300),
        Value::from(""),
        Value::from(" "),
        Value::from("0"),
        Value::from("-1"),
        Value::from("99999999999999999999999999999"),
        Value::from("1e400"),
        Value::from("NaN"),
        Value::from("\u{0}\u{7f}"),
        Value::from(" padded "),
        Value::from("é😀"),
        Value::from(long),
        Value::from("2025-02-30T25:61:00Z"),
        Value::from("2025-02-15T12:00:00Z"),
        Value::from("-999999-01-01T00:00:00Z"),
        Value::from("gid://shopify/InventoryItem/"),
        Value::Array(Vec::new()),
        Value::Object(serde_json::Map::new()),
    ];
    options[rng.below(options.len())].clone()
}

/// Every node of `v` as a JSON pointer.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    if out.len() > 4096 {
        return;
    }
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(child, p, out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(child, p, out);
            }
        }
        _ => {}
    }
}

fn parent_and_key(pointer: &str) -> (&str, String) {
    let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
    (parent, key.replace("~1", "/").replace("~0", "~"))
}

/// One structure-aware mutation of a JSON document.
fn mutate_json(rng: &mut Rng, mut doc: Value, seeds: &[Vec<u8>]) -> Value {
    let mut all = vec![String::new()];
    pointers(&doc, String::new(), &mut all);
    let at = all[rng.below(all.len())].clone();
    match rng.below(8) {
        // Remove the node from its parent.
        0 if !at.is_empty() => {
            let (parent, key) = parent_and_key(&at);
            match doc.pointer_mut(parent) {
                Some(Value::Object(map)) => {
                    map.remove(&key);
                }
                Some(Value::Array(items)) => {
                    if let Ok(i) = key.parse::<usize>()
                        && i < items.len()
                    {
                        items.remove(i);
                    }
                }
                _ => {}
            }
        }
        // Duplicate an array element (many lines, repeated ids).
        1 => {
            if let Some(Value::Array(items)) = doc.pointer_mut(&at)
                && let Some(first) = items.first().cloned()
            {
                let n = 1 + rng.below(3);
                items.extend(std::iter::repeat_n(first, n));
            }
        }
        // Splice a node from another seed.
        2 => {
            let other = &seeds[rng.below(seeds.len())];
            if let Ok(v) = serde_json::from_slice::<Value>(other) {
                let mut theirs = vec![String::new()];
                pointers(&v, String::new(), &mut theirs);
                if let Some(node) = v.pointer(&theirs[rng.below(theirs.len())]).cloned()
                    && let Some(slot) = doc.pointer_mut(&at)
                {
                    *slot = node;
                }
            }
        }
        // Change a string a little.
        3 => {
            if let Some(Value::String(s)) = doc.pointer_mut(&at) {
                match rng.below(4) {
                    0 => s.push_str(TOKENS[rng.below(TOKENS.len())]),
                    1 => {
                        let keep = s.char_indices().map(|(i, _)| i).nth(rng.below(s.chars().count() + 1));
                        if let Some(i) = keep {
                            s.truncate(i);
                        }
                    }
                    2 => *s = s.to_uppercase(),
                    _ => s.insert_str(0, TOKENS[rng.below(TOKENS.len())]),
                }
            } else if let Some(slot) = doc.pointer_mut(&at) {
                *slot = hostile_value(rng);
            }
        }
        // A number or string becomes its neighbour (off by one, sign flipped).
        4 => {
            if let Some(slot) = doc.pointer_mut(&at) {
                if let Some(n) = slot.as_i64() {
                    *slot = Value::from(match rng.below(3) {
                        0 => n.wrapping_add(1),
                        1 => n.wrapping_sub(1),
                        _ => n.wrapping_neg(),
                    });
                } else {
                    *slot = hostile_value(rng);
                }
            }
        }
        // Wrap the node in an array or object.
        5 => {
            if let Some(slot) = doc.pointer_mut(&at) {
                let inner = slot.take();
                *slot = if rng.one_in(2) { Value::Array(vec![inner]) } else { serde_json::json!({ "k": inner }) };
            }
        }
        // Replace with a hostile value.
        _ => {
            if let Some(slot) = doc.pointer_mut(&at) {
                *slot = hostile_value(rng);
            }
        }
    }
    doc
}

/// One byte-level mutation.
fn mutate_bytes(rng: &mut Rng, data: &mut Vec<u8>, seeds: &[Vec<u8>]) {
    let len = data.len();
    match rng.below(8) {
        0 if len > 0 => {
            let i = rng.below(len);
            data[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            data[i] = rng.byte();
        }
        2 => {
            let i = rng.below(len + 1);
            let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
            data.splice(i..i, token.iter().copied());
        }
        3 if len > 0 => {
            let i = rng.below(len);
            let n = 1 + rng.below((len - i).min(64));
            data.drain(i..i + n);
        }
        4 if len > 0 => {
            let i = rng.below(len);
            let n = 1 + rng.below((len - i).min(64));
            let copy: Vec<u8> = data[i..i + n].to_vec();
            let j = rng.below(len + 1);
            data.splice(j..j, copy);
        }
        5 => data.truncate(rng.below(len + 1)),
        6 => {
            let other = &seeds[rng.below(seeds.len())];
            if !other.is_empty() {
                let i = rng.below(other.len());
                let n = 1 + rng.below((other.len() - i).min(256));
                let j = rng.below(len + 1);
                data.splice(j..j, other[i..i + n].iter().copied());
            }
        }
        _ => {
            let i = rng.below(len + 1);
            data.insert(i, rng.byte());
        }
    }
}

/// A mutant of `seed`: one to four stacked mutations, structure-aware when the seed is JSON.
pub fn mutate(rng: &mut Rng, seed: &[u8], seeds: &[Vec<u8>]) -> Vec<u8> {
    let rounds = 1 + rng.below(4);
    if !rng.one_in(4)
        && let Ok(mut doc) = serde_json::from_slice::<Value>(seed)
    {
        for _ in 0..rounds {
            doc = mutate_json(rng, doc, seeds);
        }
        let mut out = serde_json::to_vec(&doc).unwrap_or_default();
        if rng.one_in(8) {
            mutate_bytes(rng, &mut out, seeds);
        }
        return out;
    }
    let mut out = seed.to_vec();
    for _ in 0..rounds {
        mutate_bytes(rng, &mut out, seeds);
    }
    out
}

/// The files of `dir` (optionally only those ending in `extension`) as seeds, each at most
/// [`MAX_SEED_BYTES`]; a missing directory prints `skipped: …` and gives none.
pub fn files(dir: &Path, extension: Option<&str>) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        println!("skipped: {} not found (seeding from built-in inputs only)", dir.display());
        return Vec::new();
    };
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && extension.is_none_or(|x| p.extension().is_some_and(|e| e == x)))
        .collect();
    paths.sort();
    paths.iter().filter_map(|p| std::fs::read(p).ok()).filter(|b| b.len() <= MAX_SEED_BYTES).collect()
}

/// The JSON objects inside the `.json` files of `dir` (whole documents, and every nested object up to
/// [`MAX_SEED_BYTES`], `example`/`examples` values first: fixture files are often schemas or API
/// answers that wrap the payloads), at most `max_per_file` from each file.
pub fn json_parts(dir: &Path, max_per_file: usize) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        println!("skipped: {} not found (seeding from built-in inputs only)", dir.display());
        return Vec::new();
    };
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        let Some(doc) = std::fs::read(&path).ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok()) else {
            continue;
        };
        let mut examples = Vec::new();
        let mut others = Vec::new();
        let mut queue = std::collections::VecDeque::from([(false, &doc)]);
        while let Some((in_example, v)) = queue.pop_front() {
            let children: Vec<(bool, &Value)> = match v {
                Value::Object(map) => {
                    map.iter().map(|(k, c)| (in_example || k.to_ascii_lowercase().contains("example"), c)).collect()
                }
                Value::Array(items) => items.iter().map(|c| (in_example, c)).collect(),
                _ => continue,
            };
            if v.is_object() {
                let bytes = serde_json::to_vec(v).unwrap_or_default();
                if bytes.len() <= MAX_SEED_BYTES {
                    let bucket = if in_example { &mut examples } else { &mut others };
                    bucket.push(bytes);
                }
            }
            queue.extend(children);
        }
        out.extend(examples.into_iter().chain(others).take(max_per_file));
    }
    out
}

fn iterations(default: usize) -> usize {
    std::env::var("STOCKSYNC_FUZZ_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn seed_for(name: &str) -> u64 {
    std::env::var("STOCKSYNC_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        // FNV-1a of the name: stable across runs and platforms.
        name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
    })
}

fn attempt(name: &str, body: Body, selector: u8, input: &[u8], what: &str) {
    if catch_unwind(AssertUnwindSafe(|| body(selector, input))).is_ok() {
        return;
    }
    // The fuzz target's input is the selector byte followed by the body.
    let mut raw = vec![selector];
    raw.extend_from_slice(input);
    let file = std::env::temp_dir().join(format!("stocksync-fuzz-{name}-crash.bin"));
    let saved =
        std::fs::write(&file, &raw).map_or_else(|e| format!("(not saved: {e})"), |()| file.display().to_string());
    let shown: String = String::from_utf8_lossy(&input[..input.len().min(2000)]).escape_debug().collect();
    panic!(
        "{name}: {what} panicked (selector {selector}); reproduce with `cargo +nightly fuzz run {name} {saved}`\n\
         body ({} bytes): {shown}",
        input.len()
    );
}

/// Run `body` on every seed with every selector in `0..selectors`, then on `default_iterations`
/// mutants (random seed, random selector); panic with the input on the first panic. Returns the number
/// of inputs run.
pub fn run(name: &str, seeds: &[Vec<u8>], selectors: u8, default_iterations: usize, body: Body) -> usize {
    let seeds: Vec<Vec<u8>> = if seeds.is_empty() { vec![Vec::new()] } else { seeds.to_vec() };
    let mut runs = 0;
    for (i, seed) in seeds.iter().enumerate() {
        for selector in 0..selectors.max(1) {
            attempt(name, body, selector, seed, &format!("seed #{i}"));
            runs += 1;
        }
    }
    let mut rng = Rng::new(seed_for(name));
    let total = iterations(default_iterations);
    for i in 0..total {
        let seed = &seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, seed, &seeds);
        let selector = rng.byte();
        attempt(name, body, selector, &input, &format!("mutant #{i}"));
        runs += 1;
    }
    println!("{name}: {} seeds, {runs} inputs, no panic", seeds.len());
    runs
}
