//! The escape suite's case files: each hostile policy in
//! `tests/escape/cases/` and the `# tries:`, `# expect:` and `# limits:`
//! lines at its top.

use std::path::{Path, PathBuf};

/// What a case must end with.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expect {
    /// An `ExecutionError` of one of these types whose message contains the text.
    Error {
        types: Vec<String>,
        contains: String,
    },
    /// A result that sets these headers to exactly these values.
    Ok(Vec<(String, String)>),
    /// A result whose header differs in every round.
    Differs(String),
}

/// One hostile policy.
#[derive(Debug)]
pub(crate) struct Case {
    /// The file name without `.py`.
    pub(crate) name: String,
    /// The policy source.
    pub(crate) source: String,
    /// What the case tries (`# tries:`).
    pub(crate) tries: String,
    /// What must happen (`# expect:` lines; each kind checks its own outcome).
    pub(crate) expects: Vec<Expect>,
    /// Limits the case sets for itself (`# limits:`).
    pub(crate) limits: Vec<(String, String)>,
}

impl Case {
    /// The name the case is built and served under.
    pub(crate) fn policy_name(&self) -> String {
        format!("escape-{}", self.name.replace('_', "-"))
    }
}

fn cases_dir() -> PathBuf {
    crate::harness::project_root().join("tests/escape/cases")
}

fn parse_expect(text: &str) -> Expect {
    let mut words = text.split_whitespace();
    match words.next() {
        Some("error") => Expect::Error {
            types: words
                .next()
                .expect("error type")
                .split('|')
                .map(str::to_string)
                .collect(),
            contains: words.collect::<Vec<_>>().join(" "),
        },
        Some("ok") => Expect::Ok(
            words
                .map(|pair| {
                    let (name, value) = pair.split_once('=').expect("header=value");
                    (name.to_string(), value.to_string())
                })
                .collect(),
        ),
        Some("differs") => Expect::Differs(words.next().expect("header").to_string()),
        other => panic!("unknown expectation {other:?}"),
    }
}

fn read_case(path: &Path) -> Case {
    let source = std::fs::read_to_string(path).unwrap();
    let name = path.file_stem().unwrap().to_string_lossy().into_owned();
    let header = |key: &str| -> Vec<String> {
        source
            .lines()
            .take_while(|line| line.starts_with('#'))
            .filter_map(|line| line.strip_prefix(&format!("# {key}: ")))
            .map(str::to_string)
            .collect()
    };
    let limits = header("limits")
        .iter()
        .flat_map(|line| {
            line.split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .map(|pair| {
            let (key, value) = pair.split_once('=').expect("limit=value");
            (key.to_string(), value.to_string())
        })
        .collect();
    let case = Case {
        tries: header("tries").concat(),
        expects: header("expect").iter().map(|e| parse_expect(e)).collect(),
        limits,
        name,
        source,
    };
    assert!(
        !case.tries.is_empty() && !case.expects.is_empty(),
        "{}: needs `# tries:` and `# expect:` lines",
        case.name
    );
    case
}

/// Every case, sorted by file name.
pub(crate) fn all_cases() -> Vec<Case> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "py"))
        .collect();
    paths.sort();
    paths.iter().map(|path| read_case(path)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_table_lists_every_case() {
        let readme =
            std::fs::read_to_string(crate::harness::project_root().join("tests/escape/README.md"))
                .unwrap();
        let missing: Vec<String> = all_cases()
            .into_iter()
            .map(|case| case.name)
            .filter(|name| !readme.contains(&format!("`{name}`")))
            .collect();
        assert!(
            missing.is_empty(),
            "not in tests/escape/README.md: {missing:?}"
        );
    }

    #[test]
    fn expectations_parse() {
        assert_eq!(
            parse_expect("error fuel_exhausted|timeout"),
            Expect::Error {
                types: vec!["fuel_exhausted".into(), "timeout".into()],
                contains: String::new()
            }
        );
        assert_eq!(
            parse_expect("ok x-a=1 x-b=[]"),
            Expect::Ok(vec![
                ("x-a".into(), "1".into()),
                ("x-b".into(), "[]".into())
            ])
        );
    }
}
