//! VRRP time units and the protocol's timer arithmetic.
//!
//! The wire carries the advertisement interval in whole seconds (v2, 8 bits) or in centiseconds
//! (v3, 12 bits). Inside rampart every interval is a [`Centis`]; v2 seconds are converted at the
//! codec edge. Derived intervals (skew, master down) need finer resolution than a centisecond
//! (skew is interval × (256 − priority) / 256), so they are computed in microseconds and
//! returned as [`Duration`], like keepalived does.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::packet::Version;
use std::time::Duration;

/// An interval in centiseconds (1/100 s), the unit of VRRPv3's Max Adver Int field.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Centis(pub u16);

impl Centis {
    /// The largest value the 12-bit VRRPv3 field can carry (40.95 s).
    pub const V3_MAX: Centis = Centis(0x0fff);

    pub fn from_secs(secs: u8) -> Centis {
        Centis(u16::from(secs) * 100)
    }

    /// Whole seconds if this interval is a whole number of seconds (what VRRPv2 can carry).
    pub fn as_whole_secs(self) -> Option<u8> {
        if self.0 % 100 == 0 {
            u8::try_from(self.0 / 100).ok()
        } else {
            None
        }
    }

    pub fn as_duration(self) -> Duration {
        Duration::from_millis(u64::from(self.0) * 10)
    }

    /// Rounds down to whole centiseconds; saturates at `u16::MAX`.
    pub fn from_duration(d: Duration) -> Centis {
        Centis(u16::try_from(d.as_millis() / 10).unwrap_or(u16::MAX))
    }

    pub fn as_micros(self) -> u64 {
        u64::from(self.0) * 10_000
    }
}

impl fmt::Display for Centis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}s", self.0 / 100, self.0 % 100)
    }
}

/// RFC 5798 §6.1 timers derived from the master's advertisement interval and our priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// Skew_Time = ((256 − Priority) × Master_Adver_Interval) / 256.
    pub skew: Duration,
    /// Master_Down_Interval = 3 × Master_Adver_Interval + Skew_Time.
    pub master_down: Duration,
}

/// The one place skew time and master down interval are computed, in microseconds, truncating
/// as keepalived does.
///
/// VRRPv2 (RFC 3768 §6.1): Skew_Time = (256 − Priority) / 256 *seconds*, whatever the advert
/// interval. VRRPv3 (RFC 5798 §6.1): Skew_Time = ((256 − Priority) × Master_Adver_Interval) / 256.
/// Both: Master_Down_Interval = 3 × Master_Adver_Interval + Skew_Time.
pub fn timers(version: Version, master_adver_int: Centis, priority: u8) -> Timers {
    timers_with(version, master_adver_int, priority, 3)
}

/// [`timers`] with keepalived's `down_timer_adverts`: Master_Down_Interval =
/// `down_adverts` × Master_Adver_Interval + Skew_Time (RFC value: 3).
pub fn timers_with(
    version: Version,
    master_adver_int: Centis,
    priority: u8,
    down_adverts: u32,
) -> Timers {
    let adver_us = master_adver_int.as_micros();
    let skew_us = match version {
        Version::V2 => (256 - u64::from(priority)) * 1_000_000 / 256,
        Version::V3 => (256 - u64::from(priority)) * adver_us / 256,
    };
    Timers {
        skew: Duration::from_micros(skew_us),
        master_down: Duration::from_micros(u64::from(down_adverts) * adver_us + skew_us),
    }
}

/// Serialise a [`Duration`] as whole microseconds (conformance files stay readable and exact).
pub mod duration_us {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_micros(u64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skew_and_master_down_v3() {
        // keepalived: ((256 - p) * centis * 625) / 16 µs.
        let t = timers(Version::V3, Centis(100), 150);
        assert_eq!(t.skew, Duration::from_micros(414_062));
        assert_eq!(t.master_down, Duration::from_micros(3_414_062));
        let t = timers(Version::V3, Centis(10), 100);
        assert_eq!(t.skew, Duration::from_micros(60_937));
        assert_eq!(t.master_down, Duration::from_micros(360_937));
        let t = timers(Version::V3, Centis(100), 255);
        assert_eq!(t.skew, Duration::from_micros(3_906));
    }

    #[test]
    fn skew_v2_is_independent_of_the_interval() {
        let t = timers(Version::V2, Centis(300), 100);
        assert_eq!(t.skew, Duration::from_micros(609_375));
        assert_eq!(t.master_down, Duration::from_micros(9_609_375));
    }

    #[test]
    fn centis_conversions() {
        assert_eq!(Centis::from_secs(3), Centis(300));
        assert_eq!(Centis(300).as_whole_secs(), Some(3));
        assert_eq!(Centis(150).as_whole_secs(), None);
        assert_eq!(
            Centis::from_duration(Duration::from_millis(100)),
            Centis(10)
        );
        assert_eq!(Centis(5).to_string(), "0.05s");
    }
}
