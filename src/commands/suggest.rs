//! "Did you mean" suggestions for mistyped event names, commands and help topics.

/// Up to `count` known names closest to `wanted` (Jaro-Winkler similarity of at
/// least `threshold`), best first; never `wanted` itself, each name once.
pub(crate) fn closest(wanted: &str, known: &[String], threshold: f64, count: usize) -> Vec<String> {
    let mut distinct: Vec<&String> = known.iter().filter(|name| **name != wanted).collect();
    distinct.sort();
    distinct.dedup();
    let mut scored: Vec<(f64, &String)> = distinct
        .into_iter()
        .map(|name| (strsim::jaro_winkler(wanted, name), name))
        .filter(|(score, _)| *score >= threshold)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored
        .into_iter()
        .take(count)
        .map(|(_, name)| name.clone())
        .collect()
}

/// Up to three event names closest to `wanted` (event names are upper case).
pub(crate) fn nearest_names(wanted: &str, known: &[String]) -> Vec<String> {
    closest(&wanted.to_ascii_uppercase(), known, 0.85, 3)
}

#[cfg(test)]
mod tests {
    use super::nearest_names;

    #[test]
    fn suggests_close_event_names() {
        let known: Vec<String> = ["ONCRMDEALADD", "ONCRMDEALUPDATE", "ONTASKADD"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(nearest_names("ONCRMDEALAD", &known)[0], "ONCRMDEALADD");
        assert!(nearest_names("SOMETHINGELSE", &known).is_empty());
        let repeated: Vec<String> = ["ONCRMDEALUPDATE", "ONCRMDEALUPDATE", "ONCRMDEALADD"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            nearest_names("ONCRMDEALUPDATE", &repeated),
            vec!["ONCRMDEALADD".to_string()],
            "no duplicates, never the typed name"
        );
    }
}
