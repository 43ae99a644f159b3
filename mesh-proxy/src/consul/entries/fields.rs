//! Reading one object of an entry as mapstructure reads it into a Go struct: keys matched
//! case-insensitively with or without underscores (`PathPrefix`, `pathprefix`, `path_prefix`),
//! unknown keys rejected with their path, weak typing (`"true"` for a bool, `5` for a string, a
//! one-element list or a block where one value is expected).

use super::super::tree::{Item, Kind, Value};
use super::super::EntryError;

/// Where messages go: the file and the warnings so far.
pub(crate) struct Ctx<'a> {
    /// The file, for messages.
    pub file: &'a str,
    /// Warnings, each a sentence naming the file.
    pub warnings: Vec<String>,
}

impl Ctx<'_> {
    /// An error at `line` about `key`.
    pub(crate) fn error(&self, line: usize, key: &str, message: impl Into<String>) -> EntryError {
        EntryError {
            file: self.file.to_owned(),
            line: Some(line),
            key: (!key.is_empty()).then(|| key.to_owned()),
            message: message.into(),
        }
    }

    /// Add a warning about `key` at `line`.
    pub(crate) fn warn(&mut self, line: usize, key: &str, message: impl AsRef<str>) {
        let warning = format!("{}:{line}: key `{key}`: {}", self.file, message.as_ref());
        self.warnings.push(warning);
    }
}

/// One object's items, each matched to the canonical name Consul knows it by.
pub(crate) struct Fields<'v> {
    /// The object's key path (`Sources[1]`; empty at the top).
    pub path: String,
    /// The object's line.
    pub line: usize,
    /// Each item with the canonical name it matched.
    found: Vec<(&'static str, &'v Item)>,
}

/// How keys compare: case-insensitively, underscores ignored (Consul's aliases are the snake_case
/// spellings of its field names; mapstructure folds case).
pub(crate) fn normalize(key: &str) -> String {
    key.chars()
        .filter(|c| *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// `path.name`, or `name` at the top.
pub(crate) fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// The value, or its only element when it is a one-element list (HCL 1 makes every block a
/// list; Consul's `HookWeakDecodeFromSlice` unwraps them).
pub(crate) fn single(value: &Value) -> &Value {
    match &value.kind {
        Kind::List(items) if items.len() == 1 => &items[0],
        _ => value,
    }
}

impl<'v> Fields<'v> {
    /// Match `value`'s keys against `names`; any other key is an error, as Consul's
    /// `invalid config key`.
    pub(crate) fn read(
        ctx: &Ctx<'_>,
        value: &'v Value,
        path: &str,
        names: &[&'static str],
    ) -> Result<Fields<'v>, EntryError> {
        let value = single(value);
        let Kind::Object(object) = &value.kind else {
            let message = format!("expected an object, found {}", value.describe());
            return Err(ctx.error(value.line, path, message));
        };
        let mut found: Vec<(&'static str, &'v Item)> = Vec::new();
        for item in &object.items {
            let key = normalize(&item.key);
            let Some(name) = names.iter().find(|name| normalize(name) == key) else {
                let message = "unknown key (Consul rejects it as an invalid config key)";
                return Err(ctx.error(item.line, &join(path, &item.key), message));
            };
            if let Some((_, earlier)) = found.iter().find(|(n, _)| n == name) {
                let message = format!(
                    "given twice, as `{}` (line {}) and `{}`",
                    earlier.key, earlier.line, item.key
                );
                return Err(ctx.error(item.line, &join(path, name), message));
            }
            found.push((name, item));
        }
        Ok(Fields {
            path: path.to_owned(),
            line: value.line,
            found,
        })
    }

    /// The item for `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&'v Item> {
        self.found
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, item)| *item)
    }

    /// `name`'s key path.
    pub(crate) fn key(&self, name: &str) -> String {
        join(&self.path, name)
    }

    /// The line of `name`, or of the object when it is absent.
    pub(crate) fn line_of(&self, name: &str) -> usize {
        self.get(name).map_or(self.line, |item| item.line)
    }

    /// An error about `name`, at its line.
    pub(crate) fn error(
        &self,
        ctx: &Ctx<'_>,
        name: &str,
        message: impl Into<String>,
    ) -> EntryError {
        ctx.error(self.line_of(name), &self.key(name), message)
    }

    /// `name` as a string (numbers and booleans as Go's weak decoding spells them).
    pub(crate) fn string(&self, ctx: &Ctx<'_>, name: &str) -> Result<Option<String>, EntryError> {
        let Some(item) = self.get(name) else {
            return Ok(None);
        };
        let value = single(&item.value);
        match &value.kind {
            Kind::String(s) => Ok(Some(s.clone())),
            Kind::Int(i) => Ok(Some(i.to_string())),
            Kind::Float(f) => Ok(Some(f.to_string())),
            Kind::Bool(b) => Ok(Some(if *b { "1" } else { "0" }.to_owned())),
            _ => Err(self.error(
                ctx,
                name,
                format!("expected a string, found {}", value.describe()),
            )),
        }
    }

    /// `name` as a string; empty counts as absent (Go's zero value).
    pub(crate) fn non_empty(
        &self,
        ctx: &Ctx<'_>,
        name: &str,
    ) -> Result<Option<String>, EntryError> {
        Ok(self.string(ctx, name)?.filter(|s| !s.is_empty()))
    }

    /// `name` as a string that must be there and not empty.
    pub(crate) fn required(&self, ctx: &Ctx<'_>, name: &str) -> Result<String, EntryError> {
        self.non_empty(ctx, name)?
            .ok_or_else(|| self.error(ctx, name, "is required"))
    }

    /// `name` as a boolean (`"true"`, `"1"`, `1` as Go's strconv.ParseBool and weak decoding).
    pub(crate) fn bool(&self, ctx: &Ctx<'_>, name: &str) -> Result<Option<bool>, EntryError> {
        let Some(item) = self.get(name) else {
            return Ok(None);
        };
        let value = single(&item.value);
        let parsed = match &value.kind {
            Kind::Bool(b) => Some(*b),
            Kind::Int(i) => Some(*i != 0),
            Kind::Float(f) => Some(*f != 0.0),
            Kind::String(s) => match s.as_str() {
                "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
                "" | "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
                _ => None,
            },
            _ => None,
        };
        parsed.map(Some).ok_or_else(|| {
            let message = format!("expected true or false, found {}", value.describe());
            self.error(ctx, name, message)
        })
    }

    /// `name` as a list: a list, or one object (a single block; mapstructure wraps it).
    pub(crate) fn list(&self, ctx: &Ctx<'_>, name: &str) -> Result<Vec<&'v Value>, EntryError> {
        let Some(item) = self.get(name) else {
            return Ok(Vec::new());
        };
        match &item.value.kind {
            Kind::List(items) => Ok(items.iter().collect()),
            Kind::Object(_) => Ok(vec![&item.value]),
            _ => {
                let message = format!("expected a list, found {}", item.value.describe());
                Err(self.error(ctx, name, message))
            }
        }
    }

    /// `name` as a list of strings (one string is a list of one, as weak decoding has it).
    pub(crate) fn strings(
        &self,
        ctx: &Ctx<'_>,
        name: &str,
    ) -> Result<Vec<(String, usize)>, EntryError> {
        let Some(item) = self.get(name) else {
            return Ok(Vec::new());
        };
        let values: Vec<&Value> = match &item.value.kind {
            Kind::List(items) => items.iter().collect(),
            _ => vec![&item.value],
        };
        values
            .into_iter()
            .map(|value| match &value.kind {
                Kind::String(s) => Ok((s.clone(), value.line)),
                _ => {
                    let message = format!("expected a list of strings, found {}", value.describe());
                    Err(ctx.error(value.line, &self.key(name), message))
                }
            })
            .collect()
    }

    /// `name` as a map of strings (`Meta`): checked, not kept.
    pub(crate) fn string_map(&self, ctx: &Ctx<'_>, name: &str) -> Result<usize, EntryError> {
        let Some(item) = self.get(name) else {
            return Ok(0);
        };
        let value = single(&item.value);
        let Kind::Object(object) = &value.kind else {
            let message = format!("expected an object of strings, found {}", value.describe());
            return Err(self.error(ctx, name, message));
        };
        for entry in &object.items {
            let inner = single(&entry.value);
            if matches!(inner.kind, Kind::List(_) | Kind::Object(_)) {
                let message = format!("expected a string, found {}", inner.describe());
                return Err(ctx.error(
                    entry.line,
                    &format!("{}.{}", self.key(name), entry.key),
                    message,
                ));
            }
        }
        Ok(object.items.len())
    }

    /// `name` must not be there (or be empty): mesh-proxy does not implement it.
    pub(crate) fn unsupported(
        &self,
        ctx: &Ctx<'_>,
        name: &str,
        what: &str,
    ) -> Result<(), EntryError> {
        let Some(item) = self.get(name) else {
            return Ok(());
        };
        let empty = match &item.value.kind {
            Kind::String(s) => s.is_empty(),
            Kind::List(items) => items.is_empty(),
            Kind::Object(object) => object.items.is_empty(),
            _ => false,
        };
        if empty {
            return Ok(());
        }
        Err(self.error(ctx, name, format!("{what} is not supported by mesh-proxy")))
    }
}
