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

/// What to say about an event the portal refuses to bind (or does not list),
/// from the portal's own list and the event catalogue: a documented event
/// outside the application's scopes names its scope; a typo gets the nearest
/// names the portal offers, else the nearest documented ones.
pub(crate) fn unknown_event_advice(event: &str, portal_events: &[String]) -> String {
    use crate::bitrix::catalog;
    if let Some(documented) = catalog::find(event) {
        let scope = if documented.scope.is_empty() {
            String::new()
        } else {
            format!(" of scope {}", documented.scopes.join(" + "))
        };
        return format!(
            "{} is a documented event{scope}, but the portal does not offer it to this application: add the scope to the application and reinstall it (or the portal lacks the module); `bx-events events` lists what it can bind",
            documented.name
        );
    }
    let near = nearest_names(event, portal_events);
    if !near.is_empty() {
        return format!(
            "did you mean {}? (run `bx-events events` to see the events of the application's scopes)",
            near.join(" or ")
        );
    }
    let documented: Vec<String> = catalog::events().iter().map(|e| e.name.clone()).collect();
    let near = nearest_names(event, &documented);
    if !near.is_empty() {
        return format!(
            "did you mean {}? (documented, but outside the events the portal offers this application; `bx-events describe NAME` says which scope it needs)",
            near.join(" or ")
        );
    }
    "no such event: `bx-events events` lists the events the application can bind, `bx-events events --catalog` every documented one".to_string()
}

#[cfg(test)]
mod tests {
    use super::{nearest_names, unknown_event_advice};

    #[test]
    fn advice_for_an_unknown_event_uses_the_portal_and_the_catalogue() {
        let portal: Vec<String> = ["ONCRMDEALADD", "ONCRMDEALUPDATE"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        // A real event the portal does not offer: its scope is named.
        let advice = unknown_event_advice("ONTASKADD", &portal);
        assert!(
            advice.contains("documented event of scope task"),
            "{advice}"
        );
        // A typo of an offered event.
        let advice = unknown_event_advice("ONCRMDEALADDD", &portal);
        assert!(advice.starts_with("did you mean ONCRMDEALADD "), "{advice}");
        // A typo of a documented event the portal does not offer.
        let advice = unknown_event_advice("ONTASKUPDTE", &portal);
        assert!(
            advice.contains("ONTASKUPDATE") && advice.contains("documented"),
            "{advice}"
        );
        let advice = unknown_event_advice("NOTHINGLIKEIT", &portal);
        assert!(advice.starts_with("no such event"), "{advice}");
    }

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
