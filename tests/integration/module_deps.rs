//! The module graph stays a graph with arrows one way: no module imports another that imports it back
//! (directly or around a circle). Read from the sources: every `crate::a::b` / `super::b` path outside
//! comments and `#[cfg(test)] mod tests` counts as an arrow.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A module's name as the graph knows it (`config`, `lab::server`) and its source file.
struct Module {
    name: &'static str,
    file: &'static str,
}

/// The modules a path in `source` (of module `name`) points to, among `known`.
fn arrows(name: &str, source: &str, known: &BTreeSet<&str>) -> BTreeSet<String> {
    let production = source
        .split("#[cfg(test)]\nmod tests")
        .next()
        .unwrap_or_default();
    let parent = name.rsplit_once("::").map(|(p, _)| p);
    let mut out = BTreeSet::new();
    for line in production
        .lines()
        .map(str::trim_start)
        .filter(|l| !l.starts_with("//"))
    {
        for (prefix, base) in [("crate::", None), ("super::", parent)] {
            let mut rest = line;
            while let Some(at) = rest.find(prefix) {
                rest = &rest[at + prefix.len()..];
                for path in paths_after(rest) {
                    let full = match base {
                        Some(base) => format!("{base}::{path}"),
                        None => path,
                    };
                    // `crate::lab::server::X` names `lab::server`; `crate::config::Config` names `config`.
                    let target = known
                        .iter()
                        .filter(|k| full == **k || full.starts_with(&format!("{k}::")))
                        .max_by_key(|k| k.len());
                    if let Some(target) = target
                        && *target != name
                    {
                        out.insert(target.to_string());
                    }
                }
            }
        }
    }
    out
}

/// The paths that start at `rest`: `a::b::C` gives `a::b::C`; `{a, b::c}` gives `a` and `b::c`;
/// `a::{b, c}` gives `a::b` and `a::c`.
fn paths_after(rest: &str) -> Vec<String> {
    let head: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
        .collect();
    let after = &rest[head.len()..];
    let head = head.trim_end_matches(':');
    match after.strip_prefix('{') {
        Some(group) => {
            let inner = group.split('}').next().unwrap_or_default();
            inner
                .split(',')
                .flat_map(|item| paths_after(item.trim()))
                .filter(|p| !p.is_empty())
                .map(|p| {
                    if head.is_empty() {
                        p
                    } else {
                        format!("{head}::{p}")
                    }
                })
                .collect()
        }
        None => vec![head.to_string()],
    }
}

/// The arrows between `modules`, read from their source files.
fn graph_of(modules: &[Module]) -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let known: BTreeSet<&str> = modules.iter().map(|m| m.name).collect();
    modules
        .iter()
        .map(|m| {
            let source = std::fs::read_to_string(root.join(m.file))
                .unwrap_or_else(|e| panic!("{}: {e}", m.file));
            (m.name.to_string(), arrows(m.name, &source, &known))
        })
        .collect()
}

/// A circle in `graph` (`a -> b -> a`), if there is one.
fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<String> {
    // Depth-first search; a module met again on the current path closes a circle.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<String> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut circle = path[at..].to_vec();
            circle.push(node.to_string());
            return Some(circle.join(" -> "));
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|start| visit(start, graph, &mut Vec::new(), &mut done))
}

fn assert_no_circle(modules: &[Module]) {
    let graph = graph_of(modules);
    if let Some(found) = circle(&graph) {
        panic!("import circle: {found} (graph: {graph:?})");
    }
}

#[test]
fn configuration_modules_import_one_way() {
    assert_no_circle(&[
        Module {
            name: "address",
            file: "src/address.rs",
        },
        Module {
            name: "settings",
            file: "src/settings.rs",
        },
        Module {
            name: "config",
            file: "src/config.rs",
        },
        Module {
            name: "proxy",
            file: "src/proxy.rs",
        },
        Module {
            name: "secrets",
            file: "src/secrets.rs",
        },
        Module {
            name: "atomic_file",
            file: "src/atomic_file.rs",
        },
        Module {
            name: "tls",
            file: "src/tls.rs",
        },
    ]);
}

#[test]
fn lab_control_and_server_import_one_way() {
    assert_no_circle(&[
        Module {
            name: "lab::control",
            file: "src/lab/control.rs",
        },
        Module {
            name: "lab::server",
            file: "src/lab/server.rs",
        },
        Module {
            name: "lab::cas",
            file: "src/lab/cas.rs",
        },
    ]);
}

#[test]
fn policy_decide_and_plan_import_one_way() {
    assert_no_circle(&[
        Module {
            name: "policy::decide",
            file: "src/policy/decide.rs",
        },
        Module {
            name: "policy::plan",
            file: "src/policy/plan.rs",
        },
        Module {
            name: "policy::lists",
            file: "src/policy/lists.rs",
        },
        Module {
            name: "policy::settings",
            file: "src/policy/settings.rs",
        },
    ]);
}

/// The store sits below the runtime: it never reaches up into the worker, the engine, the clients or
/// the GUI (the host name it records comes from the leaf module `host`).
#[test]
fn the_store_imports_nothing_above_it() {
    let above = ["service", "sync", "connection", "gui", "diagnose", "lab"];
    let mut modules = vec![
        Module {
            name: "store",
            file: "src/store/mod.rs",
        },
        Module {
            name: "store::run_lease",
            file: "src/store/run_lease.rs",
        },
        Module {
            name: "store::cas_servers",
            file: "src/store/cas_servers.rs",
        },
        Module {
            name: "store::migrations",
            file: "src/store/migrations.rs",
        },
    ];
    let store_modules = modules.len();
    modules.extend([
        Module {
            name: "service",
            file: "src/service/mod.rs",
        },
        Module {
            name: "sync",
            file: "src/sync/mod.rs",
        },
        Module {
            name: "connection",
            file: "src/connection/mod.rs",
        },
        Module {
            name: "gui",
            file: "src/gui/mod.rs",
        },
        Module {
            name: "diagnose",
            file: "src/diagnose.rs",
        },
        Module {
            name: "lab",
            file: "src/lab/mod.rs",
        },
    ]);
    let graph = graph_of(&modules);
    for module in &modules[..store_modules] {
        let up: Vec<&String> = graph[module.name]
            .iter()
            .filter(|t| above.contains(&t.as_str()))
            .collect();
        assert!(up.is_empty(), "{} imports {up:?}", module.name);
    }
}

#[test]
fn the_circle_check_sees_paths_and_circles() {
    let known: BTreeSet<&str> = ["lab::control", "lab::server", "config"].into();
    let source = "use super::{LabState, server::CasManager};\nlet x = crate::config::Config::default();\n// crate::lab::control in a comment\n#[cfg(test)]\nmod tests { use super::control; }";
    assert_eq!(
        arrows("lab::control", source, &known),
        BTreeSet::from(["lab::server".to_string(), "config".to_string()])
    );
    let grouped = "use crate::lab::{control::router, server};";
    assert_eq!(
        arrows("config", grouped, &known),
        BTreeSet::from(["lab::control".to_string(), "lab::server".to_string()])
    );
    let graph = |edges: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, to) in edges {
            g.entry(from.to_string())
                .or_default()
                .insert(to.to_string());
            g.entry(to.to_string()).or_default();
        }
        g
    };
    assert_eq!(
        circle(&graph(&[
            ("config", "proxy"),
            ("proxy", "settings"),
            ("settings", "config")
        ])),
        Some("config -> proxy -> settings -> config".to_string())
    );
    assert_eq!(
        circle(&graph(&[
            ("config", "settings"),
            ("proxy", "config"),
            ("proxy", "settings")
        ])),
        None
    );
}
