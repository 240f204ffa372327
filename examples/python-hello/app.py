"""Hello world for the Python adapter: {"name": "Ada"} -> {"message": "Hello, Ada!"}."""


def handler(event, context):
    name = event.get("name", "world") if isinstance(event, dict) else "world"
    return {"message": f"Hello, {name}!"}
