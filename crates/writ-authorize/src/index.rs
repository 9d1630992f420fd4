//! The scope index: only policies whose scope can match a request are evaluated.
//!
//! A policy whose action scope is `action == A` or `action in [G…]` can only be satisfied by a
//! request whose action is A (or a descendant of some G in the schema's action hierarchy);
//! `principal == P` and `resource == R` likewise pin the request's principal and resource.
//! Policies are partitioned on those keys, with general partitions for the unconstrained or
//! hierarchy-dependent (`in`, `is`) scopes. A Cedar decision is a function of the set of
//! satisfied policies and the set of erroring policies, and a policy outside the candidate
//! partitions can be neither for the request, so evaluating the candidates is exact.

use std::collections::HashMap;

use cedar_policy::{
    ActionConstraint, EntityUid, Policy, PolicySet, PrincipalConstraint, ResourceConstraint, Schema,
};

use crate::error::BundleError;

/// The policies of one action key, split by what else their scope pins.
#[derive(Debug, Default)]
struct Cell {
    by_principal: HashMap<EntityUid, PolicySet>,
    by_resource: HashMap<EntityUid, PolicySet>,
    rest: Option<PolicySet>,
    /// Whether every `by_resource` set also holds the `rest` policies (see `finish`).
    rest_merged: bool,
}

/// Up to this many general policies are copied into each resource partition, so the common
/// request needs one Cedar call instead of two; beyond it the copies would cost too much memory.
const MERGE_LIMIT: usize = 32;

impl Cell {
    fn add(&mut self, p: &Policy) -> Result<(), BundleError> {
        let set = match (p.resource_constraint(), p.principal_constraint()) {
            (ResourceConstraint::Eq(r), _) => self.by_resource.entry(r).or_default(),
            (_, PrincipalConstraint::Eq(pr)) => self.by_principal.entry(pr).or_default(),
            _ => self.rest.get_or_insert_with(PolicySet::new),
        };
        set.add(p.clone())
            .map_err(|e| BundleError::Internal(e.to_string()))
    }

    /// Copies a small `rest` into every resource partition.
    fn finish(&mut self) -> Result<(), BundleError> {
        let Some(rest) = &self.rest else {
            return Ok(());
        };
        if rest.policies().count() > MERGE_LIMIT {
            return Ok(());
        }
        for set in self.by_resource.values_mut() {
            for p in rest.policies() {
                set.add(p.clone())
                    .map_err(|e| BundleError::Internal(e.to_string()))?;
            }
        }
        self.rest_merged = true;
        Ok(())
    }

    fn candidates<'a>(
        &'a self,
        principal: &EntityUid,
        resource: &EntityUid,
        out: &mut Vec<&'a PolicySet>,
    ) {
        let pinned = self.by_resource.get(resource);
        if let Some(s) = pinned {
            out.push(s);
        }
        if let Some(s) = self.by_principal.get(principal) {
            out.push(s);
        }
        if let Some(s) = &self.rest
            && !(self.rest_merged && pinned.is_some())
        {
            out.push(s);
        }
    }
}

/// Policies partitioned by the scope they name.
#[derive(Debug, Default)]
pub(crate) struct ScopeIndex {
    by_action: HashMap<EntityUid, Cell>,
    any_action: Cell,
}

impl ScopeIndex {
    pub(crate) fn build(policies: &PolicySet, schema: &Schema) -> Result<Self, BundleError> {
        let action_entities = schema
            .action_entities()
            .map_err(|e| BundleError::Internal(e.to_string()))?;
        let actions: Vec<EntityUid> = schema.actions().cloned().collect();
        let mut index = ScopeIndex::default();
        for p in policies.policies() {
            match p.action_constraint() {
                ActionConstraint::Eq(a) => index.by_action.entry(a).or_default().add(p)?,
                ActionConstraint::In(groups) => {
                    // Every concrete action that is one of the groups or descends from one.
                    let keys: Vec<&EntityUid> = actions
                        .iter()
                        .filter(|a| {
                            groups
                                .iter()
                                .any(|g| g == *a || action_entities.is_ancestor_of(g, a))
                        })
                        .collect();
                    if keys.is_empty() {
                        // Cannot apply to any declared action; keep it where it is always
                        // evaluated rather than reason about it.
                        index.any_action.add(p)?;
                    }
                    for a in keys {
                        index.by_action.entry(a.clone()).or_default().add(p)?;
                    }
                }
                ActionConstraint::Any => index.any_action.add(p)?,
            }
        }
        // Copy the any-action policies into every action cell (and give every declared
        // action a cell), so a request looks in exactly one cell: fewer Cedar calls.
        for a in &actions {
            index.by_action.entry(a.clone()).or_default();
        }
        let general: Vec<&Policy> = policies
            .policies()
            .filter(|p| matches!(p.action_constraint(), ActionConstraint::Any))
            .collect();
        for cell in index.by_action.values_mut() {
            for p in &general {
                cell.add(p)?;
            }
            cell.finish()?;
        }
        index.any_action.finish()?;
        Ok(index)
    }

    /// The policy sets that together hold every policy that can apply to the request.
    /// Each policy appears in at most one of them.
    pub(crate) fn candidates<'a>(
        &'a self,
        principal: &EntityUid,
        action: &EntityUid,
        resource: &EntityUid,
    ) -> Vec<&'a PolicySet> {
        let mut out = Vec::with_capacity(3);
        // A cell holds its action's policies and the any-action ones; an action no policy
        // names and the schema does not declare only meets the any-action policies.
        self.by_action
            .get(action)
            .unwrap_or(&self.any_action)
            .candidates(principal, resource, &mut out);
        out
    }
}
