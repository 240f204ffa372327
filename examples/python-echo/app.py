"""Raw-mode echo: the response body is the event body, byte for byte."""


def echo(payload: bytes, context) -> bytes:
    return payload
