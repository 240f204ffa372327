"""In-process echo handler for the awslambdaric contender: returns the event."""


def handler(event, context):
    return event
