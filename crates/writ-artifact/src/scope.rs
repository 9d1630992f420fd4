//! What a writ lets its holder do beyond the single intent: how often it may be used, which
//! files the execution may touch, and what a child writ may be delegated.
//!
//! Delegation narrows: a child's scope must be a subset of its parent's
//! ([`Scope::check_child`]). Patterns are exact strings, or prefixes when they end in `*`
//! (`tool:github/*`); filesystem paths cover their whole subtree.

use serde::{Deserialize, Serialize};
use writ_model::{IntentDigest, ZoneId};

use crate::error::DelegationError;

/// The constraints a gate enforces (`scope` claim).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// How many times a gate may accept this writ (default 1).
    #[serde(default = "one")]
    pub max_uses: u32,
    /// Files the execution may read and write (the command runner turns these into Landlock
    /// rules). Absent: the writ says nothing about files and the gate's defaults apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs: Option<FsScope>,
    /// What a child writ minted from this one may do. Absent: no delegation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegate: Option<DelegationGrant>,
}

fn one() -> u32 {
    1
}

impl Default for Scope {
    fn default() -> Self {
        Self {
            max_uses: 1,
            fs: None,
            delegate: None,
        }
    }
}

/// Filesystem paths (absolute, each covering its subtree). Writing implies reading.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsScope {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub read: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub write: Vec<String>,
}

/// What may be delegated to a child writ.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DelegationGrant {
    /// Actions a child may perform (patterns).
    #[serde(default)]
    pub actions: Vec<Pattern>,
    /// Resources a child may act on (patterns).
    #[serde(default)]
    pub resources: Vec<Pattern>,
    /// Zones a child may run in.
    #[serde(default)]
    pub zones: Vec<ZoneId>,
}

/// An exact string, or a prefix pattern when it ends in `*` (`*` alone matches everything).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Pattern(String);

impl Pattern {
    /// Checks the form: non-empty, printable, `*` only as the last character.
    pub fn new(s: impl Into<String>) -> Result<Self, String> {
        let s = s.into();
        let body = s.strip_suffix('*').unwrap_or(&s);
        if s.is_empty() || s.len() > 512 {
            return Err(format!("pattern {s:?} must have 1 to 512 characters"));
        }
        if body.contains('*') || s.chars().any(char::is_control) {
            return Err(format!(
                "pattern {s:?} may hold '*' only at its end and no control characters"
            ));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn prefix(&self) -> Option<&str> {
        self.0.strip_suffix('*')
    }

    /// Whether the concrete string `s` is matched.
    pub fn matches(&self, s: &str) -> bool {
        match self.prefix() {
            Some(p) => s.starts_with(p),
            None => self.0 == s,
        }
    }

    /// Whether every string `other` matches is matched by `self`.
    pub fn covers(&self, other: &Pattern) -> bool {
        match (self.prefix(), other.prefix()) {
            (Some(p), Some(q)) => q.starts_with(p),
            (Some(p), None) => other.0.starts_with(p),
            (None, Some(_)) => false,
            (None, None) => self.0 == other.0,
        }
    }

    fn validate(&self) -> Result<(), String> {
        Self::new(self.0.clone()).map(|_| ())
    }
}

/// Checks an absolute, normalized path: `/`, or `/a/b` without empty, `.` or `..` parts.
pub fn validate_path(p: &str) -> Result<(), String> {
    if p == "/" {
        return Ok(());
    }
    let Some(rest) = p.strip_prefix('/') else {
        return Err(format!("path {p:?} must be absolute"));
    };
    if p.len() > 4096 || p.chars().any(char::is_control) {
        return Err(format!(
            "path {p:?} is too long or holds control characters"
        ));
    }
    if rest
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(format!(
            "path {p:?} must be normalized: no empty, '.' or '..' components, no trailing '/'"
        ));
    }
    Ok(())
}

/// Whether `parent` (a directory subtree) contains the path `child`.
pub fn path_covers(parent: &str, child: &str) -> bool {
    parent == "/"
        || child == parent
        || child
            .strip_prefix(parent)
            .is_some_and(|rest| rest.starts_with('/'))
}

impl FsScope {
    fn validate(&self) -> Result<(), String> {
        self.read
            .iter()
            .chain(self.write.iter())
            .try_for_each(|p| validate_path(p))
    }

    /// Whether everything `child` may touch, `self` may touch too.
    pub fn covers(&self, child: &FsScope) -> Result<(), String> {
        for w in &child.write {
            if !self.write.iter().any(|p| path_covers(p, w)) {
                return Err(format!("write path {w:?} is not writable by the parent"));
            }
        }
        for r in &child.read {
            if !self
                .read
                .iter()
                .chain(self.write.iter())
                .any(|p| path_covers(p, r))
            {
                return Err(format!("read path {r:?} is not readable by the parent"));
            }
        }
        Ok(())
    }
}

impl DelegationGrant {
    fn validate(&self) -> Result<(), String> {
        self.actions
            .iter()
            .chain(self.resources.iter())
            .try_for_each(Pattern::validate)
    }

    /// Whether `child` grants nothing that `self` does not.
    pub fn covers(&self, child: &DelegationGrant) -> Result<(), String> {
        for a in &child.actions {
            if !self.actions.iter().any(|p| p.covers(a)) {
                return Err(format!("delegable action {:?} is not in the parent's", a.0));
            }
        }
        for r in &child.resources {
            if !self.resources.iter().any(|p| p.covers(r)) {
                return Err(format!(
                    "delegable resource {:?} is not in the parent's",
                    r.0
                ));
            }
        }
        for z in &child.zones {
            if !self.zones.contains(z) {
                return Err(format!(
                    "delegable zone {:?} is not in the parent's",
                    z.as_str()
                ));
            }
        }
        Ok(())
    }
}

impl Scope {
    /// Checks the form of every part (`max_uses` ≥ 1, patterns, normalized absolute paths).
    pub fn validate(&self) -> Result<(), String> {
        if self.max_uses == 0 {
            return Err("max_uses must be at least 1".to_owned());
        }
        if let Some(fs) = &self.fs {
            fs.validate()?;
        }
        if let Some(d) = &self.delegate {
            d.validate()?;
        }
        Ok(())
    }

    /// Whether a child writ with `child` scope, for `intent` in `zone`, may be minted from a
    /// parent holding `self`: the child's action, resource and zone are delegated, its
    /// `max_uses` is no larger, its own delegation and files are subsets of the parent's.
    pub fn check_child(
        &self,
        child: &Scope,
        intent: &IntentDigest,
        zone: &ZoneId,
    ) -> Result<(), DelegationError> {
        let grant = self
            .delegate
            .as_ref()
            .ok_or(DelegationError::NotDelegable)?;
        if !grant.actions.iter().any(|p| p.matches(&intent.action)) {
            return Err(DelegationError::ActionNotDelegated(intent.action.clone()));
        }
        if !grant.resources.iter().any(|p| p.matches(&intent.resource)) {
            return Err(DelegationError::ResourceNotDelegated(
                intent.resource.clone(),
            ));
        }
        if !grant.zones.contains(zone) {
            return Err(DelegationError::ZoneNotDelegated(zone.as_str().to_owned()));
        }
        if child.max_uses > self.max_uses {
            return Err(DelegationError::MaxUsesExceeded {
                child: child.max_uses,
                parent: self.max_uses,
            });
        }
        if let Some(child_grant) = &child.delegate {
            grant
                .covers(child_grant)
                .map_err(DelegationError::ScopeNotSubset)?;
        }
        match (&self.fs, &child.fs) {
            (_, None) if self.fs.is_some() => Err(DelegationError::ScopeNotSubset(
                "the parent's files are restricted, so the child needs an fs scope too".to_owned(),
            )),
            (None, Some(_)) => Err(DelegationError::ScopeNotSubset(
                "the parent's writ names no files, so the child may not name any".to_owned(),
            )),
            (Some(p), Some(c)) => p.covers(c).map_err(DelegationError::ScopeNotSubset),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Pattern {
        Pattern::new(s).unwrap()
    }

    #[test]
    fn patterns_match_and_cover() {
        assert!(p("tool:github/*").matches("tool:github/create_issue"));
        assert!(!p("tool:github/*").matches("tool:gitlab/x"));
        assert!(p("*").covers(&p("anything*")));
        assert!(p("tool:*").covers(&p("tool:github/*")));
        assert!(!p("tool:github/*").covers(&p("tool:*")));
        assert!(!p("exec").covers(&p("exec*")));
        assert!(Pattern::new("a*b").is_err());
        assert!(Pattern::new("").is_err());
    }

    #[test]
    fn paths_cover_subtrees_only() {
        assert!(path_covers("/srv", "/srv/data"));
        assert!(!path_covers("/srv", "/srvx"));
        assert!(path_covers("/", "/etc"));
        assert!(validate_path("/a/../b").is_err());
        assert!(validate_path("a/b").is_err());
        assert!(validate_path("/a/").is_err());
        assert!(validate_path("/a/b").is_ok());
    }
}
