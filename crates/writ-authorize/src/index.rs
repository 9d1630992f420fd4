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
}

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

    fn candidates<'a>(
        &'a self,
        principal: &EntityUid,
        resource: &EntityUid,
        out: &mut Vec<&'a PolicySet>,
    ) {
        if let Some(s) = self.by_resource.get(resource) {
            out.push(s);
        }
        if let Some(s) = self.by_principal.get(principal) {
            out.push(s);
        }
        if let Some(s) = &self.rest {
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
        let mut out = Vec::with_capacity(6);
        if let Some(cell) = self.by_action.get(action) {
            cell.candidates(principal, resource, &mut out);
        }
        self.any_action.candidates(principal, resource, &mut out);
        out
    }
}
