"""The official `anthropic` Python SDK, unchanged, against a running Sluice.

Run by the e2e tests `python_sdk::anthropic_sdk_works_unchanged` and
`anthropic_sdk_works_with_a_gemini_upstream`, which start an OpenAI or a Gemini mock upstream
and the real gateway and passes the gateway's root URL (no `/v1`: the SDK adds it)
in SLUICE_BASE_URL. Every request goes to `/v1/messages` (or `/v1/messages/count_tokens`) and
is translated to the upstream and back. Each scenario is a function named `test_*`,
run by `scenarios.run`, which prints one line per scenario and a closing "N passed, N failed"
line, and exits non-zero when any scenario failed.
"""

import os

import anthropic

import scenarios

BASE_URL = os.environ["SLUICE_BASE_URL"]
# The model the gateway's target answers as (the e2e tests run an OpenAI and a Gemini upstream).
UPSTREAM_MODEL = os.environ.get("SLUICE_UPSTREAM_MODEL", "gpt-4o-mini")
SYSTEM_PROMPT = "You are a terse assistant (anthropic-sdk)."
client = anthropic.Anthropic(base_url=BASE_URL, api_key="sk-client-key", max_retries=0, timeout=20)

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def test_create():
    r = client.messages.create(
        model="fast", max_tokens=100, messages=[{"role": "user", "content": "hello there"}]
    )
    assert r.type == "message" and r.role == "assistant", r
    assert r.content[0].type == "text"
    assert r.content[0].text == "echo: hello there", r
    assert r.stop_reason == "end_turn"
    assert r.model == UPSTREAM_MODEL, r.model
    assert r.id
    assert r.usage.input_tokens > 0 and r.usage.output_tokens > 0, r.usage


def test_raw_headers():
    raw = client.messages.with_raw_response.create(
        model="fast",
        max_tokens=100,
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"x-request-id": "anthropic-sdk-1"},
    )
    assert raw.headers["x-request-id"] == "anthropic-sdk-1"
    assert raw.headers["x-sluice-provider"] == "mock"
    assert raw.parse().content[0].text == "echo: hi"


def test_system_prompt():
    r = client.messages.create(
        model="fast",
        max_tokens=100,
        system=SYSTEM_PROMPT,
        messages=[{"role": "user", "content": [{"type": "text", "text": "with a system prompt"}]}],
    )
    assert r.content[0].text == "echo: with a system prompt", r


def test_stream_helper():
    with client.messages.stream(
        model="fast", max_tokens=100, messages=[{"role": "user", "content": "stream me please"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "echo: stream me please", text
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0 and final.usage.input_tokens > 0, final.usage


def test_raw_stream_events():
    events = list(
        client.messages.create(
            model="fast", max_tokens=100, stream=True, messages=[{"role": "user", "content": "a b"}]
        )
    )
    types = [e.type for e in events]
    assert types[:2] == ["message_start", "content_block_start"], types
    assert types[-3:] == ["content_block_stop", "message_delta", "message_stop"], types
    assert set(types[2:-3]) == {"content_block_delta"}, types
    assert events[-2].delta.stop_reason == "end_turn"


def test_tool_use_round_trip():
    question = {"role": "user", "content": "weather in Paris?"}
    r = client.messages.create(
        model="fast", max_tokens=100, tools=[WEATHER_TOOL], tool_choice={"type": "auto"}, messages=[question]
    )
    assert r.stop_reason == "tool_use", r
    call = next(b for b in r.content if b.type == "tool_use")
    assert call.name == "get_weather"
    assert call.input == {"city": "Paris"}, call.input
    r2 = client.messages.create(
        model="fast",
        max_tokens=100,
        tools=[WEATHER_TOOL],
        tool_choice={"type": "none"},
        messages=[
            question,
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in r.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}]},
        ],
    )
    assert r2.stop_reason == "end_turn", r2
    assert r2.content[0].type == "text"


def test_streamed_tool_use():
    with client.messages.stream(
        model="fast", max_tokens=100, tools=[WEATHER_TOOL], messages=[{"role": "user", "content": "weather?"}]
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use", final
    call = final.content[0]
    assert call.type == "tool_use" and call.name == "get_weather"
    assert call.input == {"city": "Paris"}, call.input


def test_count_tokens():
    r = client.messages.count_tokens(
        model="fast", system="Be brief.", messages=[{"role": "user", "content": "hello there, friend"}]
    )
    assert r.input_tokens == 15, r


def test_errors_are_typed():
    try:
        client.messages.create(model="no-such-model", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    except anthropic.NotFoundError as e:
        assert e.status_code == 404
        assert e.body["type"] == "error", e.body
        assert e.body["error"]["type"] == "not_found_error", e.body
    else:
        raise AssertionError("expected NotFoundError")
    try:
        client.messages.create(model="fast", max_tokens=10, messages=[{"role": "system", "content": "x"}])
    except anthropic.BadRequestError as e:
        assert e.body["error"]["type"] == "invalid_request_error", e.body
        assert "messages[0].role" in e.body["error"]["message"], e.body
    else:
        raise AssertionError("expected BadRequestError")


if __name__ == "__main__":
    scenarios.run("anthropic-sdk", globals())
