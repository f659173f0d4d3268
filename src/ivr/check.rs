//! The checks that need whole flows rather than one node: unreachable
//! nodes, loops that never wait for the caller, variables read before any
//! path sets them, sub-flows that are missing or call themselves.
//!
//! A call starts in the main flow, or in a flow an outbound campaign names
//! ([`crate::ivr::Start::flow`]); so every flow that no `subflow` node
//! calls is checked as a start of its own ([`entry_points`]).
//!
//! Runs on a [`FlowSet`] whose edges already resolve (the parser saw to
//! that) and adds its findings to the error list.

use std::collections::{BTreeMap, BTreeSet};

use super::flow::*;
use super::load::{FlowError, MAX_SUBFLOW_DEPTH};

pub(super) fn check(set: &FlowSet, errors: &mut Vec<FlowError>) {
    let before = errors.len();
    subflows(set, errors);
    if errors.len() > before {
        // Variable analysis follows sub-flow calls; it needs them sound.
        return;
    }
    for flow in set.flows.values() {
        unreachable(flow, errors);
        endless_loops(flow, errors);
        if flow.name == set.main {
            for node in &flow.nodes {
                if matches!(node.kind, NodeKind::Return) {
                    errors.push(at(
                        flow,
                        node,
                        "`return` in the main flow: nothing called it".into(),
                    ));
                }
            }
        }
    }
    variables(set, errors);
}

fn at(flow: &Flow, node: &Node, message: String) -> FlowError {
    FlowError {
        file: flow.file.clone(),
        line: node.line,
        node: Some(node.id.clone()),
        message,
    }
}

/// Every sub-flow named exists, none calls itself (directly or through
/// others), and nesting stays within [`MAX_SUBFLOW_DEPTH`].
fn subflows(set: &FlowSet, errors: &mut Vec<FlowError>) {
    let mut calls: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for flow in set.flows.values() {
        for node in &flow.nodes {
            if let NodeKind::SubFlow { flow: name, .. } = &node.kind {
                if set.flow(name).is_none() {
                    let have: Vec<&str> = set.flows.keys().map(String::as_str).collect();
                    let message = format!(
                        "sub-flow `{name}` does not exist (flows: {})",
                        have.join(", ")
                    );
                    errors.push(at(flow, node, message));
                } else if name == &set.main {
                    errors.push(at(
                        flow,
                        node,
                        format!("the main flow `{name}` cannot be called as a sub-flow"),
                    ));
                } else {
                    calls.entry(&flow.name).or_default().push(name);
                }
            }
        }
    }
    // Recursion: a depth-first search that meets a flow still on its path
    // (three colours, so each flow is explored once even when many paths
    // lead to it: a hostile file cannot make this exponential).
    let mut state: BTreeMap<&str, u8> = BTreeMap::new(); // 1 on path, 2 done
    let mut path: Vec<&str> = Vec::new();
    fn cycle<'a>(
        flow: &'a str,
        calls: &BTreeMap<&'a str, Vec<&'a str>>,
        state: &mut BTreeMap<&'a str, u8>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<&'a str>> {
        match state.get(flow) {
            Some(2) => return None,
            Some(_) => {
                let from = path.iter().position(|f| *f == flow).unwrap_or(0);
                let mut c = path[from..].to_vec();
                c.push(flow);
                return Some(c);
            }
            None => {}
        }
        state.insert(flow, 1);
        path.push(flow);
        for callee in calls.get(flow).into_iter().flatten() {
            if let Some(c) = cycle(callee, calls, state, path) {
                return Some(c);
            }
        }
        path.pop();
        state.insert(flow, 2);
        None
    }
    let names: Vec<&str> = set.flows.keys().map(String::as_str).collect();
    for name in &names {
        if let Some(c) = cycle(name, &calls, &mut state, &mut path) {
            let message = format!("sub-flow recursion: {}", c.join(" → "));
            errors.push(at_call(set, c[0], c[1], message));
            return;
        }
    }
    // Nesting depth, memoised over the (now acyclic) call graph.
    fn depth<'a>(
        flow: &'a str,
        calls: &BTreeMap<&'a str, Vec<&'a str>>,
        memo: &mut BTreeMap<&'a str, (usize, Option<&'a str>)>,
    ) -> usize {
        if let Some((d, _)) = memo.get(flow) {
            return *d;
        }
        let mut best = (0, None);
        for callee in calls.get(flow).into_iter().flatten() {
            let d = depth(callee, calls, memo) + 1;
            if d > best.0 {
                best = (d, Some(*callee));
            }
        }
        memo.insert(flow, best);
        best.0
    }
    // From every flow a call can start in (the first too deep is enough:
    // its chain names the culprits).
    let mut memo = BTreeMap::new();
    for entry in entry_points(set) {
        let entry = entry.name.as_str();
        if depth(entry, &calls, &mut memo) > MAX_SUBFLOW_DEPTH {
            let mut chain = vec![entry];
            while let Some((_, Some(next))) = memo.get(chain[chain.len() - 1]) {
                chain.push(next);
            }
            let message = format!(
                "sub-flows nest deeper than the limit of {MAX_SUBFLOW_DEPTH}: {}",
                chain.join(" → ")
            );
            errors.push(at_call(set, chain[0], chain[1], message));
            return;
        }
    }
}

/// An error at the node of flow `from` that calls sub-flow `to`.
fn at_call(set: &FlowSet, from: &str, to: &str, message: String) -> FlowError {
    let flow = set.flow(from).expect("a flow of the set");
    let node = flow
        .nodes
        .iter()
        .find(|n| matches!(&n.kind, NodeKind::SubFlow { flow, .. } if flow == to));
    FlowError {
        file: flow.file.clone(),
        line: node.map_or(0, |n| n.line),
        node: node.map(|n| n.id.clone()),
        message,
    }
}

fn unreachable(flow: &Flow, errors: &mut Vec<FlowError>) {
    let mut seen = vec![false; flow.nodes.len()];
    let mut stack = vec![flow.start];
    while let Some(n) = stack.pop() {
        if std::mem::replace(&mut seen[n], true) {
            continue;
        }
        stack.extend(flow.nodes[n].kind.edges().iter().map(|e| e.to));
    }
    for (node, seen) in flow.nodes.iter().zip(seen) {
        if !seen {
            let start = &flow.nodes[flow.start].id;
            errors.push(at(
                flow,
                node,
                format!("unreachable: no path leads here from `start` ({start})"),
            ));
        }
    }
}

/// A cycle whose every edge is taken without the caller acting (a play
/// that goes back to itself, a menu whose `after_retries` leads back to it)
/// would run forever for a silent caller. Found as strongly connected
/// components of the graph of non-input edges (Tarjan).
fn endless_loops(flow: &Flow, errors: &mut Vec<FlowError>) {
    let n = flow.nodes.len();
    let succ: Vec<Vec<NodeIx>> = flow
        .nodes
        .iter()
        .map(|node| {
            node.kind
                .edges()
                .iter()
                .filter(|e| !e.input)
                .map(|e| e.to)
                .collect()
        })
        .collect();
    for scc in tarjan(n, &succ) {
        let cyclic = scc.len() > 1 || succ[scc[0]].contains(&scc[0]);
        if !cyclic {
            continue;
        }
        let mut members = scc;
        members.sort_unstable_by_key(|&i| flow.nodes[i].line);
        let names: Vec<&str> = members.iter().map(|&i| flow.nodes[i].id.as_str()).collect();
        let first = &flow.nodes[members[0]];
        let message = format!(
            "these nodes loop forever without waiting for the caller: {} (put a menu, collect or message on the loop, or leave it after the last retry)",
            names.join(" → ")
        );
        errors.push(at(flow, first, message));
    }
}

/// Strongly connected components, iteratively (a flow may have
/// [`super::load::MAX_NODES`] nodes in a chain: no recursion).
fn tarjan(n: usize, succ: &[Vec<NodeIx>]) -> Vec<Vec<NodeIx>> {
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut next = 0;
    let mut out = Vec::new();
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        let mut work = vec![(root, 0usize)];
        while let Some((v, i)) = work.pop() {
            if i == 0 {
                index[v] = next;
                low[v] = next;
                next += 1;
                stack.push(v);
                on_stack[v] = true;
            }
            if let Some(&w) = succ[v].get(i) {
                work.push((v, i + 1));
                if index[w] == usize::MAX {
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            if low[v] == index[v] {
                let mut scc = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    scc.push(w);
                    if w == v {
                        break;
                    }
                }
                out.push(scc);
            }
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
        }
    }
    out
}

/// The variables a node reads.
fn reads(kind: &NodeKind) -> Vec<&str> {
    let mut templates: Vec<&Template> = Vec::new();
    let mut names = Vec::new();
    match kind {
        NodeKind::Play { prompts, .. }
        | NodeKind::Message { prompts, .. }
        | NodeKind::Hangup { prompts } => templates.extend(prompts),
        NodeKind::Menu(m) => {
            templates.extend(&m.prompts);
            templates.extend(&m.retry.invalid);
            templates.extend(&m.retry.no_input);
        }
        NodeKind::Collect(c) => {
            templates.extend(&c.prompts);
            templates.extend(&c.retry.invalid);
            templates.extend(&c.retry.no_input);
        }
        NodeKind::Say { value, .. }
        | NodeKind::Set { value, .. }
        | NodeKind::Answer { value, .. } => templates.push(value),
        NodeKind::Lookup { key, .. } => templates.push(key),
        NodeKind::Transfer {
            number, prompts, ..
        } => {
            templates.push(number);
            templates.extend(prompts);
        }
        NodeKind::Queue(q) => {
            templates.extend(&q.prompts);
            templates.extend(&q.hold);
        }
        NodeKind::Branch { var, .. } => names.push(var.as_str()),
        NodeKind::Time { .. }
        | NodeKind::Callback { .. }
        | NodeKind::Language { .. }
        | NodeKind::SubFlow { .. }
        | NodeKind::Return => {}
    }
    names.extend(templates.into_iter().flat_map(Template::vars));
    names
}

/// The variables set when leaving `kind` by the edge at `edge_ix` of
/// [`NodeKind::edges`].
fn sets(kind: &NodeKind, edge_ix: usize) -> Vec<&str> {
    match kind {
        NodeKind::Collect(c) if edge_ix == 0 => vec![c.into.as_str()],
        NodeKind::Lookup { what, .. } if edge_ix == 0 => what.sets().to_vec(),
        NodeKind::Set { var, .. } => vec![var.as_str()],
        _ => Vec::new(),
    }
}

/// The flows a call can start in: the main flow, and every flow no
/// `subflow` node calls (an outbound campaign starts one by name, see
/// [`crate::ivr::Start::flow`]). A flow that is called as a sub-flow is
/// checked as one: with what its callers set.
fn entry_points(set: &FlowSet) -> Vec<&Flow> {
    let called: BTreeSet<&str> = set
        .flows
        .values()
        .flat_map(|f| f.nodes.iter())
        .filter_map(|n| match &n.kind {
            NodeKind::SubFlow { flow, .. } => Some(flow.as_str()),
            _ => None,
        })
        .collect();
    set.flows
        .values()
        .filter(|f| f.name == set.main || !called.contains(f.name.as_str()))
        .map(|f| &**f)
        .collect()
}

/// Forward "must be set" analysis over every flow: the set at a node is
/// the intersection of what every incoming path sets. Every entry point
/// ([`entry_points`]) starts with the built-in variables only. A sub-flow
/// starts with what every one of its call sites has; after a sub-flow
/// call only what the caller had is known (conservative).
fn variables(set: &FlowSet, errors: &mut Vec<FlowError>) {
    type Vars = Option<BTreeSet<String>>; // None = not reached yet (top)
    let builtins: BTreeSet<String> = BUILTIN_VARS.iter().map(|s| (*s).to_owned()).collect();
    let mut state: BTreeMap<&str, Vec<Vars>> = set
        .flows
        .iter()
        .map(|(name, f)| (name.as_str(), vec![None; f.nodes.len()]))
        .collect();
    let meet = |slot: &mut Vars, incoming: &BTreeSet<String>| -> bool {
        match slot {
            None => {
                *slot = Some(incoming.clone());
                true
            }
            Some(have) => {
                let before = have.len();
                have.retain(|v| incoming.contains(v));
                have.len() != before
            }
        }
    };
    for entry in entry_points(set) {
        meet(
            &mut state.get_mut(entry.name.as_str()).expect("a flow")[entry.start],
            &builtins,
        );
    }
    // Sets only shrink, so this reaches a fixed point; the bound is a guard.
    for _ in 0..(set.node_count() + 2) * 64 {
        let mut changed = false;
        for flow in set.flows.values() {
            for (ix, node) in flow.nodes.iter().enumerate() {
                let Some(have) = state[flow.name.as_str()][ix].clone() else {
                    continue;
                };
                if let NodeKind::SubFlow { flow: callee, .. } = &node.kind
                    && let Some(sub) = set.flow(callee)
                {
                    let slot = &mut state.get_mut(sub.name.as_str()).expect("flow")[sub.start];
                    changed |= meet(slot, &have);
                }
                for (e, edge) in node.kind.edges().iter().enumerate() {
                    let mut out = have.clone();
                    out.extend(sets(&node.kind, e).into_iter().map(str::to_owned));
                    changed |= meet(
                        &mut state.get_mut(flow.name.as_str()).expect("flow")[edge.to],
                        &out,
                    );
                }
            }
        }
        if !changed {
            break;
        }
    }
    for flow in set.flows.values() {
        for (ix, node) in flow.nodes.iter().enumerate() {
            let Some(have) = &state[flow.name.as_str()][ix] else {
                continue;
            };
            let mut missing: Vec<&str> = reads(&node.kind)
                .into_iter()
                .filter(|v| !have.contains(*v))
                .collect();
            missing.sort_unstable();
            missing.dedup();
            for var in missing {
                let message = format!(
                    "reads `{var}`, which is not set on every path to this node (set it with a set, collect or lookup node first)"
                );
                errors.push(at(flow, node, message));
            }
        }
    }
}
