//! The revocation set a gate consults on every verification: revoked writs (by jti),
//! principals and zones, the kill switch and the revocation epoch. Thread-safe.

use std::collections::{HashMap, HashSet};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use writ_model::{PrincipalId, ZoneId};

use crate::claims::WritClaims;
use crate::error::VerifyError;

#[derive(Default)]
struct State {
    /// jti → the time after which the entry is useless (the writ's exp plus leeway).
    jtis: HashMap<String, i64>,
    principals: HashSet<PrincipalId>,
    zones: HashSet<ZoneId>,
    kill_switch: bool,
    /// Writs issued (`iat`) before this time are refused.
    epoch: Option<i64>,
}

/// Revocations, fed by the control plane's event stream.
#[derive(Default)]
pub struct RevocationSet {
    state: RwLock<State>,
}

impl std::fmt::Debug for RevocationSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.read();
        f.debug_struct("RevocationSet")
            .field("jtis", &st.jtis.len())
            .field("principals", &st.principals.len())
            .field("zones", &st.zones.len())
            .field("kill_switch", &st.kill_switch)
            .field("epoch", &st.epoch)
            .finish()
    }
}

/// How much a [`RevocationSet`] holds, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RevocationCounts {
    pub jtis: usize,
    pub principals: usize,
    pub zones: usize,
    pub kill_switch: bool,
}

impl RevocationSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// What the set holds now.
    pub fn counts(&self) -> RevocationCounts {
        let st = self.read();
        RevocationCounts {
            jtis: st.jtis.len(),
            principals: st.principals.len(),
            zones: st.zones.len(),
            kill_switch: st.kill_switch,
        }
    }

    // Poisoning only means a writer panicked between statements; each statement leaves the
    // state consistent, so reading on is safe.
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Revokes one writ. `forget_after` is when it expires anyway (exp plus leeway); use
    /// `i64::MAX` when unknown.
    pub fn revoke_jti(&self, jti: &str, forget_after: i64) {
        self.write().jtis.insert(jti.to_owned(), forget_after);
    }

    pub fn revoke_principal(&self, principal: PrincipalId) {
        self.write().principals.insert(principal);
    }

    pub fn restore_principal(&self, principal: &PrincipalId) {
        self.write().principals.remove(principal);
    }

    pub fn revoke_zone(&self, zone: ZoneId) {
        self.write().zones.insert(zone);
    }

    pub fn restore_zone(&self, zone: &ZoneId) {
        self.write().zones.remove(zone);
    }

    /// Engages (true) or releases (false) the kill switch: while engaged, every writ is refused.
    pub fn set_kill_switch(&self, engaged: bool) {
        self.write().kill_switch = engaged;
    }

    /// Refuses every writ issued before `epoch` (only moves forward).
    pub fn raise_epoch(&self, epoch: i64) {
        let mut st = self.write();
        st.epoch = Some(st.epoch.map_or(epoch, |e| e.max(epoch)));
    }

    /// Drops jti revocations whose writs have expired anyway.
    pub fn prune(&self, now: i64) {
        self.write().jtis.retain(|_, until| *until > now);
    }

    /// Refuses `claims` if anything about it is revoked.
    pub fn check(&self, claims: &WritClaims) -> Result<(), VerifyError> {
        let st = self.read();
        if st.kill_switch {
            return Err(VerifyError::KillSwitch);
        }
        if let Some(epoch) = st.epoch
            && claims.iat < epoch
        {
            return Err(VerifyError::IssuedBeforeEpoch {
                iat: claims.iat,
                epoch,
            });
        }
        if st.jtis.contains_key(&claims.jti) {
            return Err(VerifyError::RevokedJti(claims.jti.clone()));
        }
        let chain = claims.act.iter().flat_map(|a| a.principals());
        if let Some(p) = std::iter::once(&claims.sub)
            .chain(chain)
            .find(|p| st.principals.contains(*p))
        {
            return Err(VerifyError::RevokedPrincipal(p.to_string()));
        }
        if st.zones.contains(&claims.env.zone) {
            return Err(VerifyError::RevokedZone(claims.env.zone.to_string()));
        }
        Ok(())
    }
}
