"""The official `openai` Python SDK, unchanged, against a running Sluice.

Run by the e2e test `python_sdk::openai_sdk_works_unchanged`, which starts a mock upstream
and the real gateway and passes the gateway's URL in SLUICE_BASE_URL. Each scenario is a
function named `test_*`, run by `scenarios.run`, which prints one line per scenario and a
closing "N passed, N failed" line, and exits non-zero when any scenario failed.
"""

import json
import os

import openai

import scenarios

BASE_URL = os.environ["SLUICE_BASE_URL"]
client = openai.OpenAI(base_url=BASE_URL, api_key="sk-client-key", max_retries=0, timeout=20)

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def test_chat():
    r = client.chat.completions.create(model="fast", messages=[{"role": "user", "content": "hello there"}])
    assert r.choices[0].message.content == "echo: hello there", r
    assert r.choices[0].finish_reason == "stop"
    assert r.usage is not None and r.usage.total_tokens > 0
    assert r.system_fingerprint == "fp_mock"


def test_chat_with_raw_headers():
    raw = client.chat.completions.with_raw_response.create(
        model="fast", messages=[{"role": "user", "content": "hi"}], extra_headers={"x-request-id": "sdk-1"}
    )
    assert raw.headers["x-request-id"] == "sdk-1"
    assert raw.headers["x-sluice-provider"] == "mock"
    assert raw.headers["x-sluice-model"] == "gpt-4o-mini"
    assert raw.parse().choices[0].message.content == "echo: hi"


def test_stream_with_usage():
    stream = client.chat.completions.create(
        model="fast",
        messages=[{"role": "user", "content": "stream me please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage, finish = "", None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for c in chunk.choices:
            text += c.delta.content or ""
            finish = c.finish_reason or finish
    assert text == "echo: stream me please", text
    assert finish == "stop"
    assert usage is not None and usage.completion_tokens > 0 and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_tools():
    r = client.chat.completions.create(
        model="fast",
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=[WEATHER_TOOL],
        tool_choice="auto",
    )
    msg = r.choices[0].message
    assert r.choices[0].finish_reason == "tool_calls"
    call = msg.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    # Send the tool result back: the assistant turn with tool_calls and the tool message.
    r2 = client.chat.completions.create(
        model="fast",
        messages=[
            {"role": "user", "content": "weather in Paris?"},
            msg.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
        ],
        tools=[WEATHER_TOOL],
        tool_choice="none",
    )
    assert r2.choices[0].message.content is not None


def test_streamed_tool_calls():
    stream = client.chat.completions.create(
        model="fast", messages=[{"role": "user", "content": "weather?"}], tools=[WEATHER_TOOL], stream=True
    )
    name, args = "", ""
    for chunk in stream:
        for c in chunk.choices:
            for tc in c.delta.tool_calls or []:
                name += (tc.function.name or "") if tc.function else ""
                args += (tc.function.arguments or "") if tc.function else ""
    assert name == "get_weather"
    assert json.loads(args) == {"city": "Paris"}


def test_json_schema():
    r = client.chat.completions.create(
        model="fast",
        messages=[{"role": "user", "content": "give me a person"}],
        response_format={
            "type": "json_schema",
            "json_schema": {
                "name": "person",
                "strict": True,
                "schema": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
                    "required": ["name", "age"],
                    "additionalProperties": False,
                },
            },
        },
    )
    data = json.loads(r.choices[0].message.content)
    assert set(data) == {"name", "age"}, data


def test_embeddings():
    r = client.embeddings.create(model="embed", input=["the quick brown fox", "lazy dog"])
    assert len(r.data) == 2
    assert all(isinstance(x, float) for x in r.data[0].embedding)
    assert len(r.data[0].embedding) == 512  # the mock embedder's default length
    assert r.model
    r = client.embeddings.create(model="embed", input="one", encoding_format="float")
    assert len(r.data[0].embedding) == 512  # the mock embedder's default length


def test_legacy_completions():
    r = client.completions.create(model="fast", prompt="say hi")
    assert r.choices[0].text == "echo: say hi", r
    chunks = list(client.completions.create(model="fast", prompt="say hi", stream=True))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "echo: say hi"


def test_models_list():
    ids = [m.id for m in client.models.list()]
    assert ids == ["fast", "embed"], ids
    assert client.models.retrieve("fast").id == "fast"


def test_errors_are_typed():
    try:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    except openai.NotFoundError as e:
        assert e.status_code == 404
        assert e.body["code"] == "model_not_found", e.body
    else:
        raise AssertionError("expected NotFoundError")
    try:
        client.chat.completions.create(model="fast", messages=[{"role": "user", "content": "x"}], temperature="hot")
    except openai.BadRequestError as e:
        assert e.body["param"] == "temperature", e.body
    else:
        raise AssertionError("expected BadRequestError")


if __name__ == "__main__":
    scenarios.run("openai-sdk", globals())
