//! `requirements.txt`: only plain registry requirements are accepted.
//!
//! pip would follow `-r other.txt`, `-e ../path`, `file:` URLs and direct
//! references to any URL; each could pull host files or unreviewed code into
//! the component. A package may only name registry packages with optional
//! extras, version specifiers and environment markers.

/// One accepted requirement line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The distribution name.
    pub name: String,
    /// The line as pip receives it (comments stripped).
    pub spec: String,
}

/// A line of `requirements.txt` that is not a plain registry requirement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("requirements.txt line {line}: {reason}: {text:?}")]
pub struct RequirementError {
    /// 1-based line number.
    pub line: usize,
    /// The offending text.
    pub text: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

fn strip_comment(line: &str) -> &str {
    let cut = line
        .char_indices()
        .find(|&(i, c)| c == '#' && (i == 0 || line[..i].ends_with(char::is_whitespace)))
        .map_or(line.len(), |(i, _)| i);
    line[..cut].trim()
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._-".contains(c)
}

/// Parses `requirements.txt`, refusing anything but registry requirements.
pub fn parse_requirements(text: &str) -> Result<Vec<Requirement>, RequirementError> {
    let mut requirements = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let spec = strip_comment(raw);
        if spec.is_empty() {
            continue;
        }
        let error = |reason| RequirementError {
            line: index + 1,
            text: spec.to_string(),
            reason,
        };
        if spec.starts_with('-') {
            return Err(error(
                "pip options (-r, -e, --index-url, …) are not allowed; list package names only",
            ));
        }
        let requirement = spec.split(';').next().unwrap_or_default();
        if requirement.contains(['/', '\\', '@']) || requirement.contains("://") {
            return Err(error(
                "local paths, URLs and direct references are not allowed; name a package from the registry",
            ));
        }
        let name: String = requirement
            .chars()
            .take_while(|&c| is_name_char(c))
            .collect();
        if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(error("not a package name"));
        }
        let rest = requirement[name.len()..].trim_start();
        let specifier_ok = rest.is_empty() || rest.starts_with(['[', '=', '<', '>', '!', '~', '(']);
        if !specifier_ok {
            return Err(error(
                "not a package name with an optional version specifier",
            ));
        }
        requirements.push(Requirement {
            name,
            spec: spec.to_string(),
        });
    }
    Ok(requirements)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_names_specifiers_extras_and_markers() {
        let parsed = parse_requirements(
            "# comment\njsonschema==4.17.3  # pinned\nattrs>=22 ; python_version >= \"3.8\"\nrequests[socks]~=2.0\n\n",
        )
        .unwrap();
        let names: Vec<_> = parsed.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["jsonschema", "attrs", "requests"]);
        assert_eq!(parsed[0].spec, "jsonschema==4.17.3");
    }

    #[test]
    fn refuses_paths_urls_and_options() {
        for line in [
            "-r other.txt",
            "-e ../lib",
            "--index-url https://example.invalid/simple",
            "./local_pkg",
            "/abs/path",
            "pkg @ https://example.invalid/pkg.whl",
            "file:///etc/passwd",
            "git+https://example.invalid/x.git",
        ] {
            let error = parse_requirements(line).unwrap_err();
            assert_eq!(error.line, 1, "{line}");
        }
    }
}
