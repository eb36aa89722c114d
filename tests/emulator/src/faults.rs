//! Fault injection: [`Fault`] = "the next `times` requests to [`Endpoint`] get
//! [`FaultAction`]". Faults are matched in insertion order; each match counts one down and a
//! spent fault disappears. [`FaultAction::ItemStatus`] counts batchCreate *items*, not calls.
//! [`Chaos`] adds seeded random faults for soak runs. Injected faults never count as client
//! violations: they are the server misbehaving on purpose.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Which requests a fault applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// Every request except the `/__emulator/` control API.
    Any,
    /// `POST /v1/uploads` with `X-Goog-Upload-Protocol: raw`.
    RawUpload,
    /// `POST /v1/uploads` with `X-Goog-Upload-Command: start`.
    ResumableStart,
    /// Any `upload`, `upload, finalize` or `finalize` on a session URL.
    ResumableUpload,
    /// Only session requests whose command includes `finalize`.
    ResumableFinalize,
    /// `query` on a session URL.
    Query,
    /// `cancel` on a session URL.
    Cancel,
    BatchCreate,
    AlbumsCreate,
    AlbumsList,
    AlbumsGet,
    AlbumsBatchAdd,
    MediaItemsList,
    MediaItemsGet,
    MediaItemsBatchGet,
    MediaItemsSearch,
    /// `POST /token` (both grants).
    Token,
    /// `GET /o/oauth2/v2/auth`.
    Authorize,
    Revoke,
}

/// What happens to a matched request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultAction {
    /// Answer `code` with Google's JSON error envelope (canonical status name, Google-like
    /// message) and an optional `Retry-After` in seconds.
    Status { code: u16, retry_after: Option<u64> },
    /// 429 with the `ApiCallsPerProjectPerDay` body.
    DailyQuota,
    /// 429 with the `WritesPerMinutePerUser` body.
    WriteQuota,
    /// 400 with Google's storage-full text.
    StorageFull,
    /// Read this many body bytes, then drop the connection without any response. A
    /// resumable session keeps the received bytes rounded down to the granularity.
    CutAfter(u64),
    /// Do the work completely, then drop the connection without a response.
    DropResponse,
    /// Wait this long (real time) before handling the request normally.
    Stall(#[serde(with = "millis")] Duration),
    /// batchCreate only: the next `times` items get this per-item status inside a 200.
    ItemStatus { code: i32, message: String },
    /// The request's access token expires now, before the request is authenticated: the
    /// request (and every later one with that token) gets the endpoint's ordinary
    /// expired-token answer. Models an hour passing mid-run without moving the clock.
    ExpireAccessToken,
}

/// One scripted fault.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    pub on: Endpoint,
    #[serde(default = "one")]
    pub times: u32,
    pub action: FaultAction,
}

fn one() -> u32 {
    1
}

impl Fault {
    /// A fault that fires once.
    pub fn new(on: Endpoint, action: FaultAction) -> Fault {
        Fault {
            on,
            times: 1,
            action,
        }
    }

    /// Fire `n` times (items, for [`FaultAction::ItemStatus`]).
    pub fn times(mut self, n: u32) -> Fault {
        self.times = n;
        self
    }
}

/// Seeded random faults: each request matching `on` gets, with `probability`, one of
/// `actions` (chosen uniformly). Same seed + same request sequence = same faults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Chaos {
    pub seed: u64,
    pub probability: f64,
    pub on: Endpoint,
    pub actions: Vec<FaultAction>,
}

/// What the classifier knows about a request, for matching.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Target {
    /// `None` for requests only [`Endpoint::Any`] matches (sharing, unknown paths).
    pub endpoint: Option<Endpoint>,
    /// A session request whose command includes `finalize`.
    pub finalizes: bool,
}

impl Endpoint {
    pub(crate) fn matches(self, target: Target) -> bool {
        self == Endpoint::Any
            || Some(self) == target.endpoint
            || (self == Endpoint::ResumableFinalize && target.finalizes)
    }
}

/// The live fault list plus the chaos generator.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    list: Vec<Fault>,
    chaos: Option<(Chaos, StdRng)>,
}

impl Faults {
    pub(crate) fn push(&mut self, fault: Fault) {
        if fault.times > 0 {
            self.list.push(fault);
        }
    }

    pub(crate) fn clear(&mut self) {
        self.list.clear();
        self.chaos = None;
    }

    pub(crate) fn set_chaos(&mut self, chaos: Option<Chaos>) {
        self.chaos = chaos.map(|c| {
            let rng = StdRng::seed_from_u64(c.seed);
            (c, rng)
        });
    }

    /// Takes the first request-level fault (anything but `ItemStatus`) matching `target`.
    pub(crate) fn take_request_fault(&mut self, target: Target) -> Option<FaultAction> {
        let pos = self.list.iter().position(|f| {
            f.on.matches(target) && !matches!(f.action, FaultAction::ItemStatus { .. })
        });
        if let Some(pos) = pos {
            return Some(self.consume(pos));
        }
        let (chaos, rng) = self.chaos.as_mut()?;
        if chaos.actions.is_empty() || !chaos.on.matches(target) {
            return None;
        }
        if rng.random_bool(chaos.probability.clamp(0.0, 1.0)) {
            let i = rng.random_range(0..chaos.actions.len());
            let action = chaos.actions[i].clone();
            if !matches!(action, FaultAction::ItemStatus { .. }) {
                return Some(action);
            }
        }
        None
    }

    /// Takes one item's worth of the first `ItemStatus` fault, if any (batchCreate items).
    pub(crate) fn take_item_status(&mut self) -> Option<(i32, String)> {
        let pos = self.list.iter().position(|f| {
            matches!(f.action, FaultAction::ItemStatus { .. })
                && f.on.matches(Target {
                    endpoint: Some(Endpoint::BatchCreate),
                    finalizes: false,
                })
        })?;
        match self.consume(pos) {
            FaultAction::ItemStatus { code, message } => Some((code, message)),
            _ => None,
        }
    }

    fn consume(&mut self, pos: usize) -> FaultAction {
        let fault = &mut self.list[pos];
        fault.times -= 1;
        let action = fault.action.clone();
        if fault.times == 0 {
            self.list.remove(pos);
        }
        action
    }

    pub(crate) fn pending(&self) -> Vec<Fault> {
        self.list.clone()
    }
}

/// `Duration` as integer milliseconds, so control-API JSON stays readable.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_json_shape_is_readable() {
        let f = Fault::new(
            Endpoint::BatchCreate,
            FaultAction::Stall(Duration::from_secs(2)),
        );
        let json = serde_json::to_value(&f).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"on":"batch_create","times":1,"action":{"stall":2000}})
        );
        let back: Fault = serde_json::from_str(
            r#"{"on":"any","action":{"status":{"code":503,"retry_after":null}}}"#,
        )
        .unwrap();
        assert_eq!(back.times, 1);
    }

    #[test]
    fn finalize_fault_matches_only_finalizing_chunks() {
        let mut faults = Faults::default();
        faults.push(Fault::new(
            Endpoint::ResumableFinalize,
            FaultAction::DropResponse,
        ));
        let chunk = Target {
            endpoint: Some(Endpoint::ResumableUpload),
            finalizes: false,
        };
        assert!(faults.take_request_fault(chunk).is_none());
        let last = Target {
            finalizes: true,
            ..chunk
        };
        assert_eq!(
            faults.take_request_fault(last),
            Some(FaultAction::DropResponse)
        );
        assert!(faults.take_request_fault(last).is_none());
    }
}
