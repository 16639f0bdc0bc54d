"""The official `openai` Python SDK's Responses API, unchanged, against a running Sluice
whose model is served by a provider without a Responses API (a Gemini mock), so every
request is translated to the provider and every answer back.

Run by the e2e test `python_sdk::responses_api_works_on_a_translated_model`, which starts
the mock and the real gateway and passes the gateway's `/v1` URL in SLUICE_BASE_URL. Each
scenario is a function named `test_*`, run by `scenarios.run`.
"""

import json
import os

import openai

import scenarios

BASE_URL = os.environ["SLUICE_BASE_URL"]
client = openai.OpenAI(base_url=BASE_URL, api_key="sk-client-key", max_retries=0, timeout=20)

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def test_create():
    r = client.responses.create(model="fast", instructions="Be terse.", input="hello there")
    assert r.object == "response" and r.status == "completed", r
    assert r.id.startswith("resp_"), r.id
    assert r.output_text == "echo: hello there", r.output_text
    assert r.output[0].type == "message" and r.output[0].role == "assistant"
    assert r.instructions == "Be terse."
    assert r.usage.input_tokens > 0 and r.usage.output_tokens > 0, r.usage
    assert r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens


def test_stream_events():
    events = list(client.responses.create(model="fast", input="stream me please", stream=True))
    types = [e.type for e in events]
    assert types[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ], types
    assert types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ], types
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "echo: stream me please", text
    assert events[-1].response.output_text == text


def test_stream_helper():
    with client.responses.stream(model="fast", input="helper") as stream:
        final = stream.get_final_response()
    assert final.output_text == "echo: helper", final


def test_tool_call_round_trip():
    r = client.responses.create(model="fast", input="weather in Paris?", tools=[WEATHER_TOOL])
    calls = [o for o in r.output if o.type == "function_call"]
    assert len(calls) == 1, r.output
    call = calls[0]
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"}, call
    r2 = client.responses.create(
        model="fast",
        previous_response_id=r.id,
        tools=[WEATHER_TOOL],
        tool_choice="none",
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
    )
    assert r2.status == "completed" and r2.output_text, r2


def test_conversation_state():
    first = client.responses.create(model="fast", input="my name is Ann")
    second = client.responses.create(model="fast", previous_response_id=first.id, input="what is my name?")
    assert second.output_text == "echo: what is my name?", second.output_text
    assert second.previous_response_id == first.id


def test_structured_output():
    r = client.responses.create(
        model="fast",
        input="a city",
        text={
            "format": {
                "type": "json_schema",
                "name": "place",
                "strict": True,
                "schema": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                    "additionalProperties": False,
                },
            }
        },
    )
    value = json.loads(r.output_text)
    assert isinstance(value["city"], str), value


def test_errors_are_typed():
    try:
        client.responses.create(model="no-such-model", input="x")
    except openai.NotFoundError as e:
        assert e.status_code == 404
    else:
        raise AssertionError("expected a 404")
    unstored = client.responses.create(model="fast", input="forget me", store=False)
    try:
        client.responses.create(model="fast", previous_response_id=unstored.id, input="again")
    except openai.BadRequestError as e:
        assert "previous_response_id" in str(e), e
    else:
        raise AssertionError("expected a 400 for a response that was not stored")
    try:
        client.responses.create(model="fast", input="x", tools=[{"type": "web_search"}])
    except openai.BadRequestError as e:
        assert "tools[0].type" in str(e), e
    else:
        raise AssertionError("expected a 400 for a built-in tool")


if __name__ == "__main__":
    scenarios.run("responses-sdk", dict(globals()))
