//! The text a guardrail reads and rewrites in requests and responses.
//!
//! Of every message: its text content (a string or the `text` of each part), its tool-call
//! arguments, its refusal and its visible reasoning. Tool results are `tool` messages, so
//! their content is included. Tool definitions, names, thinking blocks (signed by the
//! provider, so they cannot change) and non-text parts are not.

use sluice_types::{ChatRequest, ChatResponse, Content, Message};

/// How a piece of text is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    /// Plain text.
    Text,
    /// A JSON document (tool-call arguments).
    Json,
}

pub(crate) fn message_texts<'m>(m: &'m Message, f: &mut impl FnMut(&'m str, Form)) {
    match &m.content {
        Some(Content::Text(t)) => f(t, Form::Text),
        Some(Content::Parts(parts)) => parts
            .iter()
            .filter_map(|p| p.text.as_deref())
            .for_each(|t| f(t, Form::Text)),
        None => {}
    }
    for call in m.tool_calls.iter().flatten() {
        f(&call.function.arguments, Form::Json);
    }
    for t in [&m.refusal, &m.reasoning_content].into_iter().flatten() {
        f(t, Form::Text);
    }
}

fn message_texts_mut(m: &mut Message, f: &mut impl FnMut(&mut String, Form)) {
    match &mut m.content {
        Some(Content::Text(t)) => f(t, Form::Text),
        Some(Content::Parts(parts)) => parts
            .iter_mut()
            .filter_map(|p| p.text.as_mut())
            .for_each(|t| f(t, Form::Text)),
        None => {}
    }
    for call in m.tool_calls.iter_mut().flatten() {
        f(&mut call.function.arguments, Form::Json);
    }
    for t in [&mut m.refusal, &mut m.reasoning_content]
        .into_iter()
        .flatten()
    {
        f(t, Form::Text);
    }
}

/// Calls `f` on every text of the request whose message `role` passes `roles`.
pub(crate) fn request_texts<'r>(
    req: &'r ChatRequest,
    roles: impl Fn(&str) -> bool,
    mut f: impl FnMut(&'r str, Form),
) {
    for m in req.messages.iter().filter(|m| roles(&m.role)) {
        message_texts(m, &mut f);
    }
}

/// Calls `f` on every text of the request, mutably.
pub(crate) fn request_texts_mut(req: &mut ChatRequest, mut f: impl FnMut(&mut String, Form)) {
    for m in &mut req.messages {
        message_texts_mut(m, &mut f);
    }
}

/// Calls `f` on every text of every choice of the response.
pub(crate) fn response_texts<'r>(resp: &'r ChatResponse, mut f: impl FnMut(&'r str, Form)) {
    for c in &resp.choices {
        message_texts(&c.message, &mut f);
    }
}

/// Calls `f` on every text of every choice of the response, mutably.
pub(crate) fn response_texts_mut(resp: &mut ChatResponse, mut f: impl FnMut(&mut String, Form)) {
    for c in &mut resp.choices {
        message_texts_mut(&mut c.message, &mut f);
    }
}
