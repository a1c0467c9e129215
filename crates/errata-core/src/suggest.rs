//! "Did you mean ...?": the known name nearest to a misspelt one.

/// The candidate nearest to `word` when it is close enough to be a slip of the keyboard: one
/// edit for names of up to five letters, two for longer ones (a swap of two neighbours counts
/// as one, case is ignored).
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let allowed = (word.chars().count() / 3).clamp(1, 2);
    candidates
        .iter()
        .map(|c| (distance(&word.to_lowercase(), &c.to_lowercase()), *c))
        .filter(|(d, _)| *d <= allowed)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Edit distance with adjacent transpositions (optimal string alignment), over characters.
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = d;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slips_are_found_and_strangers_are_not() {
        let keys = [
            "upstream",
            "limits",
            "per_seconds",
            "scopes",
            "tls",
            "listen",
        ];
        assert_eq!(closest("upstrem", &keys), Some("upstream"));
        assert_eq!(closest("limts", &keys), Some("limits"));
        assert_eq!(closest("per_second", &keys), Some("per_seconds"));
        assert_eq!(closest("scope", &keys), Some("scopes"));
        assert_eq!(closest("tsl", &keys), Some("tls"));
        assert_eq!(closest("Listen", &keys), Some("listen"));
        assert_eq!(closest("colour", &keys), None);
        assert_eq!(closest("key", &keys), None);
    }
}
