//! What a full load of a policy on the shared runtime found out from its
//! component's bytes, enough to load it again without them: the runtime's
//! and the image's artifact keys and the policy's own globals.
//!
//! Reading and hashing a 24 MB component is most of a cold load; the
//! dispatcher keeps these keys beside the component file's stamp
//! (`dispatch::load_record`) and loads an unchanged file from them.

use super::split::Globals;

/// The artifact keys and globals of one policy on the shared runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeKeys {
    /// The compiled runtime's key.
    pub runtime: String,
    /// The policy image's key (its delta's record is stored under it).
    pub image: String,
    /// The adapter module's globals, as `(index, value)`.
    pub globals: Globals,
}

impl CodeKeys {
    /// One line per item: `runtime KEY`, `image KEY`, `global INDEX VALUE`.
    pub fn to_text(&self) -> String {
        let mut text = format!("runtime {}\nimage {}\n", self.runtime, self.image);
        for (index, value) in &self.globals {
            text.push_str(&format!("global {index} {value}\n"));
        }
        text
    }

    /// The keys in `lines` ([`Self::to_text`]'s), or `None` when a line is
    /// not one of its or a key is missing.
    pub fn parse<'a>(lines: impl IntoIterator<Item = &'a str>) -> Option<CodeKeys> {
        let (mut runtime, mut image, mut globals) = (None, None, Vec::new());
        for line in lines {
            let mut words = line.split(' ');
            match (words.next()?, words.next()?, words.next()) {
                ("runtime", key, None) if is_key(key) => runtime = Some(key.to_owned()),
                ("image", key, None) if is_key(key) => image = Some(key.to_owned()),
                ("global", index, Some(value)) => {
                    globals.push((index.parse().ok()?, value.parse().ok()?));
                }
                _ => return None,
            }
            if words.next().is_some() {
                return None;
            }
        }
        Some(CodeKeys {
            runtime: runtime?,
            image: image?,
            globals,
        })
    }
}

/// Whether `key` can be an artifact key (and so a file name in the cache).
fn is_key(key: &str) -> bool {
    !key.is_empty() && (key.bytes()).all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> CodeKeys {
        CodeKeys {
            runtime: "ab12-wasmtime-48_0_8-x".into(),
            image: "cd34-wasmtime-48_0_8-x".into(),
            globals: vec![(0, 1_048_576), (3, -7)],
        }
    }

    #[test]
    fn keys_read_back_as_written() {
        let text = keys().to_text();
        assert_eq!(CodeKeys::parse(text.lines()), Some(keys()));
    }

    #[test]
    fn anything_else_is_refused() {
        let text = keys().to_text();
        for bad in [
            text.replace("runtime ", "runtimes "),
            text.replace("image cd34", "image ../cd34"),
            text.replace("global 3 -7", "global 3"),
            text.replace("global 3 -7", "global 3 -7 8"),
            text.replace("global 3 -7", "global x -7"),
            text.replacen("runtime ab12-wasmtime-48_0_8-x\n", "", 1),
        ] {
            assert_eq!(CodeKeys::parse(bad.lines()), None, "{bad}");
        }
    }
}
