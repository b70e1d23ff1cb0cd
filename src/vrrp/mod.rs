//! VRRP: a pure protocol core ([`packet`], [`auth`], [`time`], [`fsm`], [`sync`], [`node`])
//! and an I/O shell ([`service`] and the socket/netlink modules) that executes its actions.
//!
//! # How the shell drives the core
//!
//! The core keeps no clock, opens no socket and never sleeps. The shell:
//!
//! 1. Builds a [`Node`] with [`Node::from_config`] (or one [`Instance`] per
//!    `vrrp_instance` with [`Instance::from_config`] plus a [`SyncGroupCore`] per group).
//! 2. Sends each instance [`Input::LocalAddress`] (the source address it will send from:
//!    `unicast_src_ip`/`mcast_src_ip`, else the interface's primary address), then
//!    [`Input::LinkChanged`] with the current link state, the initial `TrackInterface` /
//!    `TrackScript` results it already knows, then [`Input::Startup`].
//! 3. Decodes every received packet with [`packet::decode_ipv4`] (raw IPv4 socket, header
//!    included; [`packet::decode_ipv4_with`] with `DecodeOptions { unicast: true }` on sockets
//!    of instances with `unicast_peer`s) or [`packet::decode_ipv6`] (payload + source,
//!    destination, hop limit from ancillary data) and hands the *result* — errors included, so
//!    they are counted — to the instance with that VRID on that interface as
//!    [`Input::AdvertReceived`]. Packets for a VRID no instance owns, or too broken to carry a
//!    VRID, are the shell's to count.
//! 4. Executes the returned [`Action`]s in order:
//!    - `ArmTimer { timer, after }`: (re)arm that instance's timer of that kind to fire at
//!      `now + after`, `now` being the instant passed to the `step` that returned it; a kind
//!      has at most one pending expiry, re-arming replaces it. `DisarmTimer` cancels it.
//!      On expiry, feed [`Input::TimerExpired`] with the same kind and the current instant.
//!    - `SendAdvert { packet, ah_seq }`: encode with [`packet::encode_ipv4`] (IP_HDRINCL,
//!      required for AH: pass `AhParams { key, seq: ah_seq, unicast }` with the key from
//!      [`Instance::auth`]; the IP id counts 1, 2, 3… per instance like keepalived's) or
//!      [`packet::encode_vrrp`] for IPv6, and send to the multicast group or to each unicast
//!      peer (same `ah_seq` for every peer; the destination is part of the v3 checksum and of
//!      the ICV), TTL/hop limit 255.
//!    - `AddVips` / `DelVips`: add / remove the instance's VIPs, excluded VIPs, routes and
//!      rules; `SendGratuitous { repeat }`: that many GARPs / unsolicited NAs per VIP.
//!    - `Notify(transition)`: notify scripts (in order, one at a time per instance), the
//!      [`crate::events::Event`] channel. `CountDrop` / `Log`: metrics and logs.
//!    - `SyncWantMaster` / `SyncMemberFault`: only meaningful to the sync coordinator;
//!      [`Node`] handles them.
//!
//! Design decisions and keepalived comparisons: docs/vrrp-core.md.
//! 5. Feeds link, tracked interface and vrrp_script changes as inputs, and
//!    [`Input::Shutdown`] on SIGTERM (a MASTER answers with a priority-0 advert and `DelVips`).
//!
//! With a [`Node`], the shell calls [`Node::step`] (one instance) or [`Node::step_all`] and
//! gets [`NodeAction`]s, already including everything the sync groups decided.

pub mod addr;
pub mod auth;
pub mod fsm;
pub mod garp;
pub mod link;
pub mod net;
pub mod nft;
pub mod node;
pub mod notify;
pub mod packet;
pub mod script;
pub mod service;
pub mod sync;
pub mod time;
pub mod track_file;
pub mod track_process;
pub mod vmac;

pub use auth::Auth;
pub use fsm::{
    Action, Counters, Input, Instance, InstanceParams, InstanceStatus, LogLevel, SetupError,
    SyncCommand, TimerKind, Tracked, TrackedFile, Transition, TransitionReason, VrrpState,
};
pub use node::{Node, NodeAction};
pub use packet::{
    AhHeader, DecodeError, DropReason, EncodeError, ReceivedAdvert, Version, VrrpPacket,
};
pub use sync::{GroupTransition, SyncGroupCore, SyncOutput};
pub use time::Centis;
