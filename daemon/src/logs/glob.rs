//! File name globs for `[logs] include` and `exclude`: `*`, `?`, `[abc]`, `[a-z]`, `[!x]`.

#![forbid(unsafe_code)]

/// Whether `name` matches `pattern` (the whole name; no path separators are special).
pub fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative matching with backtracking to the last `*`: linear in practice, no recursion.
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
                continue;
            }
            Some('?') => {
                pi += 1;
                ni += 1;
                continue;
            }
            Some('[') => {
                if let Some((matched, next)) = class(&p, pi, n.get(ni).copied().unwrap_or('\0')) {
                    if matched {
                        pi = next;
                        ni += 1;
                        continue;
                    }
                } else if n.get(ni) == Some(&'[') {
                    pi += 1;
                    ni += 1;
                    continue;
                }
            }
            Some(c) if Some(c) == n.get(ni) => {
                pi += 1;
                ni += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((sp, sn)) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|&c| c == '*'))
}

/// Matches `c` against the class starting at `p[start] == '['`; returns (matched, index after
/// the class), or None when the class is not closed.
fn class(p: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = matches!(p.get(i), Some('!') | Some('^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let ch = *p.get(i)?;
        if ch == ']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&e| e != ']') {
            let end = *p.get(i + 2)?;
            if ch <= c && c <= end {
                matched = true;
            }
            i += 3;
        } else {
            if ch == c {
                matched = true;
            }
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn globs() {
        assert!(matches("*.log", "app.log"));
        assert!(matches("*.log", ".log"));
        assert!(!matches("*.log", "app.log.1"));
        assert!(matches("*.log*", "app.log.1"));
        assert!(matches("app-?.log", "app-1.log"));
        assert!(matches("app-[0-9].log", "app-7.log"));
        assert!(!matches("app-[!0-9].log", "app-7.log"));
        assert!(matches("*", ""));
        assert!(!matches("a*b*c", "abxbx"));
        assert!(matches("a*b*c", "axxbyyc"));
        assert!(matches("[", "["));
        assert!(!matches("*.gz", "x.log"));
    }
}
