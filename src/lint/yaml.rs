//! YAML into an arena of nodes, for Apple's schema files.
//!
//! Apple's files use anchors, and some aliases point back into the node
//! that defines them (`com.apple.applicationaccess.new.yaml`: an app item's
//! `subApps` are app items). serde-based YAML crates reject such recursive
//! aliases when building owned values, so this reads granit-parser's events
//! (the parser serde-saphyr is built on) into an arena where an alias is just
//! the index of the anchored node: recursion costs nothing and never expands.

use granit_parser::{Event, Parser};
use std::collections::HashMap;

pub type NodeId = usize;

#[derive(Debug)]
pub enum Node {
    Scalar(String),
    Seq(Vec<NodeId>),
    Map(Vec<(String, NodeId)>),
}

/// A parsed YAML document.
#[derive(Debug)]
pub struct Doc {
    nodes: Vec<Node>,
    root: NodeId,
}

enum Open {
    Seq(NodeId, Vec<NodeId>),
    Map(NodeId, Vec<(String, NodeId)>, Option<String>),
}

impl Doc {
    pub fn parse(text: &str) -> Result<Doc, String> {
        let mut parser = Parser::new_from_str(text);
        let mut nodes: Vec<Node> = Vec::new();
        let mut anchors: HashMap<usize, NodeId> = HashMap::new();
        let mut stack: Vec<Open> = Vec::new();
        let mut root = None;
        while let Some(event) = parser.next_event() {
            let (event, span) = event.map_err(|e| e.to_string())?;
            let line = span.start.line();
            let id = match event {
                Event::StreamStart | Event::DocumentStart(..) | Event::StreamEnd => continue,
                Event::DocumentEnd => break,
                Event::Alias(anchor) => *anchors
                    .get(&anchor)
                    .ok_or_else(|| format!("line {line}: alias to an unknown anchor"))?,
                Event::Scalar(text, _, anchor, _) => {
                    nodes.push(Node::Scalar(text.into_owned()));
                    let id = nodes.len() - 1;
                    if anchor != 0 {
                        anchors.insert(anchor, id);
                    }
                    id
                }
                Event::SequenceStart(_, anchor, _) | Event::MappingStart(_, anchor, _) => {
                    // Reserve the node now so aliases inside it can name it.
                    let is_seq = matches!(event, Event::SequenceStart(..));
                    nodes.push(Node::Seq(Vec::new()));
                    let id = nodes.len() - 1;
                    if anchor != 0 {
                        anchors.insert(anchor, id);
                    }
                    stack.push(if is_seq {
                        Open::Seq(id, Vec::new())
                    } else {
                        Open::Map(id, Vec::new(), None)
                    });
                    continue;
                }
                Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                    Some(Open::Seq(id, items)) => {
                        nodes[id] = Node::Seq(items);
                        id
                    }
                    Some(Open::Map(id, entries, None)) => {
                        nodes[id] = Node::Map(entries);
                        id
                    }
                    _ => return Err(format!("line {line}: unbalanced collection")),
                },
                _ => continue,
            };
            match stack.last_mut() {
                None => root = Some(id),
                Some(Open::Seq(_, items)) => items.push(id),
                Some(Open::Map(_, _, key @ None)) => match &nodes[id] {
                    Node::Scalar(s) => *key = Some(s.clone()),
                    _ => return Err(format!("line {line}: a mapping key is not a scalar")),
                },
                Some(Open::Map(_, entries, key @ Some(_))) => {
                    entries.push((key.take().unwrap_or_default(), id));
                }
            }
        }
        let root = root.ok_or("the document is empty")?;
        Ok(Doc { nodes, root })
    }

    pub fn root(&self) -> NodeId {
        self.root
    }

    /// The value of `key` in mapping `id`.
    pub fn get(&self, id: NodeId, key: &str) -> Option<NodeId> {
        match &self.nodes[id] {
            Node::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|&(_, v)| v),
            _ => None,
        }
    }

    pub fn str(&self, id: NodeId) -> Option<&str> {
        match &self.nodes[id] {
            Node::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// Follows a path of mapping keys.
    pub fn path(&self, id: NodeId, keys: &[&str]) -> Option<NodeId> {
        keys.iter().try_fold(id, |at, k| self.get(at, k))
    }

    pub fn items(&self, id: NodeId) -> &[NodeId] {
        match &self.nodes[id] {
            Node::Seq(items) => items,
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recursive_alias_is_an_index() {
        let doc = Doc::parse("keys: &a\n- key: item\n  subkeys: *a\nother: *a\n").unwrap();
        let keys = doc.get(doc.root(), "keys").unwrap();
        let item = doc.items(keys)[0];
        assert_eq!(doc.get(item, "subkeys"), Some(keys));
        assert_eq!(doc.get(doc.root(), "other"), Some(keys));
        assert_eq!(doc.str(doc.get(item, "key").unwrap()), Some("item"));
    }
}
