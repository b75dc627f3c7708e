//! Sequence diagrams of a path, one renderer for every protocol: servers as lifelines, each
//! message as an arrow from the step that sent it to the step that delivered it (drops, losses
//! and duplicates marked), timeouts, crashes and restarts as marks on a lifeline, role and
//! term/epoch changes annotated, and the violated property named at the step where it first
//! fails. Output: self-contained SVG and Mermaid text.
//!
//! A protocol supplies two views ([`Spec::diagram_frame`], [`Spec::diagram_action`]): what each
//! state shows (a one-line label per server, the messages in flight) and what each action is.
//! Sends and losses are derived here from the difference between consecutive frames, so the
//! same code serves traces from files, the Explorer ([`stateright::Model::as_svg`]) and
//! conformance divergences.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;

use stateright::Expectation;

use crate::network::Network;
use crate::spec::Spec;

/// What one state shows in a diagram.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Frame {
    /// One per server, in id order.
    pub servers: Vec<Lifeline>,
    /// Every message in flight (a copy count above one for duplicated messages).
    pub in_flight: Vec<InFlight>,
}

/// A server as the diagram labels it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Lifeline {
    pub up: bool,
    /// Role and term/epoch, e.g. `leader t2`; a change of it is annotated.
    pub label: String,
}

/// A message in flight.
#[derive(Clone, Debug, PartialEq)]
pub struct InFlight {
    pub src: u8,
    pub dst: u8,
    pub label: String,
    pub copies: u8,
}

impl InFlight {
    /// Every message in flight on a model [`Network`], labelled by its `Display`.
    pub fn of_network<M: Clone + Ord + std::fmt::Display>(network: &Network<M>) -> Vec<InFlight> {
        network
            .flights()
            .iter()
            .map(|f| InFlight {
                src: f.src,
                dst: f.dst,
                label: f.msg.to_string(),
                copies: f.copies,
            })
            .collect()
    }
}

/// What an action is, for the diagram.
#[derive(Clone, Debug, PartialEq)]
pub enum ActionKind {
    Deliver {
        src: u8,
        dst: u8,
        label: String,
    },
    Drop {
        src: u8,
        dst: u8,
        label: String,
    },
    Duplicate {
        src: u8,
        dst: u8,
        label: String,
    },
    /// Something that happens at one server: a timer, a crash, a client request…
    Mark {
        server: u8,
        kind: MarkKind,
        text: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkKind {
    Timeout,
    Crash,
    Restart,
    /// Any other local step (client request, log write, decision…).
    Local,
    /// The server's role, term or epoch changed (derived from the frames).
    Role,
}

impl MarkKind {
    fn class(self) -> &'static str {
        match self {
            MarkKind::Timeout => "mark-timeout",
            MarkKind::Crash => "mark-crash",
            MarkKind::Restart => "mark-restart",
            MarkKind::Local => "mark-local",
            MarkKind::Role => "mark-role",
        }
    }
}

/// What became of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    Delivered(usize),
    /// Lost by a drop action.
    Dropped(usize),
    /// Gone without a delivery or drop: superseded, discarded as dead, or cut with a connection.
    Lost(usize),
    /// Still in flight at the end of the path.
    InFlight,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub from: u8,
    pub to: u8,
    pub label: String,
    /// The step that sent it (0: in flight in the initial state).
    pub sent_step: usize,
    pub fate: Fate,
    /// A copy made by a duplicate action.
    pub duplicated: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Mark {
    pub server: u8,
    pub step: usize,
    pub kind: MarkKind,
    pub text: String,
}

/// The property that fails, and the step where it first does (0: the initial state).
#[derive(Clone, Debug, PartialEq)]
pub struct Violation {
    pub step: usize,
    pub text: String,
}

/// A whole path as a sequence diagram.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagram {
    pub title: String,
    /// The initial label of each server.
    pub lifelines: Vec<Lifeline>,
    /// The action of each step, as printed (step k is `steps[k - 1]`).
    pub steps: Vec<String>,
    pub messages: Vec<Message>,
    pub marks: Vec<Mark>,
    pub violation: Option<Violation>,
}

type Key = (u8, u8, String);

impl Diagram {
    /// Builds the diagram of a path from its frames (one per state, the initial one first) and
    /// its actions (printed text and kind, one per step). Extra frames or actions are ignored.
    pub fn build(
        title: String,
        frames: &[Frame],
        actions: &[(String, ActionKind)],
        violation: Option<Violation>,
    ) -> Self {
        let first = frames.first().cloned().unwrap_or_default();
        let mut b = Builder::default();
        for f in &first.in_flight {
            for _ in 0..f.copies {
                b.send((f.src, f.dst, f.label.clone()), 0, false);
            }
        }
        let steps = actions.len().min(frames.len().saturating_sub(1));
        for k in 1..=steps {
            let (before, after) = (&frames[k - 1], &frames[k]);
            let mut expected = counts(&before.in_flight);
            b.apply(k, &actions[k - 1].1, &mut expected);
            b.account(k, &expected, &counts(&after.in_flight));
            b.annotate_roles(k, before, after);
        }
        Diagram {
            title,
            lifelines: first.servers,
            steps: actions.iter().take(steps).map(|(t, _)| t.clone()).collect(),
            messages: b.messages,
            marks: b.marks,
            violation,
        }
    }

    /// The number of delivered messages (each is one arrow of class `msg` in the SVG).
    pub fn delivered(&self) -> usize {
        self.messages
            .iter()
            .filter(|m| matches!(m.fate, Fate::Delivered(_)))
            .count()
    }

    /// Mermaid `sequenceDiagram` text. Mermaid arrows are instantaneous, so a message is drawn
    /// at its delivery (or drop), labelled with the step that sent it.
    pub fn to_mermaid(&self) -> String {
        let mut out = String::from("sequenceDiagram\n");
        let _ = writeln!(out, "    title {}", mermaid_text(&self.title));
        for (i, l) in self.lifelines.iter().enumerate() {
            let _ = writeln!(
                out,
                "    participant s{i} as s{i} ({})",
                mermaid_text(&l.label)
            );
        }
        for k in 1..=self.steps.len() {
            let _ = writeln!(out, "    %% {k}. {}", mermaid_text(&self.steps[k - 1]));
            for m in &self.messages {
                let (arrow, what) = match m.fate {
                    Fate::Delivered(s) if s == k => ("->>", ""),
                    Fate::Dropped(s) if s == k => ("-x", "dropped "),
                    Fate::Lost(s) if s == k => ("--x", "lost "),
                    _ => continue,
                };
                let dup = if m.duplicated { " (duplicate)" } else { "" };
                let _ = writeln!(
                    out,
                    "    s{}{arrow}s{}: {what}{}{dup} [sent {}, step {k}]",
                    m.from,
                    m.to,
                    mermaid_text(&m.label),
                    m.sent_step
                );
            }
            for mark in self.marks.iter().filter(|m| m.step == k) {
                let _ = writeln!(
                    out,
                    "    Note over s{}: {k}. {}",
                    mark.server,
                    mermaid_text(&mark_text(mark))
                );
            }
            self.mermaid_violation(&mut out, k);
        }
        if self.steps.is_empty() {
            self.mermaid_violation(&mut out, 0);
        }
        out
    }

    fn mermaid_violation(&self, out: &mut String, k: usize) {
        if let Some(v) = self.violation.as_ref().filter(|v| v.step == k) {
            let last = self.lifelines.len().saturating_sub(1);
            let _ = writeln!(
                out,
                "    Note over s0,s{last}: ✗ step {k}: {}",
                mermaid_text(&v.text)
            );
        }
    }

    /// A self-contained SVG document (no external fonts, styles or scripts; all text escaped).
    /// Delivered messages are `<g class="msg">`, dropped `msg-dropped`, lost `msg-lost`; the root
    /// carries `data-delivered` and `data-steps` for tests.
    pub fn to_svg(&self) -> String {
        let n = self.lifelines.len().max(1);
        let steps = self.steps.len();
        let left = 50.0;
        let col = 190.0;
        let head = 70.0;
        let row = 34.0;
        let actions_x = left + 40.0 + col * (n as f64 - 1.0) + 210.0;
        let width = actions_x + 420.0;
        let height = head + row * (steps as f64 + 2.0) + 20.0;
        let x = |s: u8| left + 40.0 + col * s as f64;
        let y = |k: usize| head + row * k as f64;
        let mut o = String::new();
        let _ = write!(
            o,
            r#"<svg xmlns="http://www.w3.org/2000/svg" version="1.1" class="ballot-diagram" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" data-delivered="{}" data-steps="{steps}">"#,
            self.delivered()
        );
        o.push_str(concat!(
            "<style>",
            "text{font-family:monospace;font-size:11px;fill:#222}path{fill:none}",
            ".title{font-size:13px;font-weight:bold}",
            ".life{stroke:#888;stroke-width:1.5}",
            ".down{stroke:#c33;stroke-dasharray:3 4}",
            ".msg line,.msg path{stroke:#1f5fa8;stroke-width:1.3;fill:none}",
            ".msg text{fill:#1f5fa8}",
            ".msg-dropped line{stroke:#c33;stroke-dasharray:5 3}",
            ".msg-dropped text{fill:#c33}",
            ".msg-lost line,.msg-lost path{stroke:#bbb;stroke-dasharray:2 3}",
            ".dup line,.dup path{stroke-dasharray:6 2}",
            ".mark-crash{fill:#c33}.mark-restart{fill:#2a2}.mark-timeout{fill:#d80}",
            ".mark-local{fill:#555}.mark-role{fill:#6a1b9a;font-weight:bold}",
            ".step{fill:#444}.violation rect{fill:#fdd;stroke:#c33}",
            ".violation text{fill:#b00;font-weight:bold}",
            "</style>",
            "<defs><marker id=\"arrow\" markerWidth=\"10\" markerHeight=\"8\" refX=\"10\" refY=\"4\" orient=\"auto\">",
            "<polygon points=\"0 0, 10 4, 0 8\" fill=\"#1f5fa8\"/></marker></defs>",
            // Opaque, so the diagram reads the same on a dark page (the Explorer's).
            "<rect class=\"background\" width=\"100%\" height=\"100%\" fill=\"#fff\"/>",
        ));
        let _ = write!(
            o,
            r#"<text class="title" x="8" y="16">{}</text>"#,
            xml(&clip(&self.title, (width / 8.0) as usize))
        );
        if let Some(v) = &self.violation {
            let vy = y(v.step);
            let _ = write!(
                o,
                r#"<g class="violation"><rect x="2" y="{:.0}" width="{:.0}" height="{:.0}"/><text x="{:.0}" y="{:.0}">✗ {}</text></g>"#,
                vy - row / 2.0,
                width - 4.0,
                row + 16.0,
                actions_x,
                vy + row / 2.0 + 10.0,
                xml(&v.text)
            );
        }
        // Lifelines, dashed red where the server is down.
        let mut downs: Vec<(u8, usize, usize)> = Vec::new();
        for (i, l) in self.lifelines.iter().enumerate() {
            let s = i as u8;
            let _ = write!(
                o,
                r#"<text x="{:.0}" y="38" text-anchor="middle" font-weight="bold">s{i}</text><text x="{:.0}" y="52" text-anchor="middle">{}</text>"#,
                x(s),
                x(s),
                xml(&l.label)
            );
            let mut down_since = (!l.up).then_some(0);
            for m in self.marks.iter().filter(|m| m.server == s) {
                match m.kind {
                    MarkKind::Crash if down_since.is_none() => down_since = Some(m.step),
                    MarkKind::Restart => {
                        if let Some(from) = down_since.take() {
                            downs.push((s, from, m.step));
                        }
                    }
                    _ => {}
                }
            }
            if let Some(from) = down_since {
                downs.push((s, from, steps + 1));
            }
            let _ = write!(
                o,
                r#"<line class="life" x1="{0:.0}" y1="{1:.0}" x2="{0:.0}" y2="{2:.0}"/>"#,
                x(s),
                y(0) - 8.0,
                y(steps + 1)
            );
        }
        for (s, from, to) in downs {
            let _ = write!(
                o,
                r#"<line class="down" x1="{0:.0}" y1="{1:.0}" x2="{0:.0}" y2="{2:.0}"/>"#,
                x(s),
                y(from),
                y(to)
            );
        }
        // Step numbers and actions.
        for (k, text) in self.steps.iter().enumerate() {
            let k = k + 1;
            let _ = write!(
                o,
                r#"<text class="step" x="8" y="{:.0}">{k}</text><text class="step" x="{:.0}" y="{:.0}">{k}. {}</text>"#,
                y(k) + 4.0,
                actions_x,
                y(k) + 4.0,
                xml(&clip(text, 60))
            );
        }
        for m in &self.messages {
            o.push_str(&svg_message(m, &x, &y));
        }
        for m in &self.marks {
            o.push_str(&svg_mark(m, x(m.server), y(m.step)));
        }
        o.push_str("</svg>\n");
        o
    }
}

/// A mark on a lifeline at (cx, cy): a shape by kind (crash ✗, restart ●, timeout ◆, local ·)
/// and its text; a role change is text alone.
fn svg_mark(m: &Mark, cx: f64, cy: f64) -> String {
    let shape = match m.kind {
        MarkKind::Crash => format!(
            r##"<path d="M{0:.0} {1:.0} l10 10 m0 -10 l-10 10" stroke="#c33" stroke-width="2.5"/>"##,
            cx - 5.0,
            cy - 5.0
        ),
        MarkKind::Restart => {
            format!(r##"<circle cx="{cx:.0}" cy="{cy:.0}" r="5" fill="#2a2"/>"##)
        }
        MarkKind::Timeout => format!(
            r##"<rect x="{:.0}" y="{:.0}" width="10" height="10" fill="#d80" transform="rotate(45 {cx:.0} {cy:.0})"/>"##,
            cx - 5.0,
            cy - 5.0
        ),
        MarkKind::Local => {
            format!(r##"<circle cx="{cx:.0}" cy="{cy:.0}" r="3.5" fill="#555"/>"##)
        }
        MarkKind::Role => String::new(),
    };
    let dy = if m.kind == MarkKind::Role { 12.0 } else { -4.0 };
    format!(
        r#"<g class="mark {}">{shape}<text class="{}" x="{:.0}" y="{:.0}">{}</text></g>"#,
        m.kind.class(),
        m.kind.class(),
        cx + 8.0,
        cy + dy,
        xml(&clip(&mark_text(m), 28))
    )
}

fn svg_message(m: &Message, x: &dyn Fn(u8) -> f64, y: &dyn Fn(usize) -> f64) -> String {
    let (class, end, what) = match m.fate {
        Fate::Delivered(k) => ("msg", k, ""),
        Fate::Dropped(k) => ("msg-dropped", k, "✗ dropped "),
        Fate::Lost(k) => ("msg-lost", k, ""),
        Fate::InFlight => return String::new(),
    };
    let dup = if m.duplicated { " dup" } else { "" };
    let (x1, y1) = (x(m.from), y(m.sent_step));
    let (mut x2, mut y2) = (x(m.to), y(end));
    let title = format!(
        "s{}→s{} {}{} (sent at step {}, {} at step {end})",
        m.from,
        m.to,
        m.label,
        if m.duplicated { ", duplicate" } else { "" },
        m.sent_step,
        match m.fate {
            Fate::Delivered(_) => "delivered",
            Fate::Dropped(_) => "dropped",
            _ => "lost",
        }
    );
    // A lost message keeps its label in the tooltip only: FLE's one-slot queues supersede many.
    let label = if matches!(m.fate, Fate::Lost(_)) {
        String::new()
    } else {
        format!("{what}{}", clip(&m.label, 34))
    };
    let marker = if class == "msg" {
        r#" marker-end="url(#arrow)""#
    } else {
        ""
    };
    if m.from == m.to {
        // Loopback: a small loop beside the lifeline.
        return format!(
            r#"<g class="{class}{dup}"><title>{}</title><path d="M{x1:.0} {y1:.0} C{:.0} {y1:.0} {:.0} {y2:.0} {x2:.0} {y2:.0}"{marker}/><text x="{:.0}" y="{:.0}">{}</text></g>"#,
            xml(&title),
            x1 + 40.0,
            x1 + 40.0,
            x1 + 44.0,
            (y1 + y2) / 2.0,
            xml(&label)
        );
    }
    if !matches!(m.fate, Fate::Delivered(_)) {
        // Never arrived: stop two thirds of the way.
        x2 = x1 + (x2 - x1) * 0.66;
        y2 = y1 + (y2 - y1) * 0.66;
    }
    // The label sits just above the arrow's head, on the sender's side: a step delivers at most
    // one message, so labels of deliveries never share a row.
    let (tx, anchor) = if x2 >= x1 {
        (x2 - 10.0, "end")
    } else {
        (x2 + 10.0, "start")
    };
    let ty = y2 - 5.0;
    format!(
        r#"<g class="{class}{dup}"><title>{}</title><line x1="{x1:.0}" y1="{y1:.0}" x2="{x2:.0}" y2="{y2:.0}"{marker}/><text x="{tx:.0}" y="{ty:.0}" text-anchor="{anchor}">{}</text></g>"#,
        xml(&title),
        xml(&label)
    )
}

/// The messages and marks of a diagram as [`Diagram::build`] walks the path.
#[derive(Default)]
struct Builder {
    messages: Vec<Message>,
    /// Per (src, dst, label): the messages still in flight, oldest first.
    pending: BTreeMap<Key, VecDeque<usize>>,
    marks: Vec<Mark>,
}

impl Builder {
    fn send(&mut self, key: Key, sent_step: usize, duplicated: bool) {
        self.pending
            .entry(key.clone())
            .or_default()
            .push_back(self.messages.len());
        self.messages.push(Message {
            from: key.0,
            to: key.1,
            label: key.2,
            sent_step,
            fate: Fate::InFlight,
            duplicated,
        });
    }

    /// Resolves the oldest pending message under `key`; one the frames never showed is taken as
    /// in flight from the start.
    fn resolve(&mut self, key: Key, fate: Fate) {
        match self.pending.get_mut(&key).and_then(VecDeque::pop_front) {
            Some(i) => self.messages[i].fate = fate,
            None => self.messages.push(Message {
                from: key.0,
                to: key.1,
                label: key.2,
                sent_step: 0,
                fate,
                duplicated: false,
            }),
        }
    }

    /// Step `k`'s action: what it delivers, drops, duplicates or marks, with the copies in
    /// flight it leaves `expected`.
    fn apply(&mut self, k: usize, kind: &ActionKind, expected: &mut BTreeMap<Key, i64>) {
        match kind {
            ActionKind::Deliver { src, dst, label } | ActionKind::Drop { src, dst, label } => {
                let key = (*src, *dst, label.clone());
                *expected.entry(key.clone()).or_default() -= 1;
                let fate = if matches!(kind, ActionKind::Deliver { .. }) {
                    Fate::Delivered(k)
                } else {
                    Fate::Dropped(k)
                };
                self.resolve(key, fate);
            }
            ActionKind::Duplicate { src, dst, label } => {
                let key = (*src, *dst, label.clone());
                *expected.entry(key.clone()).or_default() += 1;
                let sent_step = self
                    .pending
                    .get(&key)
                    .and_then(|q| q.front())
                    .map_or(k, |&i| self.messages[i].sent_step);
                self.send(key, sent_step, true);
                self.marks.push(Mark {
                    server: *src,
                    step: k,
                    kind: MarkKind::Local,
                    text: "duplicated".into(),
                });
            }
            ActionKind::Mark { server, kind, text } => self.marks.push(Mark {
                server: *server,
                step: k,
                kind: *kind,
                text: text.clone(),
            }),
        }
    }

    /// What step `k`'s action does not explain: more copies in flight than `expected` are sends,
    /// fewer are losses (superseded, discarded as dead, cut with a connection).
    fn account(&mut self, k: usize, expected: &BTreeMap<Key, i64>, now: &BTreeMap<Key, i64>) {
        let keys: std::collections::BTreeSet<&Key> = expected.keys().chain(now.keys()).collect();
        for key in keys {
            let diff = now.get(key).copied().unwrap_or(0) - expected.get(key).copied().unwrap_or(0);
            for _ in 0..diff.max(0) {
                self.send(key.clone(), k, false);
            }
            for _ in 0..(-diff).max(0) {
                if let Some(i) = self.pending.get_mut(key).and_then(VecDeque::pop_front) {
                    self.messages[i].fate = Fate::Lost(k);
                }
            }
        }
    }

    /// A change of a live server's role/term label at step `k`.
    fn annotate_roles(&mut self, k: usize, before: &Frame, after: &Frame) {
        for (i, (a, b)) in before.servers.iter().zip(&after.servers).enumerate() {
            if a.label != b.label && b.up {
                self.marks.push(Mark {
                    server: i as u8,
                    step: k,
                    kind: MarkKind::Role,
                    text: b.label.clone(),
                });
            }
        }
    }
}

fn mark_text(m: &Mark) -> String {
    match m.kind {
        MarkKind::Crash => "crash".into(),
        MarkKind::Restart => "restart".into(),
        _ => m.text.clone(),
    }
}

fn counts(flights: &[InFlight]) -> BTreeMap<Key, i64> {
    let mut c = BTreeMap::new();
    for f in flights {
        *c.entry((f.src, f.dst, f.label.clone())).or_default() += f.copies as i64;
    }
    c
}

fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

/// Escapes text for XML content and attribute values.
pub fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if (c as u32) < 0x20 && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Mermaid text on one line: `#` and `;` are Mermaid syntax, written as its entity codes.
fn mermaid_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '#' => out.push_str("#35;"),
            ';' => out.push_str("#59;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The step (0: the initial state) where `property` first fails along `states`: the first state
/// where an `always` property is false, or, for a `sometimes` witness, the first where it holds.
/// `None` when the model has no such property, it never does, or it is an `eventually`
/// property (whose counterexample is the whole path: it fails where the path ends).
pub fn first_failure<S: Spec>(spec: &S, states: &[S::St], property: &str) -> Option<usize> {
    let p = spec.properties().into_iter().find(|p| p.name == property)?;
    let wanted = match p.expectation {
        Expectation::Always => true,
        Expectation::Sometimes => false,
        Expectation::Eventually => return None,
    };
    states.iter().position(|s| (p.condition)(spec, s) != wanted)
}

/// The first `always` property to fail along `states`, and where.
pub fn first_violation<S: Spec>(spec: &S, states: &[S::St]) -> Option<(usize, &'static str)> {
    let props = spec.properties();
    states.iter().enumerate().find_map(|(k, s)| {
        props
            .iter()
            .find(|p| p.expectation == Expectation::Always && !(p.condition)(spec, s))
            .map(|p| (k, p.name))
    })
}

/// The diagram of `actions` from `init` on `spec`; stops at an action the model ignores.
/// `violation`: the property to name (with the step where it first fails, or the last step);
/// `None` names the first `always` property that fails along the path, if any.
pub fn of_path<S: Spec>(
    spec: &S,
    title: String,
    init: &S::St,
    actions: &[S::Act],
    violation: Option<&str>,
) -> Diagram {
    let mut states = vec![init.clone()];
    let mut labelled = Vec::with_capacity(actions.len());
    for a in actions {
        let Some(next) = spec.next_state(states.last().expect("non-empty"), a.clone()) else {
            break;
        };
        labelled.push((a.to_string(), spec.diagram_action(a)));
        states.push(next);
    }
    let frames: Vec<Frame> = states.iter().map(|s| spec.diagram_frame(s)).collect();
    let violation = match violation {
        Some(name) => Some(Violation {
            step: first_failure(spec, &states, name).unwrap_or(states.len() - 1),
            text: format!("{name} violated"),
        }),
        None => first_violation(spec, &states).map(|(step, name)| Violation {
            step,
            text: format!("{name} violated"),
        }),
    };
    Diagram::build(title, &frames, &labelled, violation)
}

/// [`of_path`] as an SVG for the Explorer: `path` is the Explorer's current path.
pub fn explorer_svg<S: Spec>(spec: &S, path: stateright::Path<S::St, S::Act>) -> Option<String> {
    let steps = path.into_vec();
    let init = steps.first()?.0.clone();
    let actions: Vec<S::Act> = steps.into_iter().filter_map(|(_, a)| a).collect();
    let title = format!("{}: {}", S::PROTOCOL, spec.summary());
    Some(of_path(spec, title, &init, &actions, None).to_svg())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(flights: &[(u8, u8, &str)]) -> Frame {
        Frame {
            servers: vec![
                Lifeline {
                    up: true,
                    label: "a".into()
                };
                2
            ],
            in_flight: flights
                .iter()
                .map(|&(src, dst, l)| InFlight {
                    src,
                    dst,
                    label: l.into(),
                    copies: 1,
                })
                .collect(),
        }
    }

    #[test]
    fn sends_are_matched_to_deliveries_and_unexplained_removals_are_losses() {
        let frames = [
            frame(&[]),
            frame(&[(0, 1, "ping")]),
            frame(&[(1, 0, "pong")]),
            frame(&[]),
        ];
        let actions = [
            (
                "timeout".to_string(),
                ActionKind::Mark {
                    server: 0,
                    kind: MarkKind::Timeout,
                    text: "timeout".into(),
                },
            ),
            (
                "deliver".to_string(),
                ActionKind::Deliver {
                    src: 0,
                    dst: 1,
                    label: "ping".into(),
                },
            ),
            (
                "crash".to_string(),
                ActionKind::Mark {
                    server: 0,
                    kind: MarkKind::Crash,
                    text: String::new(),
                },
            ),
        ];
        let d = Diagram::build("t".into(), &frames, &actions, None);
        assert_eq!(d.delivered(), 1);
        assert_eq!(d.messages[0].sent_step, 1);
        assert_eq!(d.messages[0].fate, Fate::Delivered(2));
        assert_eq!(d.messages[1].sent_step, 2);
        assert_eq!(d.messages[1].fate, Fate::Lost(3));
        let svg = d.to_svg();
        assert_eq!(svg.matches("class=\"msg\"").count(), 1);
        assert_eq!(svg.matches("class=\"msg-lost\"").count(), 1);
    }

    #[test]
    fn text_is_escaped() {
        let mut d = Diagram::build("<a&b>".into(), &[frame(&[])], &[], None);
        d.violation = Some(Violation {
            step: 0,
            text: "x \"y\" <z>".into(),
        });
        let svg = d.to_svg();
        assert!(svg.contains("&lt;a&amp;b&gt;"));
        assert!(svg.contains("x &quot;y&quot; &lt;z&gt;"));
        assert!(!svg.contains("<a&b>"));
        assert!(d.to_mermaid().contains("✗ step 0"));
    }

    #[test]
    fn mermaid_syntax_in_labels_is_written_as_entities() {
        let frames = [frame(&[(0, 1, "a;b #c")]), frame(&[])];
        let deliver = ActionKind::Deliver {
            src: 0,
            dst: 1,
            label: "a;b #c".into(),
        };
        let d = Diagram::build("t".into(), &frames, &[("x\ny".into(), deliver)], None);
        let m = d.to_mermaid();
        assert!(m.contains("s0->>s1: a#59;b #35;c [sent 0, step 1]"), "{m}");
        assert!(m.contains("%% 1. x y"), "{m}");
    }
}
