//! A reading of firewall rules good enough for doctor's questions ("does a rule drop VRRP?",
//! "does a stateful rule match IPVS traffic?"), from `iptables-save` and `nft list ruleset`
//! text. It is not a packet classifier: it extracts protocol, addresses, verdict and whether a
//! rule depends on connection tracking, and keeps the line for the report. Total: any text
//! parses, lines it does not understand are ignored.

use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Iptables,
    Ip6tables,
    Nft,
}

impl Origin {
    pub fn label(self) -> &'static str {
        match self {
            Origin::Iptables => "iptables",
            Origin::Ip6tables => "ip6tables",
            Origin::Nft => "nft",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    Drop,
    Reject,
    /// A jump to a user chain, a mark, a NAT target, a log...
    Other(String),
    /// No verdict (counter-only rule).
    None,
}

impl Verdict {
    pub fn blocks(&self) -> bool {
        matches!(self, Verdict::Drop | Verdict::Reject)
    }
}

/// A protocol or address match, with negation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    Any,
    Is(Vec<String>),
    Not(Vec<String>),
}

impl Match {
    fn from(negated: bool, values: Vec<String>) -> Match {
        if negated {
            Match::Not(values)
        } else {
            Match::Is(values)
        }
    }
    /// The match certainly covers `pred`-satisfying values (an `Is` with one that satisfies).
    pub fn names(&self, pred: impl Fn(&str) -> bool) -> bool {
        matches!(self, Match::Is(v) if v.iter().any(|x| pred(x)))
    }
    /// The match may cover a value satisfying `pred`: Any, an `Is` naming it, or a `Not` that
    /// does not exclude it.
    pub fn may_cover(&self, pred: impl Fn(&str) -> bool) -> bool {
        match self {
            Match::Any => true,
            Match::Is(v) => v.iter().any(|x| pred(x)),
            Match::Not(v) => !v.iter().any(|x| pred(x)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub origin: Origin,
    pub table: String,
    pub chain: String,
    /// The rule as printed by the tool, for the report.
    pub line: String,
    pub proto: Match,
    pub daddr: Match,
    pub saddr: Match,
    /// `-i IF` / `iifname IF`.
    pub iif: Option<String>,
    pub verdict: Verdict,
    /// Uses connection tracking: nat table, `-m state/conntrack`, `ct ...`, NAT targets.
    pub stateful: bool,
    /// Uses the ipvs match (`-m ipvs`, xt ipvs).
    pub ipvs_match: bool,
    /// Has other qualifiers (ports, marks, limits, other modules) that narrow what it matches.
    pub narrowed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub origin: Origin,
    pub table: String,
    pub name: String,
    /// The netfilter hook: iptables built-in chains by name, nft base chains by `hook`.
    pub hook: Option<String>,
    pub policy: Option<Verdict>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ruleset {
    pub rules: Vec<Rule>,
    pub chains: Vec<Chain>,
}

impl Ruleset {
    pub fn rules_in<'a>(&'a self, chain: &'a Chain) -> impl Iterator<Item = &'a Rule> + 'a {
        self.rules.iter().filter(move |r| {
            r.origin == chain.origin && r.table == chain.table && r.chain == chain.name
        })
    }
}

fn verdict_of(target: &str) -> Verdict {
    match target.to_ascii_uppercase().as_str() {
        "ACCEPT" => Verdict::Accept,
        "DROP" => Verdict::Drop,
        "REJECT" => Verdict::Reject,
        other => Verdict::Other(other.to_string()),
    }
}

fn list(v: &str) -> Vec<String> {
    v.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.to_ascii_lowercase())
        .collect()
}

const CONNTRACK_MODULES: [&str; 5] = ["state", "conntrack", "connmark", "connlimit", "helper"];
const NAT_TARGETS: [&str; 5] = ["MASQUERADE", "SNAT", "DNAT", "REDIRECT", "NETMAP"];

/// Parse `iptables-save` / `ip6tables-save` output.
pub fn parse_iptables_save(text: &str, origin: Origin, into: &mut Ruleset) {
    let mut table = String::new();
    for raw in text.lines() {
        let line = raw.trim();
        if let Some(t) = line.strip_prefix('*') {
            table = t.to_string();
        } else if let Some(decl) = line.strip_prefix(':') {
            // `:INPUT DROP [0:0]` (built-in, with policy) or `:MYCHAIN - [0:0]`.
            let mut parts = decl.split_whitespace();
            let name = parts.next().unwrap_or_default().to_string();
            let policy = parts.next().filter(|p| *p != "-").map(verdict_of);
            let hook = matches!(
                name.as_str(),
                "INPUT" | "OUTPUT" | "FORWARD" | "PREROUTING" | "POSTROUTING"
            )
            .then(|| name.to_ascii_lowercase());
            into.chains.push(Chain {
                origin,
                table: table.clone(),
                name,
                hook,
                policy,
            });
        } else if let Some(rest) = line.strip_prefix("-A ") {
            into.rules
                .push(parse_iptables_rule(rest, &table, origin, line));
        }
    }
}

fn parse_iptables_rule(rest: &str, table: &str, origin: Origin, line: &str) -> Rule {
    let toks: Vec<&str> = rest.split_whitespace().collect();
    let chain = toks.first().copied().unwrap_or_default().to_string();
    let mut rule = Rule {
        origin,
        table: table.to_string(),
        chain,
        line: line.to_string(),
        proto: Match::Any,
        daddr: Match::Any,
        saddr: Match::Any,
        iif: None,
        verdict: Verdict::None,
        stateful: table == "nat",
        ipvs_match: false,
        narrowed: false,
    };
    let mut negate = false;
    let mut i = 1;
    while i < toks.len() {
        let t = toks[i];
        let val = toks.get(i + 1).copied().unwrap_or_default();
        match t {
            "!" => {
                negate = true;
                i += 1;
                continue;
            }
            "-p" | "--protocol" => {
                rule.proto = Match::from(negate, list(val));
                i += 1;
            }
            "-d" | "--destination" => {
                rule.daddr = Match::from(negate, list(val));
                i += 1;
            }
            "-s" | "--source" => {
                rule.saddr = Match::from(negate, list(val));
                i += 1;
            }
            "-i" | "--in-interface" => {
                rule.iif = (!negate).then(|| val.to_string());
                rule.narrowed |= negate;
                i += 1;
            }
            "-j" | "--jump" | "-g" | "--goto" => {
                rule.verdict = verdict_of(val);
                rule.stateful |= NAT_TARGETS.contains(&val) || val == "CONNMARK";
                i += 1;
            }
            "-m" | "--match" => {
                if val == "ipvs" {
                    rule.ipvs_match = true;
                } else if CONNTRACK_MODULES.contains(&val) {
                    rule.stateful = true;
                    rule.narrowed = true;
                } else if val != "comment" && val != "tcp" && val != "udp" {
                    rule.narrowed = true;
                }
                i += 1;
            }
            "--comment" => {
                // Skip the comment text, which may be quoted over several tokens.
                let one_token = !val.starts_with('"') || (val.len() > 1 && val.ends_with('"'));
                if one_token {
                    i += 1;
                } else {
                    let mut j = i + 2;
                    while j < toks.len() && !toks[j].ends_with('"') {
                        j += 1;
                    }
                    i = j;
                }
            }
            "-o" | "--out-interface" | "--dport" | "--sport" | "--dports" | "--sports"
            | "--tcp-flags" | "--icmp-type" | "--mark" | "--ctstate" | "--state" => {
                rule.narrowed = true;
                i += 1;
            }
            "--vaddr" | "--vproto" | "--vport" | "--vdir" | "--vmethod" | "--vportctl" => {
                rule.ipvs_match = true;
                i += 1;
            }
            _ => {}
        }
        negate = false;
        i += 1;
    }
    rule
}

/// Parse `nft list ruleset` output. Rules are one per line inside `chain NAME { ... }`.
pub fn parse_nft_ruleset(text: &str, into: &mut Ruleset) {
    let mut table = String::new();
    let mut chain: Option<usize> = None;
    for raw in text.lines() {
        let line = raw.trim();
        let toks: Vec<&str> = line.split_whitespace().collect();
        match toks.as_slice() {
            ["table", family, name, ..] => {
                table = format!("{family} {name}");
                chain = None;
            }
            ["chain", name, ..] => {
                into.chains.push(Chain {
                    origin: Origin::Nft,
                    table: table.clone(),
                    name: name.to_string(),
                    hook: None,
                    policy: None,
                });
                chain = Some(into.chains.len() - 1);
            }
            ["}"] => {
                // Closes a chain, a set or the table; a rule line never is just "}".
                chain = None;
            }
            ["type", ..] if chain.is_some() => {
                let c = &mut into.chains[chain.unwrap_or_default()];
                let body = line.replace(';', " ");
                let words: Vec<&str> = body.split_whitespace().collect();
                for w in words.windows(2) {
                    match w[0] {
                        "hook" => c.hook = Some(w[1].to_string()),
                        "policy" => c.policy = Some(verdict_of(w[1])),
                        _ => {}
                    }
                }
            }
            [] => {}
            _ => {
                if let Some(ci) = chain {
                    let chain_name = into.chains[ci].name.clone();
                    into.rules.push(parse_nft_rule(line, &table, &chain_name));
                }
            }
        }
    }
}

fn nft_values(toks: &[&str], i: usize) -> (bool, Vec<String>, usize) {
    // `KEY [!=] VALUE` or `KEY [!=] { a, b }`; returns (negated, values, tokens consumed).
    let mut j = i;
    let mut negated = false;
    if toks.get(j) == Some(&"!=") {
        negated = true;
        j += 1;
    }
    if toks.get(j) == Some(&"{") {
        let mut vals = Vec::new();
        j += 1;
        while j < toks.len() && toks[j] != "}" {
            vals.extend(list(toks[j].trim_end_matches(',')));
            j += 1;
        }
        (negated, vals, j + 1 - i)
    } else {
        let v = toks.get(j).map(|v| list(v)).unwrap_or_default();
        (negated, v, j + 1 - i)
    }
}

fn parse_nft_rule(line: &str, table: &str, chain: &str) -> Rule {
    let toks: Vec<&str> = line.split_whitespace().collect();
    let mut rule = Rule {
        origin: Origin::Nft,
        table: table.to_string(),
        chain: chain.to_string(),
        line: line.to_string(),
        proto: Match::Any,
        daddr: Match::Any,
        saddr: Match::Any,
        iif: None,
        verdict: Verdict::None,
        stateful: false,
        ipvs_match: line.contains("ipvs"),
        narrowed: false,
    };
    let mut i = 0;
    while i < toks.len() {
        let pair = (toks[i], toks.get(i + 1).copied().unwrap_or_default());
        match pair {
            ("ip", "protocol") | ("meta", "l4proto") | ("ip6", "nexthdr") => {
                let (neg, v, n) = nft_values(&toks, i + 2);
                rule.proto = Match::from(neg, v);
                i += 2 + n;
                continue;
            }
            ("ip", "daddr") | ("ip6", "daddr") => {
                let (neg, v, n) = nft_values(&toks, i + 2);
                rule.daddr = Match::from(neg, v);
                i += 2 + n;
                continue;
            }
            ("ip", "saddr") | ("ip6", "saddr") => {
                let (neg, v, n) = nft_values(&toks, i + 2);
                rule.saddr = Match::from(neg, v);
                i += 2 + n;
                continue;
            }
            ("iifname", v) | ("iif", v) => {
                rule.iif = Some(v.trim_matches('"').to_string());
                i += 2;
                continue;
            }
            ("ct", _) => {
                rule.stateful = true;
                rule.narrowed = true;
            }
            ("tcp", _)
            | ("udp", _)
            | ("th", _)
            | ("meta", "mark")
            | ("limit", _)
            | ("oifname", _)
            | ("mark", _) => rule.narrowed = true,
            ("accept", _) => rule.verdict = Verdict::Accept,
            ("drop", _) => rule.verdict = Verdict::Drop,
            ("reject", _) => rule.verdict = Verdict::Reject,
            ("masquerade", _) | ("snat", _) | ("dnat", _) | ("redirect", _) => {
                rule.stateful = true;
                rule.verdict = Verdict::Other(toks[i].to_ascii_uppercase());
            }
            ("jump", v) | ("goto", v) => rule.verdict = Verdict::Other(v.to_string()),
            _ => {}
        }
        i += 1;
    }
    // A protocol match may hide in a transport expression: `vrrp` as a word.
    rule
}

/// Whether a rule's address match covers `addr` (exact address or a containing prefix).
pub fn covers(values: &[String], addr: IpAddr) -> bool {
    values.iter().any(|v| prefix_contains(v, addr))
}

/// `v` is `ADDR` or `ADDR/LEN` (or `ADDR/MASK` dotted); does it contain `addr`?
pub fn prefix_contains(v: &str, addr: IpAddr) -> bool {
    let (a, len) = match v.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (v, None),
    };
    let Ok(net) = a.parse::<IpAddr>() else {
        return false;
    };
    let len: u32 = match len {
        None => {
            if net.is_ipv4() {
                32
            } else {
                128
            }
        }
        Some(l) => match l.parse::<u32>() {
            Ok(n) => n,
            Err(_) => match l.parse::<std::net::Ipv4Addr>() {
                Ok(m) => u32::from(m).count_ones(),
                Err(_) => return false,
            },
        },
    };
    match (net, addr) {
        (IpAddr::V4(n), IpAddr::V4(a)) if len <= 32 => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) if len <= 128 => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

/// Is a protocol name VRRP (`vrrp`, `112`)?
pub fn is_vrrp_proto(p: &str) -> bool {
    p == "vrrp" || p == "112"
}

/// Parse everything the facts hold. When iptables-save is the nf_tables flavour, its tables
/// also appear in `nft list ruleset` (families ip/ip6, the classic table names): those are
/// skipped on the nft side so each rule is seen once.
pub fn from_facts(f: &super::HostFacts) -> Ruleset {
    let mut rs = Ruleset::default();
    let mut nft_backed = false;
    if let Some(t) = &f.iptables {
        nft_backed |= t.contains("(nf_tables)");
        parse_iptables_save(t, Origin::Iptables, &mut rs);
    }
    if let Some(t) = &f.ip6tables {
        nft_backed |= t.contains("(nf_tables)");
        parse_iptables_save(t, Origin::Ip6tables, &mut rs);
    }
    if let Some(t) = &f.nft {
        let mut n = Ruleset::default();
        parse_nft_ruleset(t, &mut n);
        let classic = |table: &str| {
            let mut it = table.split_whitespace();
            let fam = it.next().unwrap_or_default();
            let name = it.next().unwrap_or_default();
            (fam == "ip" || fam == "ip6")
                && ["filter", "nat", "mangle", "raw", "security"].contains(&name)
        };
        rs.rules.extend(
            n.rules
                .into_iter()
                .filter(|r| !(nft_backed && classic(&r.table))),
        );
        rs.chains.extend(
            n.chains
                .into_iter()
                .filter(|c| !(nft_backed && classic(&c.table))),
        );
    }
    rs
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAVE: &str = "# Generated by iptables-save v1.8.9 (nf_tables) on Sat Nov 21 10:21:39 2026
*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:MYCHAIN - [0:0]
-A INPUT -d 224.0.0.18/32 -j DROP
-A INPUT -p vrrp -j REJECT --reject-with icmp-port-unreachable
-A INPUT ! -p tcp -m comment --comment \"not tcp\" -j ACCEPT
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
COMMIT
*nat
:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -m ipvs --vaddr 172.30.0.20/32 -j MASQUERADE
COMMIT
";

    #[test]
    fn iptables_save_rules_and_chains() {
        let mut rs = Ruleset::default();
        parse_iptables_save(SAVE, Origin::Iptables, &mut rs);
        assert_eq!(rs.rules.len(), 5);
        let input = rs.chains.iter().find(|c| c.name == "INPUT").unwrap();
        assert_eq!(input.policy, Some(Verdict::Drop));
        assert_eq!(input.hook.as_deref(), Some("input"));
        let user = rs.chains.iter().find(|c| c.name == "MYCHAIN").unwrap();
        assert_eq!((user.policy.clone(), user.hook.clone()), (None, None));
        let r = &rs.rules[0];
        assert_eq!(r.daddr, Match::Is(vec!["224.0.0.18/32".into()]));
        assert_eq!(r.verdict, Verdict::Drop);
        assert_eq!(rs.rules[1].proto, Match::Is(vec!["vrrp".into()]));
        assert_eq!(rs.rules[1].verdict, Verdict::Reject);
        assert_eq!(rs.rules[2].proto, Match::Not(vec!["tcp".into()]));
        assert!(!rs.rules[2].narrowed, "a comment does not narrow a rule");
        assert!(rs.rules[3].narrowed);
        let nat = &rs.rules[4];
        assert!(nat.ipvs_match && nat.stateful);
        assert_eq!(nat.verdict, Verdict::Other("MASQUERADE".into()));
    }

    const NFT: &str = "table ip filter {
	chain INPUT {
		type filter hook input priority filter; policy accept;
		meta l4proto vrrp counter packets 0 bytes 0 drop
	}
}
table inet fw {
	set peers {
		type ipv4_addr
		elements = { 10.0.0.1, 10.0.0.2 }
	}
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		ip daddr { 224.0.0.18, 10.0.0.9 } accept
		ip protocol != vrrp drop
		iifname \"eth1\" ip saddr 10.1.0.0/16 tcp dport 80 accept
	}
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		ip daddr 192.168.168.0/24 masquerade
	}
}
";

    #[test]
    fn nft_ruleset_rules_and_chains() {
        let mut rs = Ruleset::default();
        parse_nft_ruleset(NFT, &mut rs);
        let names: Vec<_> = rs.chains.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["INPUT", "input", "post"]);
        assert_eq!(rs.chains[1].policy, Some(Verdict::Drop));
        assert_eq!(rs.chains[2].hook.as_deref(), Some("postrouting"));
        assert_eq!(rs.rules.len(), 6, "{:#?}", rs.rules);
        assert_eq!(rs.rules[0].proto, Match::Is(vec!["vrrp".into()]));
        assert_eq!(rs.rules[0].verdict, Verdict::Drop);
        assert!(rs.rules[1].stateful);
        assert_eq!(
            rs.rules[2].daddr,
            Match::Is(vec!["224.0.0.18".into(), "10.0.0.9".into()])
        );
        assert_eq!(rs.rules[3].proto, Match::Not(vec!["vrrp".into()]));
        assert_eq!(rs.rules[4].iif.as_deref(), Some("eth1"));
        assert!(rs.rules[5].stateful);
        assert!(covers(
            match &rs.rules[5].daddr {
                Match::Is(v) => v,
                _ => unreachable!(),
            },
            "192.168.168.238".parse().unwrap()
        ));
    }

    #[test]
    fn nft_backed_iptables_rules_are_seen_once() {
        let f = super::super::HostFacts {
            iptables: Some(SAVE.into()),
            nft: Some(NFT.into()),
            ..Default::default()
        };
        let rs = from_facts(&f);
        assert_eq!(
            rs.rules.iter().filter(|r| r.origin == Origin::Nft).count(),
            5
        );
    }

    #[test]
    fn prefixes() {
        let a = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(prefix_contains("10.0.0.0/8", a("10.1.2.3")));
        assert!(prefix_contains("10.0.0.0/255.0.0.0", a("10.1.2.3")));
        assert!(!prefix_contains("10.0.0.0/8", a("11.1.2.3")));
        assert!(prefix_contains("224.0.0.18", a("224.0.0.18")));
        assert!(prefix_contains("0.0.0.0/0", a("1.1.1.1")));
        assert!(prefix_contains("ff02::/16", a("ff02::12")));
        assert!(!prefix_contains("ff02::/16", a("224.0.0.18")));
        assert!(!prefix_contains("garbage", a("1.1.1.1")));
    }
}
