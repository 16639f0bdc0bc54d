//! The output stage of a streamed answer: each choice's content through an
//! [`OutputStream`] (checks on a sliding window, then restore), its reasoning and refusal
//! through text [`Restorer`]s and each tool call's arguments through a JSON one. Text held
//! back (a possible placeholder cut by a chunk boundary) goes out with the chunk that ends
//! the choice, or at the end of the stream.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use sluice_cache::Accumulator;
use sluice_guard::{Block, Guard, OutputStream, Restorer, Vault};
use sluice_providers::ChunkStream;
use sluice_types::{ChatChunk, ChunkChoice, FunctionCallDelta, GatewayError, ToolCallDelta};
use tokio::sync::oneshot;

use super::external::Decision;
use super::{External, Guarded, blocked, record};
use crate::reqlog::LogSlot;

/// One choice's state.
struct Choice {
    content: Option<OutputStream>,
    reasoning: Option<Restorer>,
    refusal: Option<Restorer>,
    tools: HashMap<u32, Restorer>,
    /// The choice ended; nothing is held back any more.
    done: bool,
}

/// Every choice's state, and what to do with the outcomes at the end.
struct Guarding {
    guard: Option<(Arc<Guard>, Vec<String>)>,
    response_format: Option<serde_json::Value>,
    vault: Option<Arc<Vault>>,
    choices: HashMap<u32, Choice>,
    log: LogSlot,
}

type Item = Result<ChatChunk, GatewayError>;

/// The stream's state between items.
struct Run {
    inner: ChunkStream,
    g: Guarding,
    /// What goes out next.
    queue: VecDeque<Item>,
    ended: bool,
    /// The parallel judges, until they settle.
    judges: Option<BoxFuture<'static, Result<(), GatewayError>>>,
    /// The output judges and webhooks, and the answer assembled for them.
    external: Option<(Arc<External>, Accumulator)>,
    /// From the chunk that ends the answer on, what waits for the verdicts.
    held: VecDeque<Item>,
    holding: bool,
    /// Tells the cache the answer passed its late verdicts; dropped when it did not.
    approve: Option<oneshot::Sender<()>>,
}

impl Guarded {
    /// Wraps `chunks` in the output stage; unchanged when nothing applies. Parallel judges
    /// run alongside: a block ends the stream with an error event, and the chunk that ends
    /// the answer (and what follows) waits for their verdicts, as it waits for the output
    /// judges and webhooks, which read the whole answer.
    pub(crate) fn stream(
        &self,
        log: &LogSlot,
        chunks: ChunkStream,
        approve: Option<oneshot::Sender<()>>,
    ) -> ChunkStream {
        if self.passes_answers() {
            return chunks;
        }
        let g = Guarding {
            guard: self.checks.clone(),
            response_format: self.response_format.clone(),
            vault: self.vault.clone(),
            choices: HashMap::new(),
            log: log.clone(),
        };
        let run = Run {
            inner: chunks,
            g,
            queue: VecDeque::new(),
            ended: false,
            judges: self
                .take_pending()
                .map(|p| Box::pin(p.wait()) as BoxFuture<'static, _>),
            external: self.external.clone().map(|e| (e, Accumulator::new())),
            held: VecDeque::new(),
            holding: false,
            approve,
        };
        Box::pin(futures_util::stream::unfold(run, |mut s| async move {
            loop {
                if let Some(item) = s.queue.pop_front() {
                    return Some((item, s));
                }
                if s.ended {
                    return None;
                }
                let next = match s.judges.as_mut() {
                    Some(judges) => tokio::select! {
                        biased;
                        verdict = judges => {
                            s.judges = None;
                            if let Err(e) = verdict {
                                s.held.clear();
                                fail(&s.g.log, &mut s.queue, e);
                                s.ended = true;
                            } else {
                                s.release();
                            }
                            continue;
                        }
                        next = s.inner.next() => next,
                    },
                    None => s.inner.next().await,
                };
                match next {
                    Some(Ok(chunk)) => s.chunk(chunk),
                    Some(Err(e)) => {
                        s.release();
                        s.queue.push_back(Err(e));
                        s.ended = true;
                    }
                    None => s.end().await,
                }
            }
        }))
    }
}

impl Run {
    /// True while a verdict is still to come.
    fn waiting(&self) -> bool {
        self.judges.is_some() || self.external.is_some()
    }

    /// Sends what was held, unless a verdict is still to come.
    fn release(&mut self) {
        if !self.waiting() {
            self.queue.append(&mut self.held);
            self.holding = false;
        }
    }

    fn chunk(&mut self, chunk: ChatChunk) {
        if let Some((_, answer)) = &mut self.external {
            answer.push(&chunk);
        }
        let ends = chunk.usage.is_some() || chunk.choices.iter().any(|c| c.finish_reason.is_some());
        self.holding |= ends && self.waiting();
        let out = if self.holding {
            &mut self.held
        } else {
            &mut self.queue
        };
        if self.g.chunk(chunk, out).is_err() {
            self.queue.append(&mut self.held);
            self.ended = true;
        }
    }

    /// The upstream finished: the verdicts, then what was held and held back.
    async fn end(&mut self) {
        self.ended = true;
        if let Some(judges) = self.judges.take()
            && let Err(e) = judges.await
        {
            return fail(&self.g.log, &mut self.queue, e);
        }
        if let Some((external, answer)) = self.external.take() {
            match answer.finish() {
                Some(answer) => {
                    if let Decision::Block(block) = external.run(&self.g.log, &answer, false).await
                    {
                        return fail(&self.g.log, &mut self.queue, blocked(&block));
                    }
                }
                None => tracing::warn!(
                    "the streamed answer did not finish cleanly; its output judges and webhooks did not run"
                ),
            }
        }
        self.queue.append(&mut self.held);
        if let Err(block) = self.g.flush_all(&mut self.queue) {
            return fail(&self.g.log, &mut self.queue, blocked(&block));
        }
        if let Some(approve) = self.approve.take() {
            let _ = approve.send(());
        }
    }
}

impl Guarding {
    fn new_choice(&self) -> Result<Choice, GatewayError> {
        let content = match &self.guard {
            Some((guard, names)) => {
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                let stream = guard
                    .output_stream(&refs, self.response_format.as_ref(), self.vault.clone())
                    .map_err(super::engine_error)?;
                Some(stream)
            }
            None => None,
        };
        Ok(Choice {
            content,
            reasoning: self.vault.clone().map(Restorer::text),
            refusal: self.vault.clone().map(Restorer::text),
            tools: HashMap::new(),
            done: false,
        })
    }

    /// Checks and restores one chunk into `queue`; on a block, queues the error instead
    /// and answers `Err`.
    fn chunk(&mut self, mut chunk: ChatChunk, queue: &mut VecDeque<Item>) -> Result<(), ()> {
        let mut changed = false;
        for choice in &mut chunk.choices {
            if !self.choices.contains_key(&choice.index) {
                match self.new_choice() {
                    Ok(c) => self.choices.insert(choice.index, c),
                    Err(e) => {
                        fail(&self.log, queue, e);
                        return Err(());
                    }
                };
            }
            let Some(state) = self.choices.get_mut(&choice.index) else {
                continue;
            };
            match guard_choice(state, choice, self.vault.as_ref()) {
                Ok(c) => changed |= c,
                Err(block) => {
                    fail(&self.log, queue, blocked(&block));
                    return Err(());
                }
            }
        }
        if changed {
            chunk.raw = None;
        }
        queue.push_back(Ok(chunk));
        Ok(())
    }

    /// The stream ended: whatever is still held back goes out in one last chunk.
    fn flush_all(&mut self, queue: &mut VecDeque<Item>) -> Result<(), Block> {
        let mut indexes: Vec<u32> = self.choices.keys().copied().collect();
        indexes.sort_unstable();
        let mut choices = Vec::new();
        for index in indexes {
            let Some(state) = self.choices.get_mut(&index) else {
                continue;
            };
            let mut choice = ChunkChoice {
                index,
                delta: Default::default(),
                finish_reason: None,
                extra: Default::default(),
            };
            if finish(state, &mut choice)? {
                choices.push(choice);
            }
        }
        if !choices.is_empty() {
            queue.push_back(Ok(ChatChunk {
                choices,
                ..Default::default()
            }));
        }
        Ok(())
    }
}

/// Ends the stream with `e`, which the request log records as what ended it.
fn fail(log: &LogSlot, queue: &mut VecDeque<Item>, e: GatewayError) {
    log.update(|f| f.stream_error = Some(e.clone()));
    queue.push_back(Err(e));
}

impl Drop for Guarding {
    /// Logs the output checks' outcomes however the stream ended (finished, blocked, failed
    /// or dropped by a client that went away).
    fn drop(&mut self) {
        let outcomes: Vec<_> = self
            .choices
            .values()
            .filter_map(|c| c.content.as_ref())
            .flat_map(OutputStream::outcomes)
            .collect();
        record(&self.log, "output", &outcomes);
    }
}

/// Passes one choice's delta through its checks and restorers; true when it changed. On
/// the chunk that ends the choice, what was held back is added to it.
fn guard_choice(
    state: &mut Choice,
    choice: &mut ChunkChoice,
    vault: Option<&Arc<Vault>>,
) -> Result<bool, Block> {
    let mut changed = false;
    let d = &mut choice.delta;
    if let (Some(stream), Some(text)) = (&mut state.content, &mut d.content) {
        let out = stream.push(text)?;
        changed |= out != *text;
        *text = out;
    }
    for (restorer, field) in [
        (&mut state.reasoning, &mut d.reasoning_content),
        (&mut state.refusal, &mut d.refusal),
    ] {
        if let (Some(r), Some(text)) = (restorer, field) {
            let out = r.push(text);
            changed |= out != *text;
            *text = out;
        }
    }
    if let (Some(vault), Some(calls)) = (vault, &mut d.tool_calls) {
        for call in calls {
            let Some(args) = call.function.as_mut().and_then(|f| f.arguments.as_mut()) else {
                continue;
            };
            let r = state
                .tools
                .entry(call.index)
                .or_insert_with(|| Restorer::json(vault.clone()));
            let out = r.push(args);
            changed |= out != *args;
            *args = out;
        }
    }
    if choice.finish_reason.is_some() {
        changed |= finish(state, choice)?;
    }
    Ok(changed)
}

/// Ends a choice: appends what its checks and restorers held back to `choice`'s delta;
/// true when there was any. A check that fires only on the whole text (`json_schema`)
/// blocks here.
fn finish(state: &mut Choice, choice: &mut ChunkChoice) -> Result<bool, Block> {
    if std::mem::replace(&mut state.done, true) {
        return Ok(false);
    }
    let d = &mut choice.delta;
    let mut added = false;
    let mut append = |field: &mut Option<String>, tail: String| {
        if !tail.is_empty() {
            field.get_or_insert_with(String::new).push_str(&tail);
            added = true;
        }
    };
    if let Some(stream) = &mut state.content {
        append(&mut d.content, stream.finish()?);
    }
    if let Some(r) = &mut state.reasoning {
        append(&mut d.reasoning_content, r.finish());
    }
    if let Some(r) = &mut state.refusal {
        append(&mut d.refusal, r.finish());
    }
    let mut tools: Vec<_> = state.tools.drain().collect();
    tools.sort_unstable_by_key(|(index, _)| *index);
    for (index, mut r) in tools {
        let tail = r.finish();
        if tail.is_empty() {
            continue;
        }
        added = true;
        d.tool_calls
            .get_or_insert_with(Vec::new)
            .push(ToolCallDelta {
                index,
                function: Some(FunctionCallDelta {
                    name: None,
                    arguments: Some(tail),
                }),
                ..Default::default()
            });
    }
    Ok(added)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;
    use sluice_guard::{Action, Check, CheckKind, Entity, PiiSpec, Stage};
    use sluice_types::ChatRequest;

    use super::*;

    fn guard(checks: Vec<Check>) -> Arc<Guard> {
        Arc::new(Guard::new(checks).unwrap())
    }

    fn mask_email() -> Check {
        let spec = PiiSpec {
            entities: vec![Entity::Email],
            ..PiiSpec::default()
        };
        Check::new(
            "pii",
            CheckKind::Pii {
                spec,
                restore: true,
            },
            Stage::Input,
            Action::Mask,
        )
    }

    /// The input stage of `checks` on a user message `text`: what the upstream would see.
    fn guarded(checks: Vec<Check>, text: &str) -> (Guarded, String) {
        let g = guard(checks);
        let names: Vec<String> = ["pii", "out"].map(String::from).to_vec();
        let names: Vec<String> = names.into_iter().filter(|n| g.check(n).is_some()).collect();
        let req: ChatRequest = serde_json::from_value(
            json!({"model": "m", "messages": [{"role": "user", "content": text}]}),
        )
        .unwrap();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let (mut out, pending) = g.scan_input(&req, &refs).unwrap();
        let mut masked = req.clone();
        if let Some(p) = pending {
            p.apply(&mut masked, &mut out);
        }
        let seen = serde_json::to_value(&masked).unwrap()["messages"][0]["content"]
            .as_str()
            .unwrap()
            .to_owned();
        let guarded = Guarded {
            checks: Some((g, names)),
            masked: Some(masked),
            vault: out.vault.map(Arc::new),
            ..Guarded::default()
        };
        (guarded, seen)
    }

    fn content(piece: &str, finish: bool) -> ChatChunk {
        serde_json::from_value(
            json!({"id": "c", "object": "chat.completion.chunk", "created": 1,
            "model": "m", "choices": [{"index": 0, "delta": {"content": piece},
            "finish_reason": finish.then_some("stop")}]}),
        )
        .unwrap()
    }

    async fn run(g: &Guarded, chunks: Vec<ChatChunk>) -> (String, Option<GatewayError>) {
        let inner: ChunkStream = Box::pin(futures_util::stream::iter(chunks.into_iter().map(Ok)));
        let mut out = g.stream(&LogSlot::default(), inner, None);
        let mut text = String::new();
        while let Some(item) = out.next().await {
            match item {
                Ok(c) => {
                    for ch in c.choices {
                        text.push_str(ch.delta.content.as_deref().unwrap_or_default());
                    }
                }
                Err(e) => return (text, Some(e)),
            }
        }
        (text, None)
    }

    #[tokio::test]
    async fn placeholders_split_across_chunks_are_restored_exactly() {
        let (g, seen) = guarded(vec![mask_email()], "write to ann@example.com");
        assert_eq!(seen, "write to [EMAIL_1]");
        let answer = format!("{seen}, or [EMAIL_1]. Not [EMAIL_9] [EMAIL");
        for size in 1..8 {
            let bytes: Vec<char> = answer.chars().collect();
            let mut chunks: Vec<ChatChunk> = bytes
                .chunks(size)
                .map(|p| content(&p.iter().collect::<String>(), false))
                .collect();
            chunks.push(content("", true));
            let (text, err) = run(&g, chunks).await;
            assert!(err.is_none());
            assert_eq!(
                text, "write to ann@example.com, or ann@example.com. Not [EMAIL_9] [EMAIL",
                "pieces of {size}"
            );
        }
    }

    #[tokio::test]
    async fn a_stream_without_a_finish_still_gets_its_held_back_text() {
        let (g, _) = guarded(vec![mask_email()], "ann@example.com");
        let (text, err) = run(&g, vec![content("to [EMA", false), content("IL_1", false)]).await;
        assert!(err.is_none());
        assert_eq!(
            text, "to [EMAIL_1",
            "not a whole placeholder: emitted as it was"
        );
        let (text, _) = run(&g, vec![content("to [EMA", false), content("IL_1]", false)]).await;
        assert_eq!(text, "to ann@example.com");
    }

    #[tokio::test]
    async fn an_output_block_ends_the_stream_with_an_error() {
        let spec = PiiSpec {
            entities: vec![Entity::Card],
            ..PiiSpec::default()
        };
        let out = Check::new(
            "out",
            CheckKind::Pii {
                spec,
                restore: false,
            },
            Stage::Output,
            Action::Block,
        );
        let (g, _) = guarded(vec![out], "hello");
        let chunks = vec![
            content("card: 4111 ", false),
            content("1111 1111 1111", false),
            content(" more", true),
        ];
        let (text, err) = run(&g, chunks).await;
        let err = err.unwrap();
        assert_eq!(err.code(), Some("guardrail_blocked"));
        assert!(err.message().contains("\"out\""), "{}", err.message());
        assert!(!text.contains("1111 1111 1111"), "{text}");
    }
}
